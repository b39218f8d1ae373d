#include "ml/tflite/metadata.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cmath>

#include "base/errc.h"
#include "ml/tflite/aiot_metadata_generated.h"

namespace aiot::ml {

namespace mfb = ::aiot::ml::meta;

std::vector<std::string> ModelMetadata::feature_names() const {
  std::vector<std::string> names;
  for (const auto& f : features) names.push_back(f.name);
  return names;
}

double ModelMetadata::Metric(const std::string& name, double fallback) const {
  for (const auto& [n, v] : metrics) {
    if (n == name) return v;
  }
  return fallback;
}

std::vector<uint8_t> EncodeMetadata(const ModelMetadata& m) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<mfb::Feature>> features;
  for (const auto& f : m.features) {
    features.push_back(mfb::CreateFeature(b, b.CreateString(f.name), f.mean, f.stddev, f.min, f.max,
                                          b.CreateVector(f.quantiles), b.CreateVector(f.psi_edges),
                                          b.CreateVector(f.psi_fractions)));
  }
  std::vector<flatbuffers::Offset<mfb::Metric>> metrics;
  for (const auto& [name, value] : m.metrics) {
    metrics.push_back(mfb::CreateMetric(b, b.CreateString(name), value));
  }
  auto root = mfb::CreateModelInfo(
      b, 1, b.CreateString(m.name), b.CreateString(m.label), b.CreateVectorOfStrings(m.class_names),
      b.CreateVector(features), m.decision_threshold, m.warning_threshold, m.critical_threshold,
      b.CreateVector(metrics), b.CreateString(m.training_data_sha256), m.training_rows,
      b.CreateString(m.quantization), b.CreateString(m.created_by),
      b.CreateVectorOfStrings(m.derived), b.CreateString(m.calibration),
      b.CreateString(m.threshold_rule), b.CreateString(m.task));
  mfb::FinishModelInfoBuffer(b, root);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<ModelMetadata> DecodeMetadata(const uint8_t* data, size_t size) {
  if (data == nullptr || size < 8 || !mfb::ModelInfoBufferHasIdentifier(data)) {
    return errc::corrupted;
  }
  flatbuffers::Verifier v(data, size, 64, 100000);
  if (!mfb::VerifyModelInfoBuffer(v)) return errc::corrupted;
  const mfb::ModelInfo* r = mfb::GetModelInfo(data);
  auto str = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
  auto floats = [](const flatbuffers::Vector<float>* f) {
    return f ? std::vector<float>(f->begin(), f->end()) : std::vector<float>();
  };
  ModelMetadata m;
  m.name = str(r->name());
  m.label = str(r->label());
  if (r->class_names()) {
    for (const auto* s : *r->class_names()) m.class_names.push_back(str(s));
  }
  if (r->features()) {
    for (const auto* f : *r->features()) {
      FeatureInfo fi;
      fi.name = str(f->name());
      fi.mean = f->mean();
      fi.stddev = f->stddev();
      fi.min = f->min();
      fi.max = f->max();
      fi.quantiles = floats(f->quantiles());
      fi.psi_edges = floats(f->psi_edges());
      fi.psi_fractions = floats(f->psi_fractions());
      m.features.push_back(std::move(fi));
    }
  }
  m.decision_threshold = r->decision_threshold();
  m.warning_threshold = r->warning_threshold();
  m.critical_threshold = r->critical_threshold();
  if (r->metrics()) {
    for (const auto* x : *r->metrics()) m.metrics.emplace_back(str(x->name()), x->value());
  }
  m.training_data_sha256 = str(r->training_data_sha256());
  m.training_rows = r->training_rows();
  m.quantization = str(r->quantization());
  m.created_by = str(r->created_by());
  if (r->derived()) {
    for (const auto* s : *r->derived()) m.derived.push_back(str(s));
  }
  m.calibration = r->calibration() ? r->calibration()->str() : "none";
  m.threshold_rule = str(r->threshold_rule());
  if (r->task() && r->task()->size() > 0) m.task = r->task()->str();
  return m;
}

void ComputeProfile(std::vector<float> values, FeatureInfo* f) {
  f->quantiles.clear();
  f->psi_edges.clear();
  f->psi_fractions.clear();
  if (values.empty()) return;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  f->min = values.front();
  f->max = values.back();
  // Linear interpolation between order statistics (numpy's default).
  auto quantile = [&](double q) {
    double pos = q * static_cast<double>(n - 1);
    size_t lo = static_cast<size_t>(std::floor(pos));
    size_t hi = std::min(lo + 1, n - 1);
    double frac = pos - static_cast<double>(lo);
    return static_cast<float>(values[lo] + (values[hi] - values[lo]) * frac);
  };
  for (int i = 0; i <= 100; ++i) f->quantiles.push_back(quantile(i / 100.0));
  for (int i = 1; i < 10; ++i) f->psi_edges.push_back(quantile(i / 10.0));
  // Reference fractions with the same binning rule the drift monitor uses: bin k holds values v
  // with edges[k-1] < v <= edges[k].
  std::vector<size_t> counts(10, 0);
  for (float v : values) {
    size_t k = std::lower_bound(f->psi_edges.begin(), f->psi_edges.end(), v) - f->psi_edges.begin();
    counts[k]++;
  }
  for (size_t c : counts) f->psi_fractions.push_back(static_cast<float>(c) / static_cast<float>(n));
}

}  // namespace aiot::ml
