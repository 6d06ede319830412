// The gradients of one training step, all-reduced in buckets while the backward pass goes on.
//
// Note [Gradient buckets]
// ~~~~~~~~~~~~~~~~~~~~~~~
// The variables' gradients are views into one flat buffer, in the variables' order (Note
// [Gradient buffers] in model/training.cpp). The backward pass makes the last layers' gradients
// final first, so the buckets are cut from the end of the buffer towards its start: the first
// bucket takes variables from the last one back until it holds BucketBytes::first bytes (1 MB),
// the others BucketBytes::rest (25 MB), as PyTorch DDP does. The tape says when each variable's
// gradient is final (GradientTape::accumulate's on_final); when all of a bucket's are, the bucket
// goes to the communication thread, which scales it by this rank's weight and sums it over the
// ranks — while the main thread goes on with the backward pass of the earlier layers. Buckets
// are launched in bucket order only (a collective must be issued in the same order on every
// rank), so one made final early waits for those before it. finish() launches what is left and
// waits for all.
//
// On a GPU (Note [Gradient buckets on a GPU] in data_parallel.cpp) there is no thread: a bucket
// is launched on the thread that makes it final, by queuing its sum on the device's
// communication stream, which returns at once.
//
// The weight of a rank is its rows / the global batch's rows, so the sum over the ranks is the
// gradient of the global batch's mean loss (the average, sum / world size, when the shards are
// equal).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kiln/distributed.h"

namespace kiln::distributed {

struct Bucket {
  std::size_t first_variable = 0, last_variable = 0;  // inclusive, in the variables' order
  std::int64_t begin = 0, end = 0;                    // elements of the flat buffer
};

// Buckets over variables of `sizes` elements (f32) each, from the last variable back.
std::vector<Bucket> make_buckets(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes);

class GradientReducer {
 public:
  // Sums `count` floats at `data` over the ranks, in place (blocking).
  using AllReduce = std::function<void(float* data, std::int64_t count)>;

  GradientReducer(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes,
                  AllReduce all_reduce);
  // Queues a bucket's scaled sum and returns (a GPU's communication stream).
  using Launch = std::function<void(const Bucket& bucket)>;
  struct OnCallingThread {};
  // No communication thread: `launch` is called for each bucket, in bucket order, by the ready()
  // or finish() that makes it final.
  GradientReducer(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes, Launch launch,
                  OnCallingThread);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // A new step on the flat buffer at `buffer`; every bucket is scaled by `weight` before it is
  // summed.
  void start(float* buffer, float weight);
  // Variable `index`'s gradient is final.
  void ready(std::size_t index);
  // Launches the buckets not launched yet, waits for all, rethrows a failed all-reduce.
  void finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Buckets launched in the last step before finish() was called (overlap with the backward).
  std::size_t launched_before_finish() const { return launched_before_finish_; }
  // Per bucket, in the last step: how many variables were final when it was launched (fewer than
  // all: it overlapped the rest of the backward pass).
  const std::vector<std::size_t>& final_at_launch() const { return final_at_launch_; }
  // Seconds since construction: in the all-reduces (communication thread; with OnCallingThread,
  // in queuing them), and waited in finish() for them after the backward pass (the communication
  // the backward did not hide; 0 with OnCallingThread).
  double reduce_seconds() const { return reduce_seconds_; }
  double wait_seconds() const { return wait_seconds_; }

 private:
  void launch_ready();
  void serve();

  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // variable -> bucket
  std::vector<std::int64_t> waiting_;   // per bucket: variables not final yet
  std::size_t next_launch_ = 0;
  std::size_t launched_before_finish_ = 0;
  std::size_t final_count_ = 0;
  std::vector<std::size_t> final_at_launch_;
  double reduce_seconds_ = 0, wait_seconds_ = 0;
  float* buffer_ = nullptr;
  float weight_ = 1.0f;
  AllReduce all_reduce_;
  Launch launch_;  // OnCallingThread

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::size_t> queue_;  // buckets launched, not reduced yet
  std::size_t done_ = 0;           // buckets reduced this step
  std::exception_ptr error_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kiln::distributed
