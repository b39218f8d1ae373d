#include "ml/tflite/graph.h"

namespace aiot::ml {
namespace {

// TensorFlow Lite's BuiltinOperator names, indexed by code (0..127).
constexpr const char* kOpNames[] = {"ADD",
                                    "AVERAGE_POOL_2D",
                                    "CONCATENATION",
                                    "CONV_2D",
                                    "DEPTHWISE_CONV_2D",
                                    "DEPTH_TO_SPACE",
                                    "DEQUANTIZE",
                                    "EMBEDDING_LOOKUP",
                                    "FLOOR",
                                    "FULLY_CONNECTED",
                                    "HASHTABLE_LOOKUP",
                                    "L2_NORMALIZATION",
                                    "L2_POOL_2D",
                                    "LOCAL_RESPONSE_NORMALIZATION",
                                    "LOGISTIC",
                                    "LSH_PROJECTION",
                                    "LSTM",
                                    "MAX_POOL_2D",
                                    "MUL",
                                    "RELU",
                                    "RELU_N1_TO_1",
                                    "RELU6",
                                    "RESHAPE",
                                    "RESIZE_BILINEAR",
                                    "RNN",
                                    "SOFTMAX",
                                    "SPACE_TO_DEPTH",
                                    "SVDF",
                                    "TANH",
                                    "CONCAT_EMBEDDINGS",
                                    "SKIP_GRAM",
                                    "CALL",
                                    "CUSTOM",
                                    "EMBEDDING_LOOKUP_SPARSE",
                                    "PAD",
                                    "UNIDIRECTIONAL_SEQUENCE_RNN",
                                    "GATHER",
                                    "BATCH_TO_SPACE_ND",
                                    "SPACE_TO_BATCH_ND",
                                    "TRANSPOSE",
                                    "MEAN",
                                    "SUB",
                                    "DIV",
                                    "SQUEEZE",
                                    "UNIDIRECTIONAL_SEQUENCE_LSTM",
                                    "STRIDED_SLICE",
                                    "BIDIRECTIONAL_SEQUENCE_RNN",
                                    "EXP",
                                    "TOPK_V2",
                                    "SPLIT",
                                    "LOG_SOFTMAX",
                                    "DELEGATE",
                                    "BIDIRECTIONAL_SEQUENCE_LSTM",
                                    "CAST",
                                    "PRELU",
                                    "MAXIMUM",
                                    "ARG_MAX",
                                    "MINIMUM",
                                    "LESS",
                                    "NEG",
                                    "PADV2",
                                    "GREATER",
                                    "GREATER_EQUAL",
                                    "LESS_EQUAL",
                                    "SELECT",
                                    "SLICE",
                                    "SIN",
                                    "TRANSPOSE_CONV",
                                    "SPARSE_TO_DENSE",
                                    "TILE",
                                    "EXPAND_DIMS",
                                    "EQUAL",
                                    "NOT_EQUAL",
                                    "LOG",
                                    "SUM",
                                    "SQRT",
                                    "RSQRT",
                                    "SHAPE",
                                    "POW",
                                    "ARG_MIN",
                                    "FAKE_QUANT",
                                    "REDUCE_PROD",
                                    "REDUCE_MAX",
                                    "PACK",
                                    "LOGICAL_OR",
                                    "ONE_HOT",
                                    "LOGICAL_AND",
                                    "LOGICAL_NOT",
                                    "UNPACK",
                                    "REDUCE_MIN",
                                    "FLOOR_DIV",
                                    "REDUCE_ANY",
                                    "SQUARE",
                                    "ZEROS_LIKE",
                                    "FILL",
                                    "FLOOR_MOD",
                                    "RANGE",
                                    "RESIZE_NEAREST_NEIGHBOR",
                                    "LEAKY_RELU",
                                    "SQUARED_DIFFERENCE",
                                    "MIRROR_PAD",
                                    "ABS",
                                    "SPLIT_V",
                                    "UNIQUE",
                                    "CEIL",
                                    "REVERSE_V2",
                                    "ADD_N",
                                    "GATHER_ND",
                                    "COS",
                                    "WHERE",
                                    "RANK",
                                    "ELU",
                                    "REVERSE_SEQUENCE",
                                    "MATRIX_DIAG",
                                    "QUANTIZE",
                                    "MATRIX_SET_DIAG",
                                    "ROUND",
                                    "HARD_SWISH",
                                    "IF",
                                    "WHILE",
                                    "NON_MAX_SUPPRESSION_V4",
                                    "NON_MAX_SUPPRESSION_V5",
                                    "SCATTER_ND",
                                    "SELECT_V2",
                                    "DENSIFY",
                                    "SEGMENT_SUM",
                                    "BATCH_MATMUL",
                                    "PLACEHOLDER_FOR_GREATER_OP_CODES"};

}  // namespace

const std::vector<uint8_t>* GraphSpec::FindMetadata(const std::string& name) const {
  for (const auto& [n, bytes] : metadata) {
    if (n == name) return &bytes;
  }
  return nullptr;
}

std::string BuiltinOpName(int32_t code) {
  constexpr int32_t n = static_cast<int32_t>(sizeof(kOpNames) / sizeof(kOpNames[0]));
  if (code >= 0 && code < n) return kOpNames[code];
  return "BUILTIN_" + std::to_string(code);
}

const char* TensorTypeName(TensorType t) {
  switch (t) {
    case TensorType::kFloat32:
      return "float32";
    case TensorType::kInt32:
      return "int32";
    case TensorType::kUInt8:
      return "uint8";
    case TensorType::kInt64:
      return "int64";
    case TensorType::kInt8:
      return "int8";
  }
  return "unknown";
}

size_t TensorTypeSize(TensorType t) {
  switch (t) {
    case TensorType::kFloat32:
      return 4;
    case TensorType::kInt32:
      return 4;
    case TensorType::kUInt8:
      return 1;
    case TensorType::kInt64:
      return 8;
    case TensorType::kInt8:
      return 1;
  }
  return 0;
}

}  // namespace aiot::ml
