#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "services/model.h"

// Models for the predictor's tests and benchmarks.
namespace aiot::services::testing {

// A transparent model for tests of the stream logic: the score of a row is one of its inputs
// divided by `scale`, clamped to [0, 1], so a test chooses every score through the telemetry it
// sends.
class InputAsScoreModel final : public ScoringModel {
 public:
  InputAsScoreModel(std::string name, std::vector<std::string> features, size_t input, float scale);
  const std::string& name() const override { return name_; }
  const std::vector<std::string>& features() const override { return features_; }
  size_t input_size() const override { return features_.size(); }
  Status Score(const float* in, size_t rows, float* scores) const override;

 private:
  std::string name_;
  std::vector<std::string> features_;
  size_t input_;
  float scale_;
};

// Fan features; the score is `sound` / 100, so {"sound":85} scores 0.85.
ModelPtr FanModel(std::string name = "test-fan@1");

// Writes a real .tflite fan model (run by src/ml's runtime) with aiot metadata: features
// rotation, temperature, vibration, sound; score = sigmoid(`gain` * (sound - `center`)), so
// sound = center scores 0.5 and sound = center + 4/gain about 0.98. `int8` quantizes it (the
// score then carries int8 rounding). Metadata thresholds: warning 0.5, critical 0.8; the drift
// reference profile is uniform over rotation 600±50, temperature 40±5, vibration 150±25,
// sound 50±5.
Status WriteFanTflite(const std::string& path, const std::string& metadata_name, float gain = 1.0f,
                      float center = 55.0f, bool int8 = false);

// Writes a real .tflite time-to-failure model (metadata task time_to_failure, label
// time_to_failure_h, the fan features and profile of WriteFanTflite): hours = `hours_at_zero` -
// sound, one FULLY_CONNECTED, no LOGISTIC.
Status WriteFanTtfTflite(const std::string& path, const std::string& metadata_name,
                         float hours_at_zero = 100.0f);

// Trains an MLP on the reference data set (fan.csv) for `epochs` and writes it as int8 .tflite.
// For benchmarks: a realistically sized model (60-30-10 hidden units).
Status WriteTrainedFanTflite(const std::string& csv_path, const std::string& path, int epochs);

}  // namespace aiot::services::testing
