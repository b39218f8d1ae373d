#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace aiot::ml {

// Classification quality on a labeled set. Binary: precision/recall/F1 of class 1 at `threshold`
// and ROC AUC of the score. Multi-class: macro averages, AUC is NaN.
struct EvalReport {
  size_t samples = 0;
  int num_classes = 2;
  double threshold = 0.5;
  double accuracy = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  double roc_auc = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
  struct PerClass {
    double precision = 0, recall = 0, f1 = 0;
    int64_t support = 0;  // rows of this class
  };
  std::vector<PerClass> per_class;  // one per class
  double ece = 0;                   // binary: ExpectedCalibrationError of the scores; else NaN
};

// `scores`: one probability per row (binary) or num_classes per row (multi-class).
EvalReport Evaluate(const std::vector<float>& scores, const std::vector<int32_t>& labels,
                    int num_classes, double threshold = 0.5);

// Predicted class for one row of scores.
inline int PredictedClass(const float* scores, int num_classes, double threshold) {
  if (num_classes == 2) return scores[0] >= threshold ? 1 : 0;
  int best = 0;
  for (int k = 1; k < num_classes; ++k) {
    if (scores[k] > scores[best]) best = k;
  }
  return best;
}

// Expected calibration error of binary scores: rows in `bins` equal-width score bins, the
// row-weighted mean over bins of |mean score - fraction of positives|. 0 when there are no rows.
double ExpectedCalibrationError(const std::vector<float>& scores,
                                const std::vector<int32_t>& labels, int bins = 10);

// How `aiot train --threshold` picks the decision threshold on validation scores (binary).
struct ThresholdRule {
  enum class Kind { kFixed, kF1, kPrecision, kBudget };
  Kind kind = Kind::kFixed;
  double value = 0.5;  // kFixed: the threshold; kPrecision: the target; kBudget: alerts/device/day
  double readings_per_day = 1440;  // kBudget: rows one device sends per day

  std::string ToString() const;  // "0.5", "f1", "precision:0.9", "budget:2"
};
// Parses "f1", "precision:0.9", "budget:2" or a number in (0, 1); false when malformed.
bool ParseThresholdRule(const std::string& text, ThresholdRule* rule);

struct ThresholdChoice {
  double threshold = 0.5;
  bool target_met = true;  // kPrecision / kBudget: false when no threshold meets the target
  double precision = 0, recall = 0, f1 = 0, alert_rate = 0;  // on the scores given
};
// The threshold `rule` picks on binary `scores` with `labels` (a row is flagged when score >=
// threshold; candidates are the scores themselves):
//   f1            the highest F1 (ties: the higher threshold);
//   precision:P   the highest recall with precision >= P (ties: the higher threshold); when none
//                 reaches P, the highest precision, target_met = false;
//   budget:N      the lowest threshold flagging at most N / readings_per_day of the rows, i.e. at
//                 most N alerts per device per day when each device sends readings_per_day rows.
ThresholdChoice ChooseThreshold(const std::vector<float>& scores,
                                const std::vector<int32_t>& labels, const ThresholdRule& rule);

// ROC AUC by the rank statistic (ties count half).
double RocAuc(const std::vector<float>& scores, const std::vector<int32_t>& labels);

// {"samples":..,"accuracy":..,...,"confusion":[[..]]} — no trailing newline.
std::string ToJson(const EvalReport& r);

// A regression model (e.g. time to failure) against the truth, next to a constant predictor
// (`baseline`, the training targets' mean): the model is worth having only when it beats it.
struct RegressionReport {
  size_t samples = 0;
  double mae = 0, rmse = 0, r2 = 0;  // r2 = 1 - SSE / SST (SST around the truth's own mean)
  double baseline = 0;               // the constant predicted by the baseline
  double baseline_mae = 0, baseline_rmse = 0;
};
RegressionReport EvaluateRegression(const std::vector<float>& predictions,
                                    const std::vector<float>& truth, double baseline);
// {"samples":..,"mae":..,"rmse":..,"r2":..,"baseline":{"value":..,"mae":..,"rmse":..}}
std::string ToJson(const RegressionReport& r);

// A JSON number (finite) or null.
std::string JsonNumber(double v);
// A JSON string literal with escapes.
std::string JsonString(const std::string& s);

}  // namespace aiot::ml
