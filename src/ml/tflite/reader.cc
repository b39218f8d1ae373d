#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstring>

#include "base/errc.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/schema_generated.h"

namespace aiot::ml {

namespace fb = ::aiot::ml::tfl;

namespace {

bool KnownType(int8_t t) { return t == 0 || t == 2 || t == 3 || t == 4 || t == 9; }

// Byte-wise: the verifier checks a vector's 4-byte alignment only, so the elements of a verified
// vector of 8-byte scalars (zero points) may be misaligned for a direct load.
template <typename T>
std::vector<T> Copy(const flatbuffers::Vector<T>* v) {
  if (!v) return {};
  std::vector<T> out(v->size());
  if (!out.empty()) std::memcpy(out.data(), v->Data(), out.size() * sizeof(T));
  for (T& x : out) x = flatbuffers::EndianScalar(x);
  return out;
}

// The verified model's buffers, looked up by index.
class Buffers {
 public:
  explicit Buffers(const fb::Model* model)
      : buffers_(model->buffers()), size_(buffers_ ? buffers_->size() : 0) {}

  // False when `index` is out of range or the buffer is stored outside the flatbuffer (models
  // over 2 GiB, not supported).
  bool Get(uint32_t index, std::vector<uint8_t>* out) const {
    if (index >= size_) return false;
    const fb::Buffer* buf = buffers_->Get(index);
    if (!buf) return false;
    if (buf->offset() != 0 || buf->size() != 0) return false;
    out->clear();
    if (buf->data()) out->assign(buf->data()->begin(), buf->data()->end());
    return true;
  }

