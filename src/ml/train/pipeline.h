#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/quant/quantize.h"
#include "ml/tflite/metadata.h"
#include "ml/train/gbdt.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"

namespace aiot::ml {

// Train -> evaluate -> export float -> (optionally) quantize int8 -> evaluate int8, in one call.
// `aiot train` and the MLOps pipeline both use it.
// Model families `aiot train --model` offers.
enum class ModelFamily { kMlp, kGbdt };
const char* ModelFamilyName(ModelFamily f);  // "mlp", "gbdt"

struct TrainJob {
  ModelFamily family = ModelFamily::kMlp;
  TrainConfig train;  // MLP (and the split settings of every family: test, validation, seed)
  GbdtConfig gbdt;    // GBDT; its test/validation fractions and seed are taken from `train`
  bool int8 = false;
  QuantizeOptions quantize;
  size_t calibration_rows = 2000;  // training rows used for int8 calibration (0 = all)
  std::string name = "model";
};

struct TrainOutput {
  ModelFamily family = ModelFamily::kMlp;
  TrainResult result;  // GBDT: split, per-round history, best_epoch = rounds kept, seconds
  size_t trees = 0;    // GBDT: trees in the model
  size_t tree_nodes = 0;
  double scale_pos_weight = 1;  // GBDT, as used
  EvalReport test;              // float model on the test split
  EvalReport test_int8;         // int8 model on the test split (when int8)
  double int8_agreement = 0;    // fraction of test decisions equal between float and int8
  double int8_max_score_diff = 0;
  ModelMetadata metadata;
  std::vector<uint8_t> float_model;  // .tflite bytes
  std::vector<uint8_t> int8_model;   // .tflite bytes (when int8)

  // {"model":..,"train":{..},"test":{..},"int8":{..}} — no trailing newline.
  std::string ToJson() const;
};

// A training recipe as text (the pipeline's `--recipe`, a configuration value): a base, then
// comma-separated overrides of TrainConfig, e.g. "fast,epochs=40,hidden=32x16,balanced=true".
// Bases: "default" (TrainConfig's defaults, the reference recipe) and "fast" (16x8, 30 epochs,
// batch 64, for large data sets and tests). Keys: hidden (sizes joined by x, or none), epochs,
// batch, lr, l2, patience, validation, test, balanced (true/false), schedule (cosine/constant);
// gradient-boosted trees: model=gbdt, trees, depth, eta, min_child_weight, subsample, colsample,
// early_stopping (rounds), scale_pos_weight, threads (e.g. "default,model=gbdt,trees=500,depth=4").
// errc::invalid_argument naming the item.
Result<TrainJob> ParseRecipe(std::string_view recipe);

// Errors are those of the step that failed (Train/TrainGbdt, WriteTflite, the runtime,
// QuantizeGraph). GBDT models have no int8 form yet (errc::unsupported with job.int8).
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
