#include <flatbuffers/flatbuffers.h>

#include "base/errc.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/schema_generated.h"

namespace aiot::ml {

namespace fb = ::aiot::ml::tfl;

Result<std::vector<uint8_t>> WriteTflite(const GraphSpec& g) {
  auto fail = [](std::string msg) { return Status(errc::invalid_argument, std::move(msg)); };
  const int32_t nt = static_cast<int32_t>(g.tensors.size());
  auto valid = [&](int32_t i, bool optional) {
    return (optional && i == -1) || (i >= 0 && i < nt);
  };
  for (int32_t i : g.inputs) {
    if (!valid(i, false)) return fail("graph input index out of range");
  }
  for (int32_t i : g.outputs) {
    if (!valid(i, false)) return fail("graph output index out of range");
  }
  for (const auto& op : g.ops) {
    for (int32_t i : op.inputs) {
      if (!valid(i, true))
        return fail(BuiltinOpName(op.builtin_code) + ": input index out of range");
    }
    for (int32_t i : op.outputs) {
      if (!valid(i, false))
        return fail(BuiltinOpName(op.builtin_code) + ": output index out of range");
    }
  }

  flatbuffers::FlatBufferBuilder b(4096);
  // Buffer 0 is the conventional empty buffer; each constant tensor gets its own.
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  buffers.push_back(fb::CreateBuffer(b));
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const auto& t : g.tensors) {
    size_t count = 1;
    for (int32_t d : t.shape) {
      if (d < 0) return fail("tensor '" + t.name + "': negative dimension");
      count *= static_cast<size_t>(d);
    }
    uint32_t buffer_index = 0;
    if (t.is_constant()) {
      if (t.data.size() != count * TensorTypeSize(t.type)) {
        return fail("tensor '" + t.name + "': data size does not match its shape and type");
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

  // Operator codes: one entry per distinct (code, version, custom) triple.
  struct Code {
    int32_t builtin;
    int32_t version;
    std::string custom;
  };
  std::vector<Code> codes;
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  for (const auto& op : g.ops) {
    uint32_t index = 0;
    for (; index < codes.size(); ++index) {
      if (codes[index].builtin == op.builtin_code && codes[index].version == op.version &&
          codes[index].custom == op.custom_code) {
        break;
      }
    }
    if (index == codes.size()) codes.push_back({op.builtin_code, op.version, op.custom_code});
    auto act = static_cast<fb::ActivationFunctionType>(op.activation);
    fb::BuiltinOptions type = fb::BuiltinOptions::NONE;
    flatbuffers::Offset<void> options = 0;
    switch (op.op()) {
      case Op::kFullyConnected:
        type = fb::BuiltinOptions::FullyConnectedOptions;
        options = fb::CreateFullyConnectedOptions(
                      b, act, fb::FullyConnectedOptionsWeightsFormat::DEFAULT, op.keep_num_dims)
                      .Union();
        break;
      case Op::kSoftmax:
        type = fb::BuiltinOptions::SoftmaxOptions;
        options = fb::CreateSoftmaxOptions(b, op.softmax_beta).Union();
        break;
      case Op::kAdd:
        type = fb::BuiltinOptions::AddOptions;
        options = fb::CreateAddOptions(b, act).Union();
        break;
      case Op::kSub:
        type = fb::BuiltinOptions::SubOptions;
        options = fb::CreateSubOptions(b, act).Union();
        break;
      case Op::kMul:
        type = fb::BuiltinOptions::MulOptions;
        options = fb::CreateMulOptions(b, act).Union();
        break;
      case Op::kReshape:
        type = fb::BuiltinOptions::ReshapeOptions;
        options = fb::CreateReshapeOptions(b, b.CreateVector(op.new_shape)).Union();
        break;
      case Op::kQuantize:
        type = fb::BuiltinOptions::QuantizeOptions;
        options = fb::CreateQuantizeOptions(b).Union();
        break;
      case Op::kDequantize:
        type = fb::BuiltinOptions::DequantizeOptions;
        options = fb::CreateDequantizeOptions(b).Union();
        break;
      default:
        break;
    }
    ops.push_back(fb::CreateOperator(b, index, b.CreateVector(op.inputs),
                                     b.CreateVector(op.outputs), type, options));
  }
  std::vector<flatbuffers::Offset<fb::OperatorCode>> opcodes;
  for (const auto& c : codes) {
    // deprecated_builtin_code is a byte: codes above 127 go only in builtin_code.
    const int8_t deprecated = static_cast<int8_t>(c.builtin < 127 ? c.builtin : 127);
    opcodes.push_back(
        fb::CreateOperatorCode(b, deprecated, c.custom.empty() ? 0 : b.CreateString(c.custom),
                               c.version, static_cast<fb::BuiltinOperator>(c.builtin)));
  }
  auto subgraph =
      fb::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(g.inputs),
                         b.CreateVector(g.outputs), b.CreateVector(ops), b.CreateString(g.name));
  std::vector<flatbuffers::Offset<fb::Metadata>> metadata;
  for (const auto& [name, bytes] : g.metadata) {
    b.ForceVectorAlignment(bytes.size(), 1, 16);
    auto data = b.CreateVector(bytes);
    metadata.push_back(
        fb::CreateMetadata(b, b.CreateString(name), static_cast<uint32_t>(buffers.size())));
    buffers.push_back(fb::CreateBuffer(b, data));
  }
  auto model = fb::CreateModel(b, 3, b.CreateVector(opcodes), b.CreateVector(&subgraph, 1),
                               b.CreateString(g.description), b.CreateVector(buffers), 0,
                               metadata.empty() ? 0 : b.CreateVector(metadata));
  fb::FinishModelBuffer(b, model);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace aiot::ml
