#include "services/test_models.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "base/errc.h"
#ifdef AIOT_SERVICES_HAVE_ML
#include "ml/data/dataset.h"
#include "ml/quant/quantize.h"
#include "ml/tflite/graph.h"
#include "ml/tflite/metadata.h"
#include "ml/train/export.h"
#include "ml/train/mlp.h"
#endif

namespace aiot::services::testing {

InputAsScoreModel::InputAsScoreModel(std::string name, std::vector<std::string> features,
                                     size_t input, float scale)
    : name_(std::move(name)), features_(std::move(features)), input_(input), scale_(scale) {}

Status InputAsScoreModel::Score(const float* in, size_t rows, float* scores) const {
  const size_t w = features_.size();
  for (size_t r = 0; r < rows; ++r) {
    scores[r] = std::clamp(in[r * w + input_] / scale_, 0.0f, 1.0f);
  }
  return Status::Ok();
}

ModelPtr FanModel(std::string name) {
  return std::make_shared<InputAsScoreModel>(
      std::move(name), std::vector<std::string>{"rotation", "temperature", "vibration", "sound"}, 3,
      100.0f);
}

#ifdef AIOT_SERVICES_HAVE_ML
namespace {

Status WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return aiot::errc::io_error;
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fclose(f) == 0 && ok;
  return ok ? Status::Ok() : Status(aiot::errc::io_error);
}

// The fan model's metadata: features rotation, temperature, vibration, sound with a uniform
// reference profile around typical healthy readings.
aiot::ml::ModelMetadata FanMetadata(const std::string& metadata_name) {
  using namespace aiot::ml;
  ModelMetadata md;
  md.name = metadata_name;
  md.label = "faulty";
  md.warning_threshold = 0.5f;
  md.critical_threshold = 0.8f;
  const char* names[] = {"rotation", "temperature", "vibration", "sound"};
  const float means[] = {600, 40, 150, 50};
  const float spread[] = {50, 5, 25, 5};
  std::mt19937 profile_rng(11);
  for (int i = 0; i < 4; ++i) {
    FeatureInfo f;
    f.name = names[i];
    std::uniform_real_distribution<float> u(means[i] - spread[i], means[i] + spread[i]);
    std::vector<float> values(2000);
    for (auto& v : values) v = u(profile_rng);
    ComputeProfile(values, &f);
    f.mean = means[i];
    f.stddev = spread[i] / 1.7320508f;
    md.features.push_back(f);
  }
  md.training_rows = 2000;
  return md;
}

}  // namespace

Status WriteFanTtfTflite(const std::string& path, const std::string& metadata_name,
                         float hours_at_zero) {
  using namespace aiot::ml;
  ModelMetadata md = FanMetadata(metadata_name);
  md.task = "time_to_failure";
  md.label = "time_to_failure_h";
  GraphSpec g;
  g.name = metadata_name;
  g.tensors.push_back({"features", TensorType::kFloat32, {1, 4}, {}, {}});
  g.tensors.push_back(
      {"weights", TensorType::kFloat32, {1, 4}, ToBytes(std::vector<float>{0, 0, 0, -1}), {}});
  g.tensors.push_back(
      {"bias", TensorType::kFloat32, {1}, ToBytes(std::vector<float>{hours_at_zero}), {}});
  g.tensors.push_back({"hours", TensorType::kFloat32, {1, 1}, {}, {}});
  OpSpec fc;
  fc.builtin_code = static_cast<int32_t>(Op::kFullyConnected);
  fc.inputs = {0, 1, 2};
  fc.outputs = {3};
  g.ops = {fc};
  g.inputs = {0};
  g.outputs = {3};
  g.metadata.emplace_back(kMetadataName, EncodeMetadata(md));
  auto bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  return WriteFile(path, *bytes);
}

Status WriteFanTflite(const std::string& path, const std::string& metadata_name, float gain,
                      float center, bool int8) {
  using namespace aiot::ml;
  ModelMetadata md = FanMetadata(metadata_name);
  GraphSpec g;
  g.name = metadata_name;
  g.tensors.push_back({"features", TensorType::kFloat32, {1, 4}, {}, {}});
  g.tensors.push_back(
      {"weights", TensorType::kFloat32, {1, 4}, ToBytes(std::vector<float>{0, 0, 0, gain}), {}});
  g.tensors.push_back(
      {"bias", TensorType::kFloat32, {1}, ToBytes(std::vector<float>{-gain * center}), {}});
  g.tensors.push_back({"logit", TensorType::kFloat32, {1, 1}, {}, {}});
  g.tensors.push_back({"score", TensorType::kFloat32, {1, 1}, {}, {}});
  OpSpec fc;
  fc.builtin_code = static_cast<int32_t>(Op::kFullyConnected);
  fc.inputs = {0, 1, 2};
  fc.outputs = {3};
  OpSpec logistic;
  logistic.builtin_code = static_cast<int32_t>(Op::kLogistic);
  logistic.inputs = {3};
  logistic.outputs = {4};
  g.ops = {fc, logistic};
  g.inputs = {0};
  g.outputs = {4};
  if (int8) {
    md.quantization = "int8";
    std::vector<float> calibration;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> sound(0, 120);
    for (int r = 0; r < 512; ++r) {
      calibration.insert(calibration.end(), {600, 40, 150, sound(rng)});
    }
    auto q = QuantizeGraph(g, calibration.data(), 512);
    if (!q.ok()) return q.status();
    g = std::move(q).value();
  }
  g.metadata.clear();
  g.metadata.emplace_back(kMetadataName, EncodeMetadata(md));
  auto bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  return WriteFile(path, *bytes);
}

Status WriteTrainedFanTflite(const std::string& csv_path, const std::string& path, int epochs) {
  (void)csv_path;
  (void)path;
  (void)epochs;
  return aiot::errc::unsupported;
}
#else
Status WriteFanTflite(const std::string&, const std::string&, float, float, bool) {
  return aiot::errc::unsupported;
}
Status WriteFanTtfTflite(const std::string&, const std::string&, float) {
  return aiot::errc::unsupported;
}
Status WriteTrainedFanTflite(const std::string&, const std::string&, int) {
  return aiot::errc::unsupported;
}
#endif

}  // namespace aiot::services::testing