 private:
  const flatbuffers::Vector<flatbuffers::Offset<fb::Buffer>>* buffers_;
  uint32_t size_;
};

// Copies tensor indices into `out`; false if one is not in [0, nt) (or -1 when `optional`).
bool CheckIndices(const flatbuffers::Vector<int32_t>* v, bool optional, int32_t nt,
                  std::vector<int32_t>* out) {
  *out = Copy(v);
  return std::all_of(out->begin(), out->end(),
                     [&](int32_t i) { return (optional && i == -1) || (i >= 0 && i < nt); });
}

// Identifier, verifier, schema version, exactly one subgraph.
Status CheckModel(const uint8_t* data, size_t size) {
  if (data == nullptr || size < 8) return Status(errc::corrupted, "not a .tflite file: too short");
  if (!fb::ModelBufferHasIdentifier(data)) {
    return Status(errc::corrupted, "not a .tflite file: missing TFL3 identifier");
  }
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/64, /*max_tables=*/1000000);
  if (!fb::VerifyModelBuffer(verifier)) {
    return Status(errc::corrupted, "corrupted .tflite file: flatbuffer verification failed");
  }
  const fb::Model* model = fb::GetModel(data);
  if (model->version() != 3) {
    return Status(errc::unsupported, "unsupported .tflite schema version " +
                                         std::to_string(model->version()) + " (expected 3)");
  }
  if (!model->subgraphs() || model->subgraphs()->size() == 0) {
    return Status(errc::corrupted, ".tflite file has no subgraph");
  }
  if (model->subgraphs()->size() > 1) {
    return Status(errc::unsupported, ".tflite models with several subgraphs are not supported");
  }
  return Status::Ok();
}

Status ReadTensors(const fb::SubGraph* sg, const Buffers& buffers, GraphSpec* g) {
  const auto* tensors = sg->tensors();
  const int32_t nt = tensors ? static_cast<int32_t>(tensors->size()) : 0;
  for (int32_t i = 0; i < nt; ++i) {
    const fb::Tensor* t = tensors->Get(i);
    TensorSpec ts;
    if (t->name()) ts.name = t->name()->str();
    const int8_t type = static_cast<int8_t>(t->type());
    if (!KnownType(type)) {
      return Status(errc::unsupported, "tensor " + std::to_string(i) + " ('" + ts.name +
                                           "'): unsupported tensor type " + std::to_string(type));
    }
    ts.type = static_cast<TensorType>(type);
    ts.shape = Copy(t->shape());
    if (!buffers.Get(t->buffer(), &ts.data)) {
      return Status(errc::corrupted, "tensor " + std::to_string(i) + " ('" + ts.name +
                                         "'): buffer index out of range or external");
    }
    if (const auto* q = t->quantization()) {
      ts.quant.scale = Copy(q->scale());
      ts.quant.zero_point = Copy(q->zero_point());
      ts.quant.quantized_dimension = q->quantized_dimension();
    }
    g->tensors.push_back(std::move(ts));
  }
  return Status::Ok();
}

// The builtin options aiot's ops use (activation, softmax beta, reshape shape, FC flags).
Status ReadOptions(const fb::Operator* op, uint32_t index, OpSpec* os) {
  if (const auto* o = op->builtin_options_as_FullyConnectedOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
    os->keep_num_dims = o->keep_num_dims();
    if (o->weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT) {
      return Status(errc::unsupported,
                    "operator " + std::to_string(index) +
                        " (FULLY_CONNECTED): shuffled weights format is not supported");
    }
  } else if (const auto* o = op->builtin_options_as_SoftmaxOptions()) {
    os->softmax_beta = o->beta();
  } else if (const auto* o = op->builtin_options_as_AddOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
  } else if (const auto* o = op->builtin_options_as_SubOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
  } else if (const auto* o = op->builtin_options_as_MulOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
  } else if (const auto* o = op->builtin_options_as_DivOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
  } else if (const auto* o = op->builtin_options_as_ConcatenationOptions()) {
    os->activation = static_cast<Activation>(o->fused_activation_function());
    os->axis = o->axis();
  } else if (const auto* o = op->builtin_options_as_ReshapeOptions()) {
    os->new_shape = Copy(o->new_shape());
  }
  return Status::Ok();
}

Status ReadOperators(const fb::Model* model, const fb::SubGraph* sg, GraphSpec* g) {
  const auto* ops = sg->operators();
  if (!ops) return Status::Ok();
  const int32_t nt = static_cast<int32_t>(g->tensors.size());
  const auto* codes = model->operator_codes();
  const uint32_t num_codes = codes ? codes->size() : 0;
  for (uint32_t i = 0; i < ops->size(); ++i) {
    const fb::Operator* op = ops->Get(i);
    OpSpec os;
    if (op->opcode_index() >= num_codes) {
      return Status(errc::corrupted,
                    "operator " + std::to_string(i) + ": opcode index out of range");
    }
    const fb::OperatorCode* code = codes->Get(op->opcode_index());
    // Files written before builtin_code existed only have the deprecated byte; newer ones put
    // 127 there for large codes. The larger of the two is the real code.
    os.builtin_code = std::max<int32_t>(code->deprecated_builtin_code(),
                                        static_cast<int32_t>(code->builtin_code()));
    os.version = code->version();
    if (code->custom_code()) os.custom_code = code->custom_code()->str();
    if (const auto* co = op->custom_options()) os.custom_options.assign(co->begin(), co->end());
    if (!CheckIndices(op->inputs(), true, nt, &os.inputs) ||
        !CheckIndices(op->outputs(), false, nt, &os.outputs)) {
      return Status(errc::corrupted, "operator " + std::to_string(i) + " (" +
                                         BuiltinOpName(os.builtin_code) +
                                         "): tensor index out of range");
    }
    if (Status st = ReadOptions(op, i, &os); !st.ok()) return st;
    g->ops.push_back(std::move(os));
  }
  return Status::Ok();
}

Status ReadMetadata(const fb::Model* model, const Buffers& buffers, GraphSpec* g) {
  const auto* md = model->metadata();
  if (!md) return Status::Ok();
  for (uint32_t i = 0; i < md->size(); ++i) {
    const fb::Metadata* m = md->Get(i);
    std::vector<uint8_t> bytes;
    if (!buffers.Get(m->buffer(), &bytes)) {
      return Status(errc::corrupted,
                    "metadata entry " + std::to_string(i) + ": buffer index out of range");
    }
    g->metadata.emplace_back(m->name() ? m->name()->str() : std::string(), std::move(bytes));
  }
  return Status::Ok();
}

}  // namespace

Result<GraphSpec> ReadTflite(const uint8_t* data, size_t size) {
  if (Status st = CheckModel(data, size); !st.ok()) return st;
  const fb::Model* model = fb::GetModel(data);
  const Buffers buffers(model);
  GraphSpec g;
  if (model->description()) g.description = model->description()->str();
  const fb::SubGraph* sg = model->subgraphs()->Get(0);
  if (sg->name()) g.name = sg->name()->str();
  if (Status st = ReadTensors(sg, buffers, &g); !st.ok()) return st;
  const int32_t nt = static_cast<int32_t>(g.tensors.size());
  if (!CheckIndices(sg->inputs(), false, nt, &g.inputs) ||
      !CheckIndices(sg->outputs(), false, nt, &g.outputs)) {
    return Status(errc::corrupted, "subgraph input or output index out of range");
  }
  if (Status st = ReadOperators(model, sg, &g); !st.ok()) return st;
  if (Status st = ReadMetadata(model, buffers, &g); !st.ok()) return st;
  return g;
}

}  // namespace aiot::ml
