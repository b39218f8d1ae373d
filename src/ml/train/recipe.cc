#include "ml/train/recipe.h"

#include <cmath>
#include <filesystem>

#include "base/errc.h"

namespace aiot::ml {

void Describe(config::Visitor& v, TrainRecipe& r) {
  v.Field("data", r.data, "CSV file with a header row.");
  v.Field("label", r.label,
          "Label column (classification: classes; task regression: the target number).");
  v.Field("drop", r.drop, "Columns to ignore, comma separated.");
  v.Field("features", r.features,
          "Feature columns in model input order, comma separated (default: all but the label "
          "and dropped).");
  v.Field("label_map", r.label_map, "Text labels to classes: ok=0,fault=1.");
  v.Choice("task", r.task, {"classification", "regression", "time_to_failure"},
           "classification, regression (label is a number) or time_to_failure (hours to the "
           "device's next failure, from `maintenance`).");
  v.Field("maintenance", r.maintenance,
          "time_to_failure: maintenance records: a CSV (device,kind,at[,mode]), the "
          "datastore's JSON (aiot maintenance list --json) or the platform API's URL.");
  v.Field("device_column", r.ttf.device_column, "time_to_failure: the readings' device column.");
  v.Field("time_column", r.ttf.time_column, "time_to_failure: the readings' time column.");
  v.Field("horizon_h", r.ttf.horizon_h,
          "time_to_failure: cap the target at H hours (0 = no cap; censored readings left out).");
  v.Choice("model", r.model, {"default", "mlp", "gbdt", "auto"},
           "Model family: mlp, gbdt, auto, or default (mlp; gbdt for regression).");
  v.Field("test", r.test, "Test fraction (stratified; whole devices for time_to_failure).");
  v.Field("validation", r.validation, "Validation fraction of the rest.");
  v.Field("seed", r.seed, "Random seed (split, initialisation, shuffling).");
  v.Field("balanced", r.balanced,
          "Weight classes inversely to their frequency (gbdt: scale_pos_weight).");
  v.Field("hidden", r.hidden, "mlp: hidden layer sizes (60,30,10), or none.");
  v.Field("epochs", r.epochs, config::Range{1, 1000000}, "mlp: epochs.");
  v.Field("batch", r.batch, config::Range{1, 1000000}, "mlp: mini-batch size.");
  v.Field("patience", r.patience, config::Range{0, 1000000},
          "mlp: early stopping patience in epochs (0 = off).");
  v.Field("lr", r.lr, "mlp: Adam learning rate.");
  v.Field("l2", r.l2, "mlp: L2 penalty on weights (0 = off).");
  v.Choice("schedule", r.schedule, {"cosine", "constant"}, "mlp: learning-rate schedule.");
  v.Field("int8", r.int8, "Also write a post-training int8 model (mlp only).");
  v.Field("per_channel", r.per_channel, "Per-channel int8 weights.");
  GbdtConfig& g = r.gbdt;
  v.Field("trees", g.trees, config::Range{1, 100000}, "gbdt: boosting rounds (most trees).");
  v.Field("max_depth", g.max_depth, config::Range{0, kMaxTreeDepth},
          "gbdt: depth of each tree (0 = no limit: lossguide with max_leaves 2..65).");
  v.Choice("grow_policy", g.grow_policy, {"depthwise", "lossguide"},
           "gbdt: depthwise (level by level) or lossguide (leaf-wise, best loss reduction first).");
  v.Field("max_leaves", g.max_leaves, config::Range{0, 1 << 20},
          "gbdt: most leaves per tree (0 = no limit).");
  v.Field("parallel_trees", g.parallel_trees, config::Range{1, 100},
          "gbdt: trees per round fitted to the same gradients and averaged (num_parallel_tree).");
  v.Field("learning_rate", g.learning_rate, "gbdt: shrinkage per tree (eta), (0, 1].");
  v.Field("min_child_weight", g.min_child_weight,
          "gbdt: least hessian sum per leaf (-1 = by objective: 10 for classification, 1 for "
          "regression).");
  v.Field("subsample", g.subsample, "gbdt: fraction of rows sampled per tree, (0, 1].");
  v.Field("colsample", g.colsample, "gbdt: fraction of features sampled per tree, (0, 1].");
  v.Field("lambda", g.lambda, "gbdt: L2 penalty on leaf values.");
  v.Field("max_bin", g.max_bin, config::Range{2, 65536}, "gbdt: histogram bins per feature.");
  v.Field("early_stopping_rounds", g.early_stopping_rounds, config::Range{0, 100000},
          "gbdt: stop when the validation loss has not improved for N rounds (0 = off).");
  v.Field("scale_pos_weight", g.scale_pos_weight, "gbdt: weight of class 1 against class 0.");
  v.Field("threads", g.threads, config::Range{0, 1024}, "gbdt: training threads (0 = every core).");
  v.Choice("tree_thresholds", r.tree_thresholds, {"binned", "float"},
           "gbdt: how the model file stores split thresholds: binned (options version 2, about "
           "half the bytes) or float (version 1, for devices running an aiot older than version "
           "2's reader).");
  v.Field("folds", r.folds, config::Range{2, 20}, "auto: cross-validation folds.");
  v.Choice("auto_metric", r.auto_metric, {"roc_auc", "f1"}, "auto: the metric that decides.");
  v.Field("derive", r.derive,
          "Derived features computed inside the model: [\"power = torque * rotation\", ...].");
  v.Choice("calibrate", r.calibrate, {"none", "platt", "isotonic"},
           "Calibrate the score on the validation rows.");
  v.Field("threshold", r.threshold,
          "Decision threshold: a number, f1, precision:P or budget:N (alerts per device-day).");
  v.Field("readings_per_day", r.readings_per_day, "For threshold budget:N: rows per device-day.");
  v.Field("out", r.out, "Output .tflite (float).");
  v.Field("report", r.report, "Also write the metrics JSON to this file.");
  v.Field("int8_out", r.int8_out, "Path of the int8 model (default: OUT.int8.tflite).");
  v.Field("name", r.name, "Model name in the metadata (default: the output file name).");
}

namespace {

bool ParseHidden(const std::string& text, std::vector<int>* out) {
  out->clear();
  if (text == "none" || text == "0") return true;
  const auto items = SplitList(text);
  for (const auto& h : items) {
    double v = 0;
    if (!ParseNumber(h, &v) || v < 1 || v > 4096 || v != std::floor(v)) return false;
    out->push_back(static_cast<int>(v));
  }
  return !items.empty();
}

}  // namespace

void Validate(config::Checks& c, const TrainRecipe& r) {
  auto fraction = [&](const char* key, double v, bool open_zero) {
    if (!(open_zero ? v > 0 : v >= 0) || !(v < 1)) {
      c.Fail(key, open_zero ? "must be in (0, 1)" : "must be in [0, 1)");
    }
  };
  fraction("test", r.test, false);
  fraction("validation", r.validation, false);
  std::vector<int> hidden;
  if (!ParseHidden(r.hidden, &hidden))
    c.Fail("hidden", "must be layer sizes like 60,30,10, or none");
  if (!(r.lr > 0 && r.lr < 1)) c.Fail("lr", "must be in (0, 1)");
  if (!(r.l2 >= 0 && r.l2 < 1)) c.Fail("l2", "must be in [0, 1)");
  if (!(r.gbdt.learning_rate > 0 && r.gbdt.learning_rate <= 1)) {
    c.Fail("learning_rate", "must be in (0, 1]");
  }
  if (!(r.gbdt.subsample > 0 && r.gbdt.subsample <= 1)) c.Fail("subsample", "must be in (0, 1]");
  if (!(r.gbdt.colsample > 0 && r.gbdt.colsample <= 1)) c.Fail("colsample", "must be in (0, 1]");
  if (!(r.gbdt.min_child_weight >= 0) && r.gbdt.min_child_weight != kMinChildWeightByObjective) {
    c.Fail("min_child_weight", "must be >= 0");
  }
  if (!(r.gbdt.lambda >= 0)) c.Fail("lambda", "must be >= 0");
  if (!(r.gbdt.scale_pos_weight > 0) || !std::isfinite(r.gbdt.scale_pos_weight)) {
    c.Fail("scale_pos_weight", "must be a positive number");
  }
  ThresholdRule rule;
  if (!ParseThresholdRule(r.threshold, &rule)) {
    c.Fail("threshold", "must be a number in (0,1), f1, precision:P or budget:N");
  }
  if (!(r.readings_per_day > 0) || !std::isfinite(r.readings_per_day)) {
    c.Fail("readings_per_day", "must be a positive number");
  }
  std::map<std::string, int> label_map;
  if (!r.label_map.empty() && !ParseLabelMap(r.label_map, &label_map)) {
    c.Fail("label_map", "must look like ok=0,fault=1");
  }
  if (!(r.ttf.horizon_h >= 0) || !std::isfinite(r.ttf.horizon_h)) {
    c.Fail("horizon_h", "must be >= 0 hours");
  }
  for (size_t i = 0; i < r.derive.size(); ++i) {
    if (r.derive[i].find('=') == std::string::npos) {
      c.Fail("derive", "item " + std::to_string(i + 1) + " must be `name = expression`");
    }
  }
}

Result<TrainRecipe> LoadTrainRecipe(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status(errc::not_found, "recipe " + path + ": no such file");
  }
  TrainRecipe r;
  try {
    config::LoadYamlFile(path, config::DescriberFor(r));
  } catch (const config::Error& e) {
    return Status(errc::invalid_argument, std::string("recipe ") + path + ":\n" + e.what());
  } catch (const std::exception& e) {
    return Status(errc::invalid_argument, std::string("recipe ") + path + ": " + e.what());
  }
  return r;
}

