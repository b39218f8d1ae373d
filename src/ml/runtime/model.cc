#include "ml/runtime/model.h"

#include <cstdio>

#include "base/errc.h"
#include "base/sha256.h"
#include "ml/runtime/quant_util.h"

namespace aiot::ml {

Result<std::shared_ptr<const Model>> Model::FromBytes(std::vector<uint8_t> bytes) {
  auto graph = ReadTflite(bytes.data(), bytes.size());
  if (!graph.ok()) return graph.status();
  auto m = std::make_shared<Model>();
  m->graph_ = std::move(*graph);
  if (const auto* md = m->graph_.FindMetadata(kMetadataName)) {
    auto meta = DecodeMetadata(md->data(), md->size());
    if (!meta.ok())
      return Status(meta.error(), std::string("corrupted ") + kMetadataName + " entry");
    m->metadata_ = std::move(*meta);
    m->has_metadata_ = true;
  }
  Sha256 h;
  h.Update(bytes.data(), bytes.size());
  auto d = h.Final();
  m->sha256_ = ToHex(d.data(), d.size());
  m->bytes_ = std::move(bytes);
  return std::shared_ptr<const Model>(std::move(m));
}

Result<std::shared_ptr<const Model>> Model::FromFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status(errc::not_found, "cannot open " + path);
  std::vector<uint8_t> bytes;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    bytes.insert(bytes.end(), buf, buf + n);
    if (bytes.size() > (size_t{1} << 30)) break;
  }
  std::fclose(f);
  auto m = FromBytes(std::move(bytes));
  if (!m.ok()) return m.status().Prefix(path);
  return m;
}

Result<std::unique_ptr<Scorer>> Scorer::Create(std::shared_ptr<const Model> model,
                                               const ScorerOptions& options) {
  InterpreterOptions io;
  io.max_batch = options.max_batch;
  io.reference_kernels = options.reference_kernels;
  io.max_isa = options.max_isa;
  io.single_rounding = options.single_rounding;
  io.tree_kernel = options.tree_kernel;
  auto it = Interpreter::Create(model->graph(), io);
  if (!it.ok()) return it.status();
  std::unique_ptr<Scorer> s(new Scorer());
  s->interpreter_ = std::move(*it);
  if (s->interpreter_->num_inputs() < 1 || s->interpreter_->num_outputs() < 1) {
    return Status(errc::invalid_argument, "model has no input or no output");
  }
  auto in = s->interpreter_->input(0);
  auto out = s->interpreter_->output(0);
  if ((in.type != TensorType::kFloat32 && in.type != TensorType::kInt8) ||
      (out.type != TensorType::kFloat32 && out.type != TensorType::kInt8)) {
    return Status(errc::unsupported, "model input and output must be float32 or int8");
  }
  s->num_features_ = static_cast<int>(in.elements);
  s->num_outputs_ = static_cast<int>(out.elements);
  const auto& meta = model->metadata();
  if (model->has_metadata() && !meta.features.empty() &&
      static_cast<int>(meta.features.size()) != s->num_features_) {
    return Status(errc::corrupted, "metadata lists " + std::to_string(meta.features.size()) +
                                       " features but the model input takes " +
                                       std::to_string(s->num_features_));
  }
  s->model_ = std::move(model);
  return s;
}

void Scorer::Run(const float* features, int rows, float* outputs) {
  auto in = interpreter_->input(0, rows);
  if (in.type == TensorType::kFloat32) {
    __builtin_memcpy(in.data, features, in.elements * sizeof(float));
  } else {
    for (size_t i = 0; i < in.elements; ++i) {
      in.i8()[i] = QuantizeValue(features[i], in.scale, in.zero_point);
    }
  }
  Status st = interpreter_->Invoke(rows);
  (void)st;  // rows is always within 1..max_batch here
  if (!outputs) return;
  auto out = interpreter_->output(0, rows);
  if (out.type == TensorType::kFloat32) {
    __builtin_memcpy(outputs, out.data, out.elements * sizeof(float));
  } else {
    for (size_t i = 0; i < out.elements; ++i) {
      outputs[i] = DequantizeValue(out.i8()[i], out.scale, out.zero_point);
    }
  }
}

float Scorer::Score(const float* features) {
  float out[64];
  if (num_outputs_ <= 64) {
    Run(features, 1, out);
    return out[0];
  }
  Run(features, 1, nullptr);
  auto o = interpreter_->output(0, 1);
  return o.type == TensorType::kFloat32 ? o.f32()[0]
                                        : DequantizeValue(o.i8()[0], o.scale, o.zero_point);
}

void Scorer::Predict(const float* features, float* outputs) { Run(features, 1, outputs); }

void Scorer::ScoreBatch(const float* features, size_t n, float* outputs) {
  const size_t chunk = static_cast<size_t>(interpreter_->max_batch());
  for (size_t done = 0; done < n; done += chunk) {
    const int rows = static_cast<int>(std::min(chunk, n - done));
    Run(features + done * num_features_, rows, outputs + done * num_outputs_);
  }
}

}  // namespace aiot::ml
