#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "services/model.h"

namespace aiot::services::testing {

// A transparent model for tests of the stream logic: the score of a row is one of its inputs
// divided by `scale`, clamped to [0, 1], so a test chooses every score through the telemetry it
// sends. (Tests of real models use src/ml's runtime.)
class InputAsScoreModel final : public ScoringModel {
 public:
  InputAsScoreModel(std::string name, std::vector<std::string> features, size_t input, float scale)
      : name_(std::move(name)), features_(std::move(features)), input_(input), scale_(scale) {}

  const std::string& name() const override { return name_; }
  const std::vector<std::string>& features() const override { return features_; }
  size_t input_size() const override { return features_.size(); }
  Status Score(const float* in, size_t rows, float* scores) const override {
    const size_t w = features_.size();
    for (size_t r = 0; r < rows; ++r) {
      scores[r] = std::clamp(in[r * w + input_] / scale_, 0.0f, 1.0f);
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  std::vector<std::string> features_;
  size_t input_;
  float scale_;
};

// Fan features; the score is `sound` / 100, so {"sound":85} scores 0.85.
inline ModelPtr FanModel(std::string name = "test-fan@1") {
  return std::make_shared<InputAsScoreModel>(
      std::move(name), std::vector<std::string>{"rotation", "temperature", "vibration", "sound"}, 3,
      100.0f);
}

}  // namespace aiot::services::testing
