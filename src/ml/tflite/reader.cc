#include <flatbuffers/flatbuffers.h>

#include <algorithm>

#include "base/errc.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/schema_generated.h"

namespace aiot::ml {

namespace fb = ::aiot::ml::tfl;

namespace {

bool KnownType(int8_t t) { return t == 0 || t == 2 || t == 3 || t == 4 || t == 9; }

template <typename T>
std::vector<T> Copy(const flatbuffers::Vector<T>* v) {
  return v ? std::vector<T>(v->begin(), v->end()) : std::vector<T>();
}

}  // namespace

Result<GraphSpec> ReadTflite(const uint8_t* data, size_t size) {
  auto fail = [](errc e, std::string msg) { return Status(e, std::move(msg)); };
  if (data == nullptr || size < 8) return fail(errc::corrupted, "not a .tflite file: too short");
  if (!fb::ModelBufferHasIdentifier(data)) {
    return fail(errc::corrupted, "not a .tflite file: missing TFL3 identifier");
  }
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/64, /*max_tables=*/1000000);
  if (!fb::VerifyModelBuffer(verifier)) {
    return fail(errc::corrupted, "corrupted .tflite file: flatbuffer verification failed");
  }
  const fb::Model* model = fb::GetModel(data);
  if (model->version() != 3) {
    return fail(errc::unsupported, "unsupported .tflite schema version " +
                                       std::to_string(model->version()) + " (expected 3)");
  }
  if (!model->subgraphs() || model->subgraphs()->size() == 0) {
    return fail(errc::corrupted, ".tflite file has no subgraph");
  }
  if (model->subgraphs()->size() > 1) {
    return fail(errc::unsupported, ".tflite models with several subgraphs are not supported");
  }
  const auto* buffers = model->buffers();
  const uint32_t num_buffers = buffers ? buffers->size() : 0;
  auto buffer_bytes = [&](uint32_t index, std::vector<uint8_t>* out) -> bool {
    if (index >= num_buffers) return false;
    const fb::Buffer* buf = buffers->Get(index);
    if (!buf) return false;
    if (buf->offset() != 0 || buf->size() != 0) {
      // Buffers stored outside the flatbuffer (models over 2 GiB) are not supported.
      return false;
    }
    out->clear();
    if (buf->data()) out->assign(buf->data()->begin(), buf->data()->end());
    return true;
  };

  GraphSpec g;
  if (model->description()) g.description = model->description()->str();
  const fb::SubGraph* sg = model->subgraphs()->Get(0);
  if (sg->name()) g.name = sg->name()->str();
  const auto* tensors = sg->tensors();
  const int32_t nt = tensors ? static_cast<int32_t>(tensors->size()) : 0;
  for (int32_t i = 0; i < nt; ++i) {
    const fb::Tensor* t = tensors->Get(i);
    TensorSpec ts;
    if (t->name()) ts.name = t->name()->str();
    const int8_t type = static_cast<int8_t>(t->type());
    if (!KnownType(type)) {
      return fail(errc::unsupported, "tensor " + std::to_string(i) + " ('" + ts.name +
                                         "'): unsupported tensor type " + std::to_string(type));
    }
    ts.type = static_cast<TensorType>(type);
    ts.shape = Copy(t->shape());
    if (!buffer_bytes(t->buffer(), &ts.data)) {
      return fail(errc::corrupted, "tensor " + std::to_string(i) + " ('" + ts.name +
                                       "'): buffer index out of range or external");
    }
    if (const auto* q = t->quantization()) {
      ts.quant.scale = Copy(q->scale());
      ts.quant.zero_point = Copy(q->zero_point());
      ts.quant.quantized_dimension = q->quantized_dimension();
    }
    g.tensors.push_back(std::move(ts));
  }
  auto check_indices = [&](const flatbuffers::Vector<int32_t>* v, bool optional,
                           std::vector<int32_t>* out) {
    *out = Copy(v);
    return std::all_of(out->begin(), out->end(),
                       [&](int32_t i) { return (optional && i == -1) || (i >= 0 && i < nt); });
  };
  if (!check_indices(sg->inputs(), false, &g.inputs) ||
      !check_indices(sg->outputs(), false, &g.outputs)) {
    return fail(errc::corrupted, "subgraph input or output index out of range");
  }
  const auto* codes = model->operator_codes();
  const uint32_t num_codes = codes ? codes->size() : 0;
  if (const auto* ops = sg->operators()) {
    for (uint32_t i = 0; i < ops->size(); ++i) {
      const fb::Operator* op = ops->Get(i);
      OpSpec os;
      if (op->opcode_index() >= num_codes) {
        return fail(errc::corrupted,
                    "operator " + std::to_string(i) + ": opcode index out of range");
      }
      const fb::OperatorCode* code = codes->Get(op->opcode_index());
      // Files written before builtin_code existed only have the deprecated byte; newer ones put
      // 127 there for large codes. The larger of the two is the real code.
      os.builtin_code = std::max<int32_t>(code->deprecated_builtin_code(),
                                          static_cast<int32_t>(code->builtin_code()));
      os.version = code->version();
      if (code->custom_code()) os.custom_code = code->custom_code()->str();
      if (!check_indices(op->inputs(), true, &os.inputs) ||
          !check_indices(op->outputs(), false, &os.outputs)) {
        return fail(errc::corrupted, "operator " + std::to_string(i) + " (" +
                                         BuiltinOpName(os.builtin_code) +
                                         "): tensor index out of range");
      }
      if (const auto* o = op->builtin_options_as_FullyConnectedOptions()) {
        os.activation = static_cast<Activation>(o->fused_activation_function());
        os.keep_num_dims = o->keep_num_dims();
        if (o->weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT) {
          return fail(errc::unsupported,
                      "operator " + std::to_string(i) +
                          " (FULLY_CONNECTED): shuffled weights format is not supported");
        }
      } else if (const auto* o = op->builtin_options_as_SoftmaxOptions()) {
        os.softmax_beta = o->beta();
      } else if (const auto* o = op->builtin_options_as_AddOptions()) {
        os.activation = static_cast<Activation>(o->fused_activation_function());
      } else if (const auto* o = op->builtin_options_as_SubOptions()) {
        os.activation = static_cast<Activation>(o->fused_activation_function());
      } else if (const auto* o = op->builtin_options_as_MulOptions()) {
        os.activation = static_cast<Activation>(o->fused_activation_function());
      } else if (const auto* o = op->builtin_options_as_ReshapeOptions()) {
        os.new_shape = Copy(o->new_shape());
      }
      g.ops.push_back(std::move(os));
    }
  }
  if (const auto* md = model->metadata()) {
    for (uint32_t i = 0; i < md->size(); ++i) {
      const fb::Metadata* m = md->Get(i);
      std::vector<uint8_t> bytes;
      if (!buffer_bytes(m->buffer(), &bytes)) {
        return fail(errc::corrupted,
                    "metadata entry " + std::to_string(i) + ": buffer index out of range");
      }
      g.metadata.emplace_back(m->name() ? m->name()->str() : std::string(), std::move(bytes));
    }
  }
  return g;
}

}  // namespace aiot::ml
