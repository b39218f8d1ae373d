#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/tflite/graph.h"

namespace aiot::ml {

// Score calibration of binary classifiers, fitted on validation rows and compiled into the
// model's graph (builtin ops only), so Scorer, the predictor, devices and stock TFLite all get
// calibrated probabilities with nothing to apply:
//   platt     p = sigmoid(a * logit + b): MUL and ADD between the logit (MLP logits, tree margin)
//             and the LOGISTIC;
//   isotonic  a monotone piecewise-linear map of the score (knots from pool-adjacent-violators,
//             linear between them, flat outside): FULLY_CONNECTED(1 -> K, weights 1, bias -x_k,
//             RELU) -> FULLY_CONNECTED(K -> 1, slope changes, bias y_0, RELU) after the LOGISTIC.
enum class CalibrationMethod { kNone, kPlatt, kIsotonic };
const char* CalibrationName(CalibrationMethod m);  // "none", "platt", "isotonic"
bool ParseCalibration(const std::string& text, CalibrationMethod* m);

struct Calibration {
  CalibrationMethod method = CalibrationMethod::kNone;
  double a = 1, b = 0;   // platt
  std::vector<float> x;  // isotonic knots: scores, strictly increasing
  std::vector<float> y;  // calibrated values at the knots, non-decreasing, in [0, 1]
};

// Platt scaling by Newton's method on the log loss, with Platt's smoothed targets
// ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)).
Calibration FitPlatt(const std::vector<float>& logits, const std::vector<int32_t>& labels);
// Isotonic regression of the labels on the scores (pool adjacent violators, ties pooled); knots
// closer than 1e-3 (or range/200) to the previous one are dropped, so at most ~200 remain.
Calibration FitIsotonic(const std::vector<float>& scores, const std::vector<int32_t>& labels);
// The calibration a float evaluates: isotonic on a score, platt on a logit.
float ApplyCalibration(const Calibration& c, float value);

// The tensor the graph's final LOGISTIC reads (the logit of a binary model); -1 when the graph
// does not end with a LOGISTIC producing its output.
int LogitTensor(const GraphSpec& g);

// Inserts the calibration ops (see above). errc::unsupported when the graph has no final
// LOGISTIC (softmax / multi-class models).
Result<GraphSpec> AddCalibration(GraphSpec g, const Calibration& c);

}  // namespace aiot::ml
