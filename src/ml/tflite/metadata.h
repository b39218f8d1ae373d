#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace aiot::ml {

// Per-feature facts a model carries: normalisation and the training data's distribution (the
// reference profile for drift detection).
struct FeatureInfo {
  std::string name;
  float mean = 0;
  float stddev = 1;
  float min = 0;
  float max = 0;
  std::vector<float> quantiles;      // 101 values: 0%, 1%, ..., 100%
  std::vector<float> psi_edges;      // 9 inner edges of 10 quantile bins
  std::vector<float> psi_fractions;  // 10 reference fractions
};

struct ModelMetadata {
  std::string name;
  std::string label;
  std::vector<std::string> class_names;
  std::vector<FeatureInfo> features;  // in model input order
  float decision_threshold = 0.5f;    // score >= threshold -> fault (binary models)
  float warning_threshold = 0.5f;     // alert levels on the score
  float critical_threshold = 0.9f;
  std::vector<std::pair<std::string, double>> metrics;  // e.g. test accuracy
  std::string training_data_sha256;
  uint64_t training_rows = 0;
  std::string quantization = "float32";
  std::string created_by = "aiot";
  // Derived features ("power = torque * rotation"): the graph computes them from the raw inputs
  // (`features` lists the raw inputs only).
  std::vector<std::string> derived;
  std::string calibration = "none";  // "platt" / "isotonic": the graph's score is calibrated
  std::string threshold_rule;        // how decision_threshold was chosen (empty: the default)
  // What the output means: "classification" (P(fault) or class probabilities), "regression"
  // (the value of `label`) or "time_to_failure" (hours until the next failure).
  std::string task = "classification";
  bool is_regression() const { return task == "regression" || task == "time_to_failure"; }

  std::vector<std::string> feature_names() const;
  double Metric(const std::string& name, double fallback) const;
};

inline constexpr const char* kMetadataName = "aiot_metadata";

std::vector<uint8_t> EncodeMetadata(const ModelMetadata& m);
// Verifies and decodes; corrupted bytes give errc::corrupted.
Result<ModelMetadata> DecodeMetadata(const uint8_t* data, size_t size);

// Fills quantiles, PSI edges and fractions of `f` from raw values (the training rows).
void ComputeProfile(std::vector<float> values, FeatureInfo* f);

}  // namespace aiot::ml
