#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/runtime/tree_ensemble.h"
#include "ml/train/mlp.h"

// Gradient-boosted decision trees, trained with XGBoost (libxgboost's C API, histogram method)
// and converted into aiot's own TreeEnsemble, which the runtime scores without XGBoost.
namespace aiot::ml {

inline constexpr double kMinChildWeightByObjective = -1;
inline constexpr double kClassifierMinChildWeight = 10;

struct GbdtConfig {
  int trees = 300;  // boosting rounds (one tree each for binary classification)
  // 1..kMaxTreeDepth; 0 = no depth limit, only with grow_policy "lossguide" and max_leaves in
  // 2..kMaxTreeDepth + 1 (a tree of L leaves is at most L - 1 deep, within the kernels' limit).
  int max_depth = 6;
  // XGBoost's grow_policy: "depthwise" (level by level, split the nodes nearest the root first)
  // or "lossguide" (leaf-wise: split the leaf with the highest loss reduction first, as LightGBM
  // and scikit-learn's HistGradientBoosting do).
  std::string grow_policy = "depthwise";
  int max_leaves = 0;  // most leaves per tree, 0 = no limit (XGBoost's max_leaves)
  // Trees per boosting round fitted to the same gradients, each on its own subsample/colsample
  // draw, averaged (XGBoost's num_parallel_tree: a boosted random forest). 1 = plain boosting.
  int parallel_trees = 1;
  double learning_rate = 0.1;  // shrinkage (XGBoost's eta)
  // Least hessian sum per leaf (classification: each row adds p(1-p) <= 0.25; regression: 1).
  // kMinChildWeightByObjective: 10 for binary classification (chosen by cross-validation on the
  // training parts of fan.csv and simulator data, BENCHMARKS.md "GBDT defaults chosen without the
  // test rows"), 1 for regression.
  double min_child_weight = kMinChildWeightByObjective;
  double subsample = 1.0;  // rows sampled per tree, (0, 1]
  double colsample = 1.0;  // features sampled per tree, (0, 1]
  double lambda = 1.0;     // L2 penalty on leaf values
  int max_bin = 256;       // histogram bins per feature
  int early_stopping_rounds =
      20;  // stop when validation log loss has not improved for N rounds (0 = off)
  double scale_pos_weight = 1.0;  // weight of class 1 relative to class 0
  bool balanced = false;          // scale_pos_weight = negatives / positives of the training rows
  // Training threads; 0 = every core (XGBoost's OpenMP threads stall on a busy machine).
  int threads = 1;
  uint64_t seed = 42;  // split and row/feature sampling
  double test_fraction = 0.33;
  double validation_fraction = 0.1;  // of the rows left after the test split
};

struct GbdtResult {
  TreeEnsemble ensemble;  // the kept trees, margin space (a LOGISTIC after it gives P(class 1))
  Split split;  // StratifiedSplit(y, 2, test, validation, seed): the MLP's split (regression:
                // RandomSplit)
  std::vector<EpochStats> history;  // per round: loss = training log loss, val_* on validation
  int best_round = 0;               // rounds kept (trees in `ensemble`)
  double scale_pos_weight = 1;      // as used
  double seconds = 0;
  std::vector<uint8_t> booster;  // XGBoost's model of the kept trees (UBJSON), for comparisons
};

// Binary classification (labels 0/1, binary:logistic), or regression when data.regression()
// (reg:squarederror on data.target from the training rows' mean; RandomSplit, by data.group when
// set; history loss = RMSE; scale_pos_weight unused). errc::invalid_argument naming the setting,
// errc::unsupported for more than two classes, errc::internal with XGBoost's message.
Result<GbdtResult> TrainGbdt(const Dataset& data, const GbdtConfig& config,
                             const ProgressFn& progress = {});

// XGBoost's own predictions (XGBoosterPredictFromDMatrix) of a saved model (UBJSON or JSON) on
// `rows` x `cols` row-major values (NaN = missing): probabilities, or margins when `margin`. The
// oracle aiot's converted trees are tested against.
Result<std::vector<float>> XgboostPredict(const std::vector<uint8_t>& model, const float* x,
                                          size_t rows, size_t cols, bool margin = false);

// An XGBoost model (XGBoosterSaveModelToBuffer, format "ubj" or "json") as a TreeEnsemble: gbtree
// booster, objective binary:logistic, reg:logistic or reg:squarederror, one output, numerical
// splits only. Thresholds and leaf values are XGBoost's float32 values exactly (UBJSON stores
// them in binary); nodes are renumbered breadth-first so children follow their parent.
// errc::unsupported / errc::corrupted saying what.
Result<TreeEnsemble> TreeEnsembleFromXgboost(const std::vector<uint8_t>& model, bool ubjson = true);

}  // namespace aiot::ml