Result<TrainJob> RecipeJob(const TrainRecipe& r, DatasetSchema* schema) {
  config::Checks checks;
  Validate(checks, r);
  if (!checks.ok()) {
    std::string what;
    for (const auto& p : checks.problems()) what += (what.empty() ? "" : "; ") + p.ToString();
    return Status(errc::invalid_argument, what);
  }
  schema->label = r.label;
  schema->drop = SplitList(r.drop);
  schema->features = SplitList(r.features);
  schema->label_map.clear();
  if (!r.label_map.empty()) ParseLabelMap(r.label_map, &schema->label_map);
  TrainJob job;
  ParseHidden(r.hidden, &job.train.hidden);
  job.train.epochs = r.epochs;
  job.train.batch_size = r.batch;
  job.train.test_fraction = r.test;
  job.train.validation_fraction = r.validation;
  job.train.learning_rate = r.lr;
  job.train.l2 = r.l2;
  job.train.schedule = r.schedule == "constant" ? LrSchedule::kConstant : LrSchedule::kCosine;
  job.train.patience = r.patience;
  job.train.seed = r.seed;
  job.train.balanced_class_weights = r.balanced;
  const bool regression = r.task != "classification";
  job.family = r.model == "gbdt" || (r.model == "default" && regression) ? ModelFamily::kGbdt
               : r.model == "auto"                                       ? ModelFamily::kAuto
                                                                         : ModelFamily::kMlp;
  job.task = regression ? r.task : "regression";
  job.gbdt = r.gbdt;
  job.gbdt.balanced = r.balanced;
  job.tree_encoding = r.tree_thresholds == "float" ? TreeEncoding::kFloat : TreeEncoding::kBinned;
  job.derive = r.derive;
  job.folds = r.folds;
  job.auto_metric = r.auto_metric;
  ParseCalibration(r.calibrate, &job.calibration);
  job.threshold.readings_per_day = r.readings_per_day;
  ParseThresholdRule(r.threshold, &job.threshold);
  job.int8 = r.int8;
  job.quantize.per_channel = r.per_channel;
  job.name = r.name.empty() ? r.out : r.name;
  const size_t slash = job.name.find_last_of('/');
  if (slash != std::string::npos) job.name = job.name.substr(slash + 1);
  return job;
}

Result<TrainJob> StepRecipeJob(const std::string& recipe, TtfOptions* ttf) {
  auto ends_with = [&](std::string_view ext) {
    return recipe.size() > ext.size() &&
           recipe.compare(recipe.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (!ends_with(".yaml") && !ends_with(".yml")) return ParseRecipe(recipe);
  auto r = LoadTrainRecipe(recipe);
  if (!r.ok()) return r.status();
  const bool ttf_task = r->task == "time_to_failure";
  if (r->task != "classification" && !(ttf_task && ttf != nullptr)) {
    return Status(errc::invalid_argument,
                  "recipe " + recipe + ": task " + r->task +
                      ": the pipeline trains classifiers and time-to-failure models");
  }
  if (ttf_task) *ttf = r->ttf;
  DatasetSchema unused;  // the pipeline's data comes from the datastore's schema
  return RecipeJob(*r, &unused);
}

}  // namespace aiot::ml
