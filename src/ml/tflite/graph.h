#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

// An in-memory .tflite model (one subgraph): what the writer takes, the reader returns and the
// runtime prepares. Enum values are TensorFlow Lite's.
namespace aiot::ml {

enum class TensorType : int8_t { kFloat32 = 0, kInt32 = 2, kUInt8 = 3, kInt64 = 4, kInt8 = 9 };

// BuiltinOperator codes of the ops aiot executes.
enum class Op : int32_t {
  kAdd = 0,
  kConcatenation = 2,
  kDequantize = 6,
  kFullyConnected = 9,
  kLogistic = 14,
  kMul = 18,
  kRelu = 19,
  kRelu6 = 21,
  kReshape = 22,
  kSoftmax = 25,
  kCustom = 32,
  kSub = 41,
  kDiv = 42,
  kSlice = 65,
  kQuantize = 114,
};

enum class Activation : int8_t { kNone = 0, kRelu = 1, kReluN1To1 = 2, kRelu6 = 3, kTanh = 4 };

struct QuantParams {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool empty() const { return scale.empty(); }
};

struct TensorSpec {
  std::string name;
  TensorType type = TensorType::kFloat32;
  std::vector<int32_t> shape;
  std::vector<uint8_t> data;  // constant contents (little-endian); empty for activations
  QuantParams quant;

  bool is_constant() const { return !data.empty(); }
};

struct OpSpec {
  int32_t builtin_code = 0;  // an Op value, or any other BuiltinOperator read from a file
  std::string custom_code;   // non-empty for custom ops (the runtime runs AIOT_TREE_ENSEMBLE)
  std::vector<uint8_t> custom_options;  // a custom op's parameters (its own format)
  int32_t version = 1;
  std::vector<int32_t> inputs;  // tensor indices; -1 = optional input absent
  std::vector<int32_t> outputs;
  Activation activation = Activation::kNone;  // FULLY_CONNECTED, ADD, SUB, MUL, DIV, CONCATENATION
  float softmax_beta = 1.f;
  std::vector<int32_t> new_shape;  // RESHAPE
  int32_t axis = 0;                // CONCATENATION
  bool keep_num_dims = false;      // FULLY_CONNECTED

  Op op() const { return static_cast<Op>(builtin_code); }
};

struct GraphSpec {
  std::vector<TensorSpec> tensors;
  std::vector<OpSpec> ops;  // in execution order
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;
  std::string name;
  std::string description;
  // Model.metadata entries: name -> bytes of the referenced buffer.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> metadata;

  // The bytes of metadata entry `name`, or nullptr.
  const std::vector<uint8_t>* FindMetadata(const std::string& name) const;
};

// TensorFlow Lite's name for a builtin operator code ("FULLY_CONNECTED", "CONV_2D", ...), or
// "BUILTIN_<n>" for codes this table does not know.
std::string BuiltinOpName(int32_t code);
const char* TensorTypeName(TensorType t);
size_t TensorTypeSize(TensorType t);  // bytes per element; 0 for unknown

// Writes a .tflite flatbuffer (schema version 3, identifier "TFL3"). Constant buffers are 16-byte
// aligned. Fails (errc::invalid_argument, the message naming the tensor or op) on out-of-range
// tensor indices or data whose size does not match the shape.
Result<std::vector<uint8_t>> WriteTflite(const GraphSpec& graph);

// Reads a .tflite flatbuffer. The flatbuffers Verifier runs first, then every index is range
// checked, so truncated or corrupted input yields an error, never a crash. Reads the first
// subgraph; ops the runtime does not know are kept (the runtime names them when it rejects them).
// Errors: errc::corrupted or errc::unsupported, the message saying what and where.
Result<GraphSpec> ReadTflite(const uint8_t* data, size_t size);

// Convenience helpers for building graphs.
template <typename T>
std::vector<uint8_t> ToBytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!v.empty()) __builtin_memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace aiot::ml
