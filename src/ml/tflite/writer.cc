#include <flatbuffers/flatbuffers.h>

#include "base/errc.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/schema_generated.h"

namespace aiot::ml {

namespace fb = ::aiot::ml::tfl;

namespace {

Status Invalid(std::string message) { return Status(errc::invalid_argument, std::move(message)); }

// Graph and op tensor indices in range (-1 allowed for optional op inputs).
Status CheckIndices(const GraphSpec& g) {
  const int32_t nt = static_cast<int32_t>(g.tensors.size());
  auto valid = [&](int32_t i, bool optional) {
    return (optional && i == -1) || (i >= 0 && i < nt);
  };
  for (int32_t i : g.inputs) {
    if (!valid(i, false)) return Invalid("graph input index out of range");
  }
  for (int32_t i : g.outputs) {
    if (!valid(i, false)) return Invalid("graph output index out of range");
  }
  for (const auto& op : g.ops) {
    for (int32_t i : op.inputs) {
      if (!valid(i, true))
        return Invalid(BuiltinOpName(op.builtin_code) + ": input index out of range");
    }
    for (int32_t i : op.outputs) {
      if (!valid(i, false)) {
        return Invalid(BuiltinOpName(op.builtin_code) + ": output index out of range");
      }
    }
  }
  return Status::Ok();
}

// One flatbuffer Tensor per tensor; each constant gets its own 16-byte aligned buffer, appended
// to `buffers` (buffer 0, the conventional empty one, is already there).
Status WriteTensors(const GraphSpec& g, flatbuffers::FlatBufferBuilder& b,
                    std::vector<flatbuffers::Offset<fb::Buffer>>& buffers,
                    std::vector<flatbuffers::Offset<fb::Tensor>>& tensors) {
  for (const auto& t : g.tensors) {
    size_t count = 1;
    for (int32_t d : t.shape) {
      if (d < 0) return Invalid("tensor '" + t.name + "': negative dimension");
      count *= static_cast<size_t>(d);
    }
    uint32_t buffer_index = 0;
    if (t.is_constant()) {
      if (t.data.size() != count * TensorTypeSize(t.type)) {
        return Invalid("tensor '" + t.name + "': data size does not match its shape and type");
      }
      b.ForceVectorAlignment(t.data.size(), 1, 16);
      auto data = b.CreateVector(t.data);
      buffer_index = static_cast<uint32_t>(buffers.size());
      buffers.push_back(fb::CreateBuffer(b, data));
    }
    flatbuffers::Offset<fb::QuantizationParameters> q = 0;
    if (!t.quant.empty()) {
      q = fb::CreateQuantizationParameters(b, 0, 0, b.CreateVector(t.quant.scale),
                                           b.CreateVector(t.quant.zero_point),
                                           t.quant.quantized_dimension);
    }
    tensors.push_back(fb::CreateTensor(b, b.CreateVector(t.shape),
                                       static_cast<fb::TensorType>(t.type), buffer_index,
                                       b.CreateString(t.name), q));
  }
  return Status::Ok();
}

// The builtin options table of an op aiot writes options for (a flat switch).
std::pair<fb::BuiltinOptions, flatbuffers::Offset<void>> WriteOptions(
    const OpSpec& op, flatbuffers::FlatBufferBuilder& b) {
  const auto act = static_cast<fb::ActivationFunctionType>(op.activation);
  switch (op.op()) {
    case Op::kFullyConnected:
      return {fb::BuiltinOptions::FullyConnectedOptions,
              fb::CreateFullyConnectedOptions(
                  b, act, fb::FullyConnectedOptionsWeightsFormat::DEFAULT, op.keep_num_dims)
                  .Union()};
    case Op::kSoftmax:
      return {fb::BuiltinOptions::SoftmaxOptions,
              fb::CreateSoftmaxOptions(b, op.softmax_beta).Union()};
    case Op::kAdd:
      return {fb::BuiltinOptions::AddOptions, fb::CreateAddOptions(b, act).Union()};
    case Op::kSub:
      return {fb::BuiltinOptions::SubOptions, fb::CreateSubOptions(b, act).Union()};
    case Op::kMul:
      return {fb::BuiltinOptions::MulOptions, fb::CreateMulOptions(b, act).Union()};
    case Op::kDiv:
      return {fb::BuiltinOptions::DivOptions, fb::CreateDivOptions(b, act).Union()};
    case Op::kConcatenation:
      return {fb::BuiltinOptions::ConcatenationOptions,
              fb::CreateConcatenationOptions(b, op.axis, act).Union()};
    case Op::kSlice:
      return {fb::BuiltinOptions::SliceOptions, fb::CreateSliceOptions(b).Union()};
    case Op::kReshape:
      return {fb::BuiltinOptions::ReshapeOptions,
              fb::CreateReshapeOptions(b, b.CreateVector(op.new_shape)).Union()};
    case Op::kQuantize:
      return {fb::BuiltinOptions::QuantizeOptions, fb::CreateQuantizeOptions(b).Union()};
    case Op::kDequantize:
      return {fb::BuiltinOptions::DequantizeOptions, fb::CreateDequantizeOptions(b).Union()};
    default:
      return {fb::BuiltinOptions::NONE, 0};
  }
}

// The operators, and the operator codes table: one entry per distinct (code, version, custom).
void WriteOperators(const GraphSpec& g, flatbuffers::FlatBufferBuilder& b,
                    std::vector<flatbuffers::Offset<fb::Operator>>& ops,
                    std::vector<flatbuffers::Offset<fb::OperatorCode>>& opcodes) {
  struct Code {
    int32_t builtin;
    int32_t version;
    std::string custom;
  };
  std::vector<Code> codes;
  for (const auto& op : g.ops) {
    uint32_t index = 0;
    for (; index < codes.size(); ++index) {
      if (codes[index].builtin == op.builtin_code && codes[index].version == op.version &&
          codes[index].custom == op.custom_code) {
        break;
      }
    }
    if (index == codes.size()) codes.push_back({op.builtin_code, op.version, op.custom_code});
    const auto [type, options] = WriteOptions(op, b);
    ops.push_back(fb::CreateOperator(
        b, index, b.CreateVector(op.inputs), b.CreateVector(op.outputs), type, options,
        op.custom_options.empty() ? 0 : b.CreateVector(op.custom_options)));
  }
  for (const auto& c : codes) {
    // deprecated_builtin_code is a byte: codes above 127 go only in builtin_code.
    const int8_t deprecated = static_cast<int8_t>(c.builtin < 127 ? c.builtin : 127);
    opcodes.push_back(
        fb::CreateOperatorCode(b, deprecated, c.custom.empty() ? 0 : b.CreateString(c.custom),
                               c.version, static_cast<fb::BuiltinOperator>(c.builtin)));
  }
}

// Metadata entries, each pointing at its own 16-byte aligned buffer appended to `buffers`.
std::vector<flatbuffers::Offset<fb::Metadata>> WriteMetadata(
    const GraphSpec& g, flatbuffers::FlatBufferBuilder& b,
    std::vector<flatbuffers::Offset<fb::Buffer>>& buffers) {
  std::vector<flatbuffers::Offset<fb::Metadata>> metadata;
  for (const auto& [name, bytes] : g.metadata) {
    b.ForceVectorAlignment(bytes.size(), 1, 16);
    auto data = b.CreateVector(bytes);
    metadata.push_back(
        fb::CreateMetadata(b, b.CreateString(name), static_cast<uint32_t>(buffers.size())));
    buffers.push_back(fb::CreateBuffer(b, data));
  }
  return metadata;
}

}  // namespace

Result<std::vector<uint8_t>> WriteTflite(const GraphSpec& g) {
  if (Status st = CheckIndices(g); !st.ok()) return st;
  flatbuffers::FlatBufferBuilder b(4096);
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  buffers.push_back(fb::CreateBuffer(b));  // buffer 0: the conventional empty buffer
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  if (Status st = WriteTensors(g, b, buffers, tensors); !st.ok()) return st;
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  std::vector<flatbuffers::Offset<fb::OperatorCode>> opcodes;
  WriteOperators(g, b, ops, opcodes);
  auto subgraph =
      fb::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(g.inputs),
                         b.CreateVector(g.outputs), b.CreateVector(ops), b.CreateString(g.name));
  const auto metadata = WriteMetadata(g, b, buffers);
  auto model = fb::CreateModel(b, 3, b.CreateVector(opcodes), b.CreateVector(&subgraph, 1),
                               b.CreateString(g.description), b.CreateVector(buffers), 0,
                               metadata.empty() ? 0 : b.CreateVector(metadata));
  fb::FinishModelBuffer(b, model);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace aiot::ml
