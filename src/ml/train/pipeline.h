#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/quant/quantize.h"
#include "ml/tflite/metadata.h"
#include "ml/train/calibrate.h"
#include "ml/train/gbdt.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"

namespace aiot::ml {

// Train -> evaluate -> export float -> (optionally) quantize int8 -> evaluate int8, in one call.
// `aiot train` and the MLOps pipeline both use it.
// Model families `aiot train --model` offers.
// kAuto: TrainAndExport cross-validates logistic regression, the MLP and GBDT and keeps the best.
enum class ModelFamily { kMlp, kGbdt, kAuto };
const char* ModelFamilyName(ModelFamily f);  // "mlp", "gbdt", "auto"

struct TrainJob {
  ModelFamily family = ModelFamily::kMlp;
  TrainConfig train;  // MLP (and the split settings of every family: test, validation, seed)
  GbdtConfig gbdt;    // GBDT; its test/validation fractions and seed are taken from `train`
  // GBDT: how the AIOT_TREE_ENSEMBLE options store thresholds. kBinned writes version 2 when the
  // trees fit it (else version 1); kFloat always version 1, which aiot builds that predate
  // version 2 can load. The scores are the same either way.
  TreeEncoding tree_encoding = TreeEncoding::kBinned;
  bool int8 = false;
  QuantizeOptions quantize;
  size_t calibration_rows = 2000;  // training rows used for int8 calibration (0 = all)
  std::string name = "model";
  // Derived features, "name = expression" (data/derive.h), computed inside the model's graph.
  std::vector<std::string> derive;
  // Binary models: score calibration and the decision threshold, both fitted on the validation
  // rows (the validation fraction must be > 0 unless both are left at their defaults).
  CalibrationMethod calibration = CalibrationMethod::kNone;
  ThresholdRule threshold;  // default: 0.5
  // --model auto: k-fold cross-validation on the non-test rows; the metric is "roc_auc" or "f1"
  // (at 0.5; multi-class: macro F1 always).
  int folds = 3;
  std::string auto_metric = "roc_auc";
  // Recorded as the model's metadata task when the data is a regression data set
  // (Dataset::target): "regression" or "time_to_failure" (hours to the next failure, ttf.h).
  // Regression is GBDT only, without calibration, threshold search or int8.
  std::string task = "regression";
};

// One model family --model auto tried: its cross-validated metric and training time.
struct AutoCandidate {
  std::string name;  // "logistic", "mlp", "gbdt"
  std::vector<double> folds;
  double mean = 0, stddev = 0;
  double seconds = 0;  // training and scoring over all folds
  std::string error;   // when the family could not be trained (then not chosen)
};

struct TrainOutput {
  ModelFamily family = ModelFamily::kMlp;
  TrainResult result;  // GBDT: split, per-round history, best_epoch = rounds kept, seconds
  size_t trees = 0;    // GBDT: trees in the model
  size_t tree_nodes = 0;
  double scale_pos_weight = 1;       // GBDT, as used
  EvalReport test;                   // float model on the test split (classification)
  bool regression = false;           // the data had targets: `test_regression` instead of `test`
  RegressionReport test_regression;  // vs the training targets' mean
  EvalReport test_int8;              // int8 model on the test split (when int8)
  double int8_agreement = 0;         // fraction of test decisions equal between float and int8
  double int8_max_score_diff = 0;
  ModelMetadata metadata;
  std::vector<uint8_t> float_model;  // .tflite bytes
  std::vector<uint8_t> int8_model;   // .tflite bytes (when int8)
  // Binary models: what calibration and the threshold search did on the validation rows.
  Calibration calibration;
  double validation_ece_before = 0, validation_ece_after = 0;
  EvalReport validation;  // the final model on the validation rows, at the chosen threshold
  ThresholdChoice threshold;
  ThresholdRule threshold_rule;
  std::vector<AutoCandidate> candidates;  // --model auto, every family tried
  std::string auto_metric;
  std::string chosen;  // --model auto: the winning candidate's name

