#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/runtime/interpreter.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/metadata.h"

namespace aiot::ml {

// A loaded .tflite model: the verified graph, aiot's metadata (when present) and the file's
// sha256. Immutable after loading; share it between threads freely.
class Model {
 public:
  // ReadTflite's errors, or a corrupted aiot_metadata entry.
  static Result<std::shared_ptr<const Model>> FromBytes(std::vector<uint8_t> bytes);
  // errc::not_found ("cannot open PATH"), or FromBytes' error with the path in front.
  static Result<std::shared_ptr<const Model>> FromFile(const std::string& path);

  const GraphSpec& graph() const { return graph_; }
  bool has_metadata() const { return has_metadata_; }
  // aiot metadata; a default-constructed one (no features) for foreign models.
  const ModelMetadata& metadata() const { return metadata_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  const std::string& sha256() const { return sha256_; }

 private:
  GraphSpec graph_;
  ModelMetadata metadata_;
  bool has_metadata_ = false;
  std::vector<uint8_t> bytes_;
  std::string sha256_;
};

struct ScorerOptions {
  int max_batch = 256;
  bool reference_kernels = false;
  kernels::Isa max_isa = kernels::Isa::kAvxVnni;  // see InterpreterOptions
  bool single_rounding = false;                   // see InterpreterOptions
  TreeKernel tree_kernel = TreeKernel::kAuto;     // see InterpreterOptions
};

// Scores raw feature vectors with a model: the one-stop API for the predictor, the device agent
// and the CLI. Handles int8 model inputs and outputs (quantizes features, dequantizes scores),
// so callers always pass and receive floats. The model's first input takes num_features() values
// per row; its first output gives num_outputs() values per row (1 = P(fault) for binary models,
// K = class probabilities for multi-class ones).
//
// Score/ScoreBatch allocate nothing. Not thread-safe: one Scorer per thread.
class Scorer {
 public:
  static Result<std::unique_ptr<Scorer>> Create(std::shared_ptr<const Model> model,
                                                const ScorerOptions& options = {});

  const Model& model() const { return *model_; }
  const ModelMetadata& metadata() const { return model_->metadata(); }
  int num_features() const { return num_features_; }
  int num_outputs() const { return num_outputs_; }

  // REQUIRES: `features` holds num_features() values. Returns the first output value.
  float Score(const float* features);
  // Writes num_outputs() values for one row.
  void Predict(const float* features, float* outputs);
  // `n` rows of features (row-major) -> n * num_outputs() values.
  void ScoreBatch(const float* features, size_t n, float* outputs);

  Interpreter& interpreter() { return *interpreter_; }

 private:
  Scorer() = default;
  void Run(const float* features, int rows, float* outputs);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Interpreter> interpreter_;
  int num_features_ = 0;
  int num_outputs_ = 0;
};

}  // namespace aiot::ml
