// Note [Gradient buckets] in gradient_reducer.h.
#include "distributed/gradient_reducer.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"

namespace kiln::distributed {

std::vector<Bucket> make_buckets(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes) {
  std::vector<std::int64_t> offsets(sizes.size() + 1, 0);
  for (std::size_t i = 0; i < sizes.size(); ++i) offsets[i + 1] = offsets[i] + sizes[i];
  std::vector<Bucket> buckets;
  std::int64_t held = 0;
  for (std::size_t i = sizes.size(); i-- > 0;) {
    if (buckets.empty() || held >= (buckets.size() == 1 ? bytes.first : bytes.rest)) {
      buckets.push_back({i, i, offsets[i], offsets[i + 1]});
      held = 0;
    }
    Bucket& b = buckets.back();
    b.first_variable = i;
    b.begin = offsets[i];
    held += sizes[i] * static_cast<std::int64_t>(sizeof(float));
  }
  return buckets;
}

GradientReducer::GradientReducer(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes,
                                 AllReduce all_reduce)
    : GradientReducer(sizes, bytes, Launch(), OnCallingThread()) {
  all_reduce_ = std::move(all_reduce);
  thread_ = std::thread([this] { serve(); });
}

GradientReducer::GradientReducer(const std::vector<std::int64_t>& sizes, const BucketBytes& bytes,
                                 Launch launch, OnCallingThread)
    : buckets_(make_buckets(sizes, bytes)),
      bucket_of_(sizes.size()),
      waiting_(buckets_.size()),
      launch_(std::move(launch)) {
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    for (std::size_t v = buckets_[b].first_variable; v <= buckets_[b].last_variable; ++v)
      bucket_of_[v] = b;
  }
}

GradientReducer::~GradientReducer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void GradientReducer::start(float* buffer, float weight) {
  std::lock_guard<std::mutex> lock(mutex_);
  buffer_ = buffer;
  weight_ = weight;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    waiting_[b] =
        static_cast<std::int64_t>(buckets_[b].last_variable - buckets_[b].first_variable + 1);
  }
  next_launch_ = 0;
  final_count_ = 0;
  final_at_launch_.assign(buckets_.size(), 0);
  done_ = 0;
  launched_before_finish_ = 0;
  error_ = nullptr;
}

void GradientReducer::ready(std::size_t index) {
  KILN_CHECK(index < bucket_of_.size(), "GradientReducer: variable {} of {}", index,
             bucket_of_.size());
  std::lock_guard<std::mutex> lock(mutex_);
  --waiting_[bucket_of_[index]];
  ++final_count_;
  launch_ready();
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// With the lock held: the buckets whose gradients are all final, in bucket order.
void GradientReducer::launch_ready() {
  bool launched = false;
  while (next_launch_ < buckets_.size() && waiting_[next_launch_] <= 0) {
    final_at_launch_[next_launch_] = final_count_;
    if (launch_) {  // OnCallingThread: queue it now (no thread waits on the lock)
      const auto start = std::chrono::steady_clock::now();
      launch_(buckets_[next_launch_++]);
      reduce_seconds_ += seconds_since(start);
      ++done_;
      continue;
    }
    queue_.push_back(next_launch_++);
    launched = true;
  }
  if (launched) changed_.notify_all();
}

void GradientReducer::finish() {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  launched_before_finish_ = next_launch_;
  for (auto& w : waiting_) w = 0;  // a variable the loss does not reach has its zeros already
  launch_ready();
  changed_.wait(lock, [&] { return done_ == buckets_.size() || error_ != nullptr; });
  wait_seconds_ += seconds_since(start);
  if (error_ != nullptr) {
    // Let the thread drain what is queued before the error is rethrown (the buffer stays valid).
    changed_.wait(lock, [&] { return queue_.empty(); });
    std::rethrow_exception(error_);
  }
}

void GradientReducer::serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    const Bucket bucket = buckets_[queue_.front()];
    float* data = buffer_ + bucket.begin;
    const float weight = weight_;
    const bool failed = error_ != nullptr;
    lock.unlock();
    std::exception_ptr error;
    const auto start = std::chrono::steady_clock::now();
    if (!failed) {
      try {
        const std::int64_t count = bucket.end - bucket.begin;
        if (weight != 1.0f) {
          for (std::int64_t i = 0; i < count; ++i) data[i] *= weight;
        }
        all_reduce_(data, count);
      } catch (...) {
        error = std::current_exception();
      }
    }
    const double took = seconds_since(start);
    lock.lock();
    reduce_seconds_ += took;
    queue_.pop_front();
    ++done_;
    if (error != nullptr && error_ == nullptr) error_ = error;
    changed_.notify_all();
  }
}

}  // namespace kiln::distributed