  // {"model":..,"train":{..},"test":{..},"int8":{..}} — no trailing newline.
  std::string ToJson() const;
};

// A training recipe as text (the pipeline's `--recipe`, a configuration value): a base, then
// comma-separated overrides of TrainConfig, e.g. "fast,epochs=40,hidden=32x16,balanced=true".
// Bases: "default" (TrainConfig's defaults, the reference recipe) and "fast" (16x8, 30 epochs,
// batch 64, for large data sets and tests). Keys: hidden (sizes joined by x, or none), epochs,
// batch, lr, l2, patience, validation, test, balanced (true/false), schedule (cosine/constant),
// derive (repeatable: "derive=dT = process_temp - air_temp"), calibrate (none/platt/isotonic),
// threshold (0.5, f1, precision:P, budget:N), readings_per_day (for budget);
// gradient-boosted trees: model=gbdt, trees, depth, grow_policy (depthwise/lossguide), max_leaves,
// parallel_trees, eta, min_child_weight, subsample, colsample, early_stopping (rounds),
// scale_pos_weight, threads, tree_thresholds (binned/float) (e.g.
// "default,model=gbdt,trees=500,depth=4"). errc::invalid_argument naming the item.
Result<TrainJob> ParseRecipe(std::string_view recipe);

// The family --model auto picks on `data` (raw and derived columns): each candidate trained on k-1
// folds of the non-test rows and scored on the k-th (stratified folds, job.train.seed); the
// highest mean job.auto_metric wins, ties to the simpler (logistic, then mlp, then gbdt). Returns
// the job to run (family, and hidden = none for logistic) and fills `candidates`.
Result<TrainJob> ChooseFamily(const Dataset& data, const TrainJob& job,
                              std::vector<AutoCandidate>& candidates);

// Errors are those of the step that failed (ParseDerivedList/AddDerived, Train/TrainGbdt,
// WriteTflite, the runtime, QuantizeGraph). GBDT models have no int8 form yet (errc::unsupported
// with job.int8). `data` holds the raw columns: derived features are added here, and the model
// takes the raw columns.
//
// Binary models with job.calibration / job.threshold: the exported graph scores the validation
// rows, the calibration is fitted on them and compiled into the graph (calibrate.h), then the
// calibrated graph scores them again and ChooseThreshold picks metadata.decision_threshold; the
// test report is at that threshold.
Result<TrainOutput> TrainAndExport(const Dataset& data, const TrainJob& job,
                                   const ProgressFn& progress = {});

// Runs a .tflite model (bytes) over every row of `data` and returns num_outputs values per row.
Result<std::vector<float>> ScoreRows(const std::vector<uint8_t>& model, const Dataset& data);

// Scores every row of `data` with a .tflite model and evaluates the scores against the labels at
// `threshold`. `data` must have the model's features in order (SchemaFor).
Result<EvalReport> EvaluateModel(const std::vector<uint8_t>& model, const Dataset& data,
                                 double threshold);

// How often two models (e.g. float and int8) decide alike on the same rows: `a` and `b` are
// ScoreRows outputs (1 value per row for binary models, num_classes otherwise).
struct Agreement {
  double decisions = 1;       // fraction of rows with the same predicted class (1 when no rows)
  double max_score_diff = 0;  // largest |a - b| over all values
};
Agreement DecisionAgreement(const std::vector<float>& a, const std::vector<float>& b,
                            int num_classes, double threshold);

// The schema that reads labelled data for a model: its feature columns in input order, its label
// column, and its text class names mapped back to class ids. Empty features or label when the
// model carries no aiot metadata.
DatasetSchema SchemaFor(const ModelMetadata& metadata);

// Quantizes a float aiot model (bytes) with calibration rows, marking its metadata "int8".
Result<std::vector<uint8_t>> QuantizeModel(const std::vector<uint8_t>& float_model,
                                           const Dataset& calibration,
                                           const QuantizeOptions& options);

}  // namespace aiot::ml
