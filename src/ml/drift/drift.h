#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ml/data/dataset.h"
#include "ml/tflite/metadata.h"

// Data drift against a model's reference profile (the training data's per-feature quantiles,
// stored in the model's metadata) and change detection on a score stream.
namespace aiot::ml {

// Population stability index of `values` (n values, `stride` apart) against the reference bins:
// sum over bins of (p - q) * ln(p / q), with empty bins floored at 1e-4. Bin k holds values v with
// edges[k-1] < v <= edges[k] (the rule ComputeProfile uses).
double Psi(const std::vector<float>& ref_fractions, const std::vector<float>& edges,
           const float* values, size_t n, size_t stride = 1);

struct KsResult {
  double statistic = 0;  // sup |F_window - F_reference|
  double p_value = 1;
};
// Two-sample Kolmogorov-Smirnov test of a sorted sample against the reference distribution given by
// 101 quantiles of `n_reference` values (the reference CDF is interpolated between quantiles).
// The p-value uses the asymptotic Kolmogorov distribution with n_eff = n*m/(n+m).
KsResult KsTest(const std::vector<float>& ref_quantiles, uint64_t n_reference, const float* sorted,
                size_t m);
// Survival function of the Kolmogorov distribution with the small-sample correction.
double KolmogorovPValue(double d, double n_effective);

// Page-Hinkley test for an upward shift of a stream's mean (e.g. the anomaly score):
// m_t = sum(x_i - mean_t - delta), alarm when m_t - min(m) > lambda.
class PageHinkley {
 public:
  explicit PageHinkley(double delta = 0.005, double lambda = 50.0, size_t min_samples = 30)
      : delta_(delta), lambda_(lambda), min_samples_(min_samples) {}
  // Adds one value; returns true when a change is detected (then call Reset to re-arm).
  bool Add(double x);
  void Reset();
  double statistic() const { return sum_ - min_sum_; }
  size_t count() const { return n_; }
  double mean() const { return mean_; }

 private:
  double delta_, lambda_;
  size_t min_samples_;
  size_t n_ = 0;
  double mean_ = 0, sum_ = 0, min_sum_ = 0;
};

struct DriftConfig {
  size_t window = 1000;       // recent feature vectors compared with the reference
  size_t min_samples = 100;   // Check() reports nothing below this many
  double psi_moderate = 0.1;  // PSI >= 0.1: moderate shift
  double psi_significant = 0.25;
  double ks_alpha = 0.05;  // family-wise; each feature is tested at alpha / features (Bonferroni)
  // Effect size: a KS rejection counts only when the statistic D (the largest gap between the two
  // CDFs) is at least this. With thousands of readings, autocorrelated telemetry rejects at any
  // alpha for gaps too small to matter; 0 = the p-value alone decides.
  double ks_min_statistic = 0;
};

struct FeatureDrift {
  std::string name;
  double psi = 0;
  std::string psi_level;  // "none", "moderate", "significant"
  double ks_statistic = 0;
  double ks_p_value = 1;
  bool ks_drift = false;  // p < alpha / features and D >= ks_min_statistic
  double window_mean = 0;
  double reference_mean = 0;
};

struct DriftReport {
  size_t samples = 0;
  double ks_alpha_per_feature = 0;
  double ks_min_statistic = 0;
  std::vector<FeatureDrift> features;
  bool drift = false;  // any feature with significant PSI or a KS rejection
  std::string ToJson() const;
};

// Compares rows (row-major, metadata.features.size() values each) with the model's reference.
DriftReport CompareToReference(const ModelMetadata& metadata, const float* rows, size_t n,
                               const DriftConfig& config = {});

// The reference profile of a data set, as a model's metadata carries it for its training rows
// (per-feature quantiles and PSI bins, mean, min, max): to compare one window of data with
// another through CompareToReference (the pipeline's drift step).
ModelMetadata ProfileOf(const Dataset& data);

// A sliding window of the most recent feature vectors, checked against the model's reference
// profile. Add() is O(features) and allocates nothing; Check() sorts a copy of the window (scratch
// allocated once). For the streaming predictor: Add every scored vector, Check every N vectors.
// Not thread-safe.
class DriftMonitor {
 public:
  DriftMonitor(const ModelMetadata& metadata, const DriftConfig& config = {});
  void Add(const float* features);
  size_t size() const { return filled_; }
  DriftReport Check();

 private:
  ModelMetadata metadata_;
  DriftConfig config_;
  size_t features_;
  std::vector<float> ring_;  // window x features
  std::vector<float> scratch_;
  size_t next_ = 0;
  size_t filled_ = 0;
};

}  // namespace aiot::ml
