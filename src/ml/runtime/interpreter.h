#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/runtime/kernels.h"
#include "ml/runtime/tree_ensemble.h"
#include "ml/tflite/graph.h"

namespace aiot::ml {

// A view of one tensor's memory in the interpreter's arena.
struct TensorView {
  TensorType type = TensorType::kFloat32;
  void* data = nullptr;
  const int32_t* dims = nullptr;  // shape as in the model (batch dimension first)
  size_t rank = 0;
  size_t elements = 0;  // per batch item x the current batch
  float scale = 0;      // int8 tensors
  int32_t zero_point = 0;

  float* f32() const { return static_cast<float*>(data); }
  int8_t* i8() const { return static_cast<int8_t*>(data); }
};

struct InterpreterOptions {
  int max_batch = 1;               // rows one Invoke can process
  bool reference_kernels = false;  // plain loops instead of the optimized kernels
  // Highest instruction set the optimized int8 kernels may use (benchmarks, tests); the CPU's best
  // one below it is taken.
  kernels::Isa max_isa = kernels::Isa::kAvxVnni;
  // int8 requantization: false = TensorFlow Lite's default arithmetic (double rounding), bit-exact
  // with TFLite; true = TFLite built with TFLITE_SINGLE_ROUNDING=1 (each result correctly
  // rounded), which is also what Arm NN's CpuRef backend computes (see README).
  bool single_rounding = false;
  // AIOT_TREE_ENSEMBLE's optimised kernel: kAuto picks per model at Create by its size
  // (kernels::PreferBinned, no timing); kFloat / kBinned force one (benchmarks, tests; kBinned
  // only when the trees fit it). All equal the reference bit for bit.
  TreeKernel tree_kernel = TreeKernel::kAuto;
};

// Executes one .tflite subgraph. Create() is TFLite's Prepare: it validates every op (types,
// shapes, quantization), rejects unsupported ops by name, packs weights for the optimized kernels
// and plans all memory in one arena. Invoke() allocates nothing and never throws.
//
// Supported: FULLY_CONNECTED (float, int8 with per-tensor or per-channel weights; fused NONE,
// RELU, RELU6, RELU_N1_TO_1), LOGISTIC, SOFTMAX, RELU, RELU6 (float), ADD, SUB, MUL (float, with
// broadcasting of a per-feature vector or scalar), QUANTIZE (float -> int8), DEQUANTIZE
// (int8 -> float), RESHAPE, and the custom operator AIOT_TREE_ENSEMBLE (float features [B, F] ->
// margin [B, 1]; tree_ensemble.h).
//
// The batch: every non-constant tensor's leading dimension is the batch; Invoke(batch) runs
// `batch` rows (1..max_batch) through the graph.
//
// Not thread-safe: one Interpreter per thread (they are cheap; the model can be shared).
class Interpreter {
 public:
  // Errors: errc::unsupported naming the op or tensor aiot cannot run ("unsupported operator
  // CONV_2D (operator 0); ..."), errc::corrupted for inconsistent graphs, errc::invalid_argument
  // for bad options.
  static Result<std::unique_ptr<Interpreter>> Create(const GraphSpec& graph,
                                                     const InterpreterOptions& options = {});
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  TensorView input(size_t i, int batch = 1) const { return View(inputs_[i], batch); }
  TensorView output(size_t i, int batch = 1) const { return View(outputs_[i], batch); }
  // Any tensor by model index (every tensor has its own memory, so intermediates stay readable
  // after Invoke; calibration uses this).
  TensorView tensor(int index, int batch = 1) const { return View(index, batch); }
  size_t num_tensors() const;

  // REQUIRES: 1 <= batch <= max_batch; inputs filled.
  Status Invoke(int batch = 1);

  int max_batch() const { return max_batch_; }
  size_t arena_bytes() const { return arena_size_; }

 private:
  struct Tensor;
  struct Node;
  struct Trees;   // a prepared AIOT_TREE_ENSEMBLE: the checked ensemble and its packed form
  class Planner;  // Create()'s steps and the per-op prepare functions (interpreter.cc)
  Interpreter() = default;
  TensorView View(int index, int batch) const;
  void Run(const Node& nd, int batch);  // one node's kernel
  void RunFullyConnectedFloat(const Node& nd, int batch);
  void RunFullyConnectedInt8(const Node& nd, int batch);
  void RunTreeEnsemble(const Node& nd, int batch);
  void RunSliceOrConcat(const Node& nd, int batch);

  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
  std::vector<Trees> trees_;
  std::vector<int32_t> lists_;  // CONCATENATION inputs (Node::list indexes here)
  std::vector<int32_t> inputs_;
  std::vector<int32_t> outputs_;
  uint8_t* arena_ = nullptr;
  size_t arena_size_ = 0;
  int max_batch_ = 1;
};

}  // namespace aiot::ml
