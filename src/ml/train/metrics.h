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

// ROC AUC by the rank statistic (ties count half).
double RocAuc(const std::vector<float>& scores, const std::vector<int32_t>& labels);

// {"samples":..,"accuracy":..,...,"confusion":[[..]]} — no trailing newline.
std::string ToJson(const EvalReport& r);

// A JSON number (finite) or null.
std::string JsonNumber(double v);
// A JSON string literal with escapes.
std::string JsonString(const std::string& s);

}  // namespace aiot::ml
