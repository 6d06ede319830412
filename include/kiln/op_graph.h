// An inference-only graph of TensorFlow ops, as a TF.js graph model stores it (model.json:
// modelTopology.node[] + weightsManifest shards). Nodes run in topological order through kiln's
// ops on the CPU; only the nodes an asked-for output needs run. DESIGN.md, "Imported models and
// the op graph".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/device.h"
#include "kiln/export.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln {

class KILN_API OpGraph {
 public:
  // Reads a TF.js graph model: `model_json` and the weight shards it names (same directory).
  // Weights stored as float16 or uint8 (q * scale + min) become float32. Error for a file that
  // cannot be read, a shard of the wrong size, and an op kiln does not run:
  // "unsupported TF.js op 'X' at node 'Y'".
  static OpGraph load_tfjs(const std::string& model_json);

  OpGraph(OpGraph&&) noexcept;
  OpGraph& operator=(OpGraph&&) noexcept;
  ~OpGraph();

  // The signature's inputs and outputs (node names), and the shape of each input (-1 unknown).
  // Without a signature, as TF.js: the Placeholder nodes, and the (non-constant) nodes nothing
  // reads, in node order.
  const std::vector<std::string>& input_names() const;
  const std::vector<std::string>& output_names() const;
  Shape input_shape(const std::string& name) const;
  std::size_t node_count() const;
  std::int64_t parameter_count() const;  // elements of every stored weight
  // Moves the weights to `device`; run then takes inputs there. On a GPU the graph ops run on
  // their CUDA kernels, except top-k and strided slice, which copy through the host.
  void to(Device device);
  Device device() const;

  // The time one node took in a run, as the host saw it: on the CPU its computation; on a GPU
  // mostly the time to queue its kernels (they run asynchronously).
  struct NodeTime {
    std::string node, op;
    double milliseconds = 0;
  };

  // Feeds the placeholders (name -> tensor) and returns `outputs` in order, each a node name
  // ("name", its first output) or "name:k" (its k-th output); intermediates may be asked for.
  // With `times`, also appends the time of every node run (constants and inputs left out).
  std::vector<Tensor> run(const std::vector<std::pair<std::string, Tensor>>& feeds,
                          const std::vector<std::string>& outputs,
                          std::vector<NodeTime>* times = nullptr) const;

  struct Impl;

 private:
  explicit OpGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln
