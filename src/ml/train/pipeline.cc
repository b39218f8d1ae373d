#include "ml/train/pipeline.h"

#include <algorithm>
#include <cmath>

#include "base/errc.h"
#include "ml/data/derive.h"
#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {

Result<std::vector<float>> ScoreRows(const std::vector<uint8_t>& bytes, const Dataset& data) {
  auto model = Model::FromBytes(bytes);
  if (!model.ok()) return model.status();
  auto scorer = Scorer::Create(*model, {});
  if (!scorer.ok()) return scorer.status();
  if ((*scorer)->num_features() != static_cast<int>(data.cols)) {
    return Status(errc::invalid_argument,
                  "the model takes " + std::to_string((*scorer)->num_features()) +
                      " features, the data has " + std::to_string(data.cols));
  }
  std::vector<float> out(data.rows * (*scorer)->num_outputs());
  if (data.rows > 0) (*scorer)->ScoreBatch(data.x.data(), data.rows, out.data());
  return out;
}

Result<std::vector<uint8_t>> QuantizeModel(const std::vector<uint8_t>& float_model,
                                           const Dataset& calibration,
                                           const QuantizeOptions& options) {
  auto model = Model::FromBytes(float_model);
  if (!model.ok()) return model.status();
  auto q = QuantizeGraph((*model)->graph(), calibration.x.data(), calibration.rows, options);
  if (!q.ok()) return q.status();
  if ((*model)->has_metadata()) {
    ModelMetadata md = (*model)->metadata();
    md.quantization = options.per_channel ? "int8-per-channel" : "int8";
    for (auto& [name, bytes] : q->metadata) {
      if (name == kMetadataName) bytes = EncodeMetadata(md);
    }
  }
  return WriteTflite(*q);
}

Result<EvalReport> EvaluateModel(const std::vector<uint8_t>& model, const Dataset& data,
                                 double threshold) {
  auto scores = ScoreRows(model, data);
  if (!scores.ok()) return scores.status();
  const int width = static_cast<int>(scores->size() / std::max<size_t>(1, data.rows));
  return Evaluate(*scores, data.y, width <= 1 ? 2 : width, threshold);
}

Agreement DecisionAgreement(const std::vector<float>& a, const std::vector<float>& b,
                            int num_classes, double threshold) {
  Agreement r;
  const size_t width = num_classes == 2 ? 1 : static_cast<size_t>(std::max(1, num_classes));
  const size_t rows = std::min(a.size(), b.size()) / width;
  size_t same = 0;
  for (size_t i = 0; i < rows; ++i) {
    same += PredictedClass(a.data() + i * width, num_classes, threshold) ==
            PredictedClass(b.data() + i * width, num_classes, threshold);
  }
  for (size_t i = 0; i < rows * width; ++i) {
    r.max_score_diff = std::max(r.max_score_diff, static_cast<double>(std::abs(a[i] - b[i])));
  }
  r.decisions = rows ? static_cast<double>(same) / static_cast<double>(rows) : 1;
  return r;
}

DatasetSchema SchemaFor(const ModelMetadata& md) {
  DatasetSchema schema;
  schema.label = md.label;
  schema.features = md.feature_names();
  for (size_t c = 0; c < md.class_names.size(); ++c) {
    if (md.class_names[c] != std::to_string(c))
      schema.label_map[md.class_names[c]] = static_cast<int>(c);
  }
  return schema;
}

namespace {

// The gbdt keys: model, trees, depth, grow_policy, max_leaves, parallel_trees, eta,
// min_child_weight, subsample, colsample, early_stopping, scale_pos_weight, threads. True when
// `key` is one (`st` then says whether its value was valid).
bool SetGbdtRecipeKey(TrainJob& job, std::string_view key, std::string_view value, Status& st) {
  double v = 0;
  const bool number = ParseNumber(value, &v);
  const bool whole = number && v >= 0 && v == std::floor(v) && v < 1e7;
  GbdtConfig& g = job.gbdt;
  bool ok = true;
  if (key == "model") {
    ok = value == "mlp" || value == "gbdt" || value == "auto";
    if (ok) {
      job.family = value == "gbdt"   ? ModelFamily::kGbdt
                   : value == "auto" ? ModelFamily::kAuto
                                     : ModelFamily::kMlp;
    }
  } else if (key == "trees") {
    ok = whole && v >= 1 && v <= 100000 && ((g.trees = static_cast<int>(v)), true);
  } else if (key == "depth") {
    ok = whole && v <= kMaxTreeDepth && ((g.max_depth = static_cast<int>(v)), true);
  } else if (key == "grow_policy") {
    ok = value == "depthwise" || value == "lossguide";
    if (ok) g.grow_policy = std::string(value);
  } else if (key == "max_leaves") {
    ok = whole && v <= (1 << 20) && ((g.max_leaves = static_cast<int>(v)), true);
  } else if (key == "parallel_trees") {
    ok = whole && v >= 1 && v <= 100 && ((g.parallel_trees = static_cast<int>(v)), true);
  } else if (key == "eta") {
    ok = number && v > 0 && v <= 1 && ((g.learning_rate = v), true);
  } else if (key == "min_child_weight") {
    ok = number && v >= 0 && ((g.min_child_weight = v), true);
  } else if (key == "subsample" || key == "colsample") {
    ok =
        number && v > 0 && v <= 1 && (((key == "subsample" ? g.subsample : g.colsample) = v), true);
  } else if (key == "early_stopping") {
    ok = whole && ((g.early_stopping_rounds = static_cast<int>(v)), true);
  } else if (key == "scale_pos_weight") {
    ok = number && v > 0 && std::isfinite(v) && ((g.scale_pos_weight = v), true);
  } else if (key == "threads") {
    ok = whole && v <= 1024 && ((g.threads = static_cast<int>(v)), true);
  } else if (key == "tree_thresholds") {
    ok = value == "binned" || value == "float";
    if (ok) job.tree_encoding = value == "float" ? TreeEncoding::kFloat : TreeEncoding::kBinned;
  } else {
    return false;
  }
  st = ok ? Status()
          : Status(errc::invalid_argument,
                   "recipe: `" + std::string(key) + "=" + std::string(value) + "` is not valid");
  return true;
}

// derive, calibrate, threshold, readings_per_day. True when `key` is one.
bool SetOutputRecipeKey(TrainJob& job, std::string_view key, std::string_view value, Status& st) {
  bool ok = true;
  const std::string v(value);
  if (key == "derive") {
    job.derive.push_back(v);
  } else if (key == "calibrate") {
    ok = ParseCalibration(v, &job.calibration);
  } else if (key == "threshold") {
    ok = ParseThresholdRule(v, &job.threshold);
  } else if (key == "readings_per_day") {
    double d = 0;
    ok = ParseNumber(value, &d) && d > 0 && std::isfinite(d) &&
         ((job.threshold.readings_per_day = d), true);
  } else {
    return false;
  }
  st = ok ? Status()
          : Status(errc::invalid_argument,
                   "recipe: `" + std::string(key) + "=" + v + "` is not valid");
  return true;
}

Status SetRecipeKey(TrainJob& job, std::string_view key, std::string_view value) {
  if (Status st; SetGbdtRecipeKey(job, key, value, st)) return st;
  if (Status st; SetOutputRecipeKey(job, key, value, st)) return st;
  TrainConfig& c = job.train;
  double v = 0;
  const bool number = ParseNumber(value, &v);
  const bool whole = number && v >= 0 && v == std::floor(v) && v < 1e7;
  if (key == "hidden") {
    c.hidden.clear();
    if (value == "none") return {};
    size_t start = 0;
    const std::string text(value);
    while (start <= text.size()) {
      const size_t x = std::min(text.find('x', start), text.size());
      double size = 0;
      if (!ParseNumber(std::string_view(text).substr(start, x - start), &size) || size < 1 ||
          size != std::floor(size) || size > 4096) {
        return Status(errc::invalid_argument,
                      "recipe: hidden=" + text + " must be sizes like 32x16 or none");
      }
      c.hidden.push_back(static_cast<int>(size));
      start = x + 1;
    }
    return {};
  }
  if (key == "schedule" && (value == "cosine" || value == "constant")) {
    c.schedule = value == "cosine" ? LrSchedule::kCosine : LrSchedule::kConstant;
    return {};
  }
  if (key == "balanced" && (value == "true" || value == "false")) {
    c.balanced_class_weights = job.gbdt.balanced = value == "true";
    return {};
  }
  if (key == "epochs" && whole && v >= 1) return c.epochs = static_cast<int>(v), Status();
  if (key == "batch" && whole && v >= 1) return c.batch_size = static_cast<int>(v), Status();
  if (key == "patience" && whole) return c.patience = static_cast<int>(v), Status();
  if (key == "lr" && number && v > 0 && v < 1) return c.learning_rate = v, Status();
  if (key == "l2" && number && v >= 0 && v < 1) return c.l2 = v, Status();
  if (key == "validation" && number && v >= 0 && v < 1) return c.validation_fraction = v, Status();
  if (key == "test" && number && v >= 0 && v < 1) return c.test_fraction = v, Status();
  return Status(errc::invalid_argument,
                "recipe: `" + std::string(key) + "=" + std::string(value) +
                    "` is not a known key with a valid value (hidden, epochs, batch, lr, "
                    "l2, patience, validation, test, balanced, schedule, derive, calibrate, "
                    "threshold, readings_per_day; gbdt: model, trees, depth, eta, "
                    "min_child_weight, subsample, colsample, early_stopping, "
                    "scale_pos_weight, threads, tree_thresholds)");
}

}  // namespace

Result<TrainJob> ParseRecipe(std::string_view recipe) {
  TrainJob job;
  const std::vector<std::string> items = SplitList(std::string(recipe));
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      if (i == 0 && item == "default") continue;
      if (i == 0 && item == "fast") {
        job.train.hidden = {16, 8};
        job.train.epochs = 30;
        job.train.batch_size = 64;
        job.train.learning_rate = 0.005;
        continue;
      }
      return Status(errc::invalid_argument,
                    "recipe: `" + item + "` is not a base (default, fast; first) nor key=value");
    }
    if (Status s = SetRecipeKey(job, std::string_view(item).substr(0, eq),
                                std::string_view(item).substr(eq + 1));
        !s.ok()) {
      return s;
    }
  }
  return job;
}

const char* ModelFamilyName(ModelFamily f) {
  return f == ModelFamily::kGbdt ? "gbdt" : f == ModelFamily::kAuto ? "auto" : "mlp";
}

namespace {

// GBDT: train with XGBoost on `data` (raw and derived columns); the tree graph and the split.
Result<GraphSpec> TrainGbdtGraph(const Dataset& data, const TrainJob& job,
                                 const ProgressFn& progress, TrainOutput& out) {
  if (job.int8) {
    return Status(errc::unsupported, "gbdt models have no int8 form yet (drop --int8)");
  }
  GbdtConfig cfg = job.gbdt;
  cfg.test_fraction = job.train.test_fraction;
  cfg.validation_fraction = job.train.validation_fraction;
  cfg.seed = job.train.seed;
  auto r = TrainGbdt(data, cfg, progress);
  if (!r.ok()) return r.status();
  out.family = ModelFamily::kGbdt;
  out.result.split = r->split;
  out.result.history = r->history;
  out.result.best_epoch = r->best_round;
  out.result.seconds = r->seconds;
  out.trees = r->ensemble.num_trees();
  out.tree_nodes = r->ensemble.nodes.size();
  out.scale_pos_weight = r->scale_pos_weight;
  out.metadata = MakeMetadata(data, r->split.train, ComputeNormalization(data, r->split.train),
                              EvalReport{}, job.name);
  out.metadata.metrics.emplace_back("gbdt_trees", static_cast<double>(out.trees));
  if (data.regression()) {
    out.metadata.task = job.task;
    out.metadata.metrics = {{"gbdt_trees", static_cast<double>(out.trees)}};
  }
  return BuildTreeGraph(r->ensemble, out.metadata, data.regression(), job.tree_encoding);
}

// MLP / logistic regression on `data`; the float graph and the split.
Result<GraphSpec> TrainMlpGraph(const Dataset& data, const TrainJob& job,
                                const ProgressFn& progress, TrainOutput& out) {
  auto r = Train(data, job.train, progress);
  if (!r.ok()) return r.status();
  out.result = std::move(*r);
  out.metadata =
      MakeMetadata(data, out.result.split.train, out.result.model, EvalReport{}, job.name);
  return BuildFloatGraph(out.result.model, out.metadata);
}

// Runs `g` over `data`'s rows and returns tensor `tensor`'s values (one per row).
Result<std::vector<float>> TensorRows(const GraphSpec& g, const Dataset& data, int tensor) {
  InterpreterOptions io;
  io.max_batch = 256;
  auto it = Interpreter::Create(g, io);
  if (!it.ok()) return it.status();
  std::vector<float> out;
  out.reserve(data.rows);
  for (size_t r = 0; r < data.rows; r += 256) {
    const int n = static_cast<int>(std::min<size_t>(256, data.rows - r));
    std::copy_n(data.Row(r), static_cast<size_t>(n) * data.cols, (*it)->input(0, n).f32());
    if (Status st = (*it)->Invoke(n); !st.ok()) return st;
    const TensorView v = (*it)->tensor(tensor, n);
    out.insert(out.end(), v.f32(), v.f32() + n);
  }
  return out;
}

// Replaces the graph's aiot_metadata entry.
void SetMetadata(GraphSpec& g, const ModelMetadata& md) {
  for (auto& [name, bytes] : g.metadata) {
    if (name == kMetadataName) bytes = EncodeMetadata(md);
  }
}

// Binary models: calibration fitted on the validation rows and put into `g`, then the threshold
// chosen on the calibrated validation scores (metadata and `out` record both).
Status CalibrateAndChooseThreshold(const Dataset& raw, const TrainJob& job, GraphSpec& g,
                                   TrainOutput& out) {
  out.threshold_rule = job.threshold;
  const bool fixed = job.threshold.kind == ThresholdRule::Kind::kFixed;
  out.metadata.decision_threshold = static_cast<float>(fixed ? job.threshold.value : 0.5);
  out.metadata.threshold_rule = job.threshold.ToString();
  if (job.calibration == CalibrationMethod::kNone && fixed) return Status::Ok();
  if (raw.num_classes() != 2) {
    return Status(errc::unsupported, "calibration and threshold search are for binary classifiers");
  }
  const Dataset val = raw.Subset(out.result.split.validation);
  if (val.rows == 0) {
    return Status(errc::invalid_argument,
                  "calibration and threshold search need validation rows (--validation > 0)");
  }
  const int logit = LogitTensor(g);
  auto before = TensorRows(g, val, g.outputs[0]);
  if (!before.ok()) return before.status();
  out.validation_ece_before = ExpectedCalibrationError(*before, val.y);
  if (job.calibration != CalibrationMethod::kNone) {
    if (logit < 0) return Status(errc::unsupported, "calibration needs a LOGISTIC output");
    auto z = TensorRows(g, val, logit);
    if (!z.ok()) return z.status();
    out.calibration = job.calibration == CalibrationMethod::kPlatt ? FitPlatt(*z, val.y)
                                                                   : FitIsotonic(*before, val.y);
    auto calibrated = AddCalibration(std::move(g), out.calibration);
    if (!calibrated.ok()) return calibrated.status();
    g = std::move(*calibrated);
    out.metadata.calibration = CalibrationName(job.calibration);
  }
  auto after = TensorRows(g, val, g.outputs[0]);
  if (!after.ok()) return after.status();
  out.validation_ece_after = ExpectedCalibrationError(*after, val.y);
  if (!fixed) {
    out.threshold = ChooseThreshold(*after, val.y, job.threshold);
    out.metadata.decision_threshold = static_cast<float>(out.threshold.threshold);
  }
  out.validation = Evaluate(*after, val.y, 2, out.metadata.decision_threshold);
  return Status::Ok();
}

// The predictor raises its warning at the decision threshold; critical stays above it.
void SetAlertBands(ModelMetadata& md) {
  const float t = md.decision_threshold;
  md.warning_threshold = t;
  md.critical_threshold = std::max(md.critical_threshold, t + (1.f - t) / 2.f);
}

// The test metrics recorded in the metadata.
void SetTestMetrics(ModelMetadata& md, const EvalReport& r) {
  std::vector<std::pair<std::string, double>> keep;
  for (auto& m : md.metrics) {
    if (m.first.rfind("test_", 0) != 0) keep.push_back(m);
  }
  md.metrics = {{"test_accuracy", r.accuracy}, {"test_precision", r.precision},
                {"test_recall", r.recall},     {"test_f1", r.f1},
                {"test_roc_auc", r.roc_auc},   {"test_samples", static_cast<double>(r.samples)}};
  md.metrics.insert(md.metrics.end(), keep.begin(), keep.end());
}

// int8: quantize the float model with training rows, score the test rows, compare decisions.
Status AddInt8(const Dataset& raw, const TrainJob& job, const std::vector<float>& float_scores,
               TrainOutput& out) {
  std::vector<size_t> calib = out.result.split.train;
  if (job.calibration_rows > 0 && calib.size() > job.calibration_rows) {
    calib.resize(job.calibration_rows);  // the split is already shuffled
  }
  auto q = QuantizeModel(out.float_model, raw.Subset(calib), job.quantize);
  if (!q.ok()) return q.status();
  out.int8_model = std::move(*q);
  const Dataset test = raw.Subset(out.result.split.test);
  auto q_scores = ScoreRows(out.int8_model, test);
  if (!q_scores.ok()) return q_scores.status();
  const int k = raw.num_classes();
  out.test_int8 = Evaluate(*q_scores, test.y, k, out.test.threshold);
  const Agreement agree = DecisionAgreement(float_scores, *q_scores, k, out.test.threshold);
  out.int8_agreement = agree.decisions;
  out.int8_max_score_diff = agree.max_score_diff;
  return Status::Ok();
}

// Regression (time to failure): GBDT on data.target, no calibration or threshold; the test rows
// scored by the exported model against a constant predictor (the training targets' mean).
Result<TrainOutput> TrainRegression(const Dataset& raw, const TrainJob& job,
                                    const ProgressFn& progress) {
  if (job.family != ModelFamily::kGbdt) {
    return Status(errc::unsupported, "regression (time to failure) needs --model gbdt");
  }
  if (job.calibration != CalibrationMethod::kNone ||
      job.threshold.kind != ThresholdRule::Kind::kFixed) {
    return Status(errc::invalid_argument,
                  "calibration and threshold search are for classifiers, not regression");
  }
  if (job.task != "regression" && job.task != "time_to_failure") {
    return Status(errc::invalid_argument, "task must be regression or time_to_failure");
  }
  auto derived = ParseDerivedList(job.derive, raw.feature_names);
  if (!derived.ok()) return derived.status();
  auto data = AddDerived(raw, *derived);
  if (!data.ok()) return data.status();
  TrainOutput out;
  out.regression = true;
  auto graph = TrainGbdtGraph(*data, job, progress, out);
  if (!graph.ok()) return graph.status();
  out.metadata.features.resize(raw.cols);
  for (const auto& d : *derived) out.metadata.derived.push_back(d.ToString());
  out.metadata.label = raw.label_name;
  out.metadata.class_names.clear();
  GraphSpec g = WithDerivedFeatures(std::move(*graph), static_cast<int>(raw.cols), *derived);
  SetMetadata(g, out.metadata);
  auto bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  const Dataset test = raw.Subset(out.result.split.test);
  auto predictions = ScoreRows(*bytes, test);
  if (!predictions.ok()) return predictions.status();
  double mean = 0;
  for (size_t i : out.result.split.train) mean += raw.target[i];
  mean /= static_cast<double>(std::max<size_t>(1, out.result.split.train.size()));
  out.test_regression = EvaluateRegression(*predictions, test.target, mean);
  const RegressionReport& r = out.test_regression;
  out.metadata.metrics.insert(out.metadata.metrics.begin(),
                              {{"test_mae", r.mae},
                               {"test_rmse", r.rmse},
                               {"test_r2", r.r2},
                               {"test_baseline_mae", r.baseline_mae},
                               {"test_samples", static_cast<double>(r.samples)}});
  SetMetadata(g, out.metadata);
  bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  out.float_model = std::move(*bytes);
  return out;
}

}  // namespace

Result<TrainOutput> TrainAndExport(const Dataset& raw, const TrainJob& requested,
                                   const ProgressFn& progress) {
  if (raw.regression()) return TrainRegression(raw, requested, progress);
  auto derived = ParseDerivedList(requested.derive, raw.feature_names);
  if (!derived.ok()) return derived.status();
  auto data = AddDerived(raw, *derived);
  if (!data.ok()) return data.status();
  TrainOutput out;
  TrainJob job = requested;
  if (job.family == ModelFamily::kAuto) {
    auto chosen = ChooseFamily(*data, job, out.candidates);
    if (!chosen.ok()) return chosen.status();
    job = std::move(*chosen);
    out.auto_metric = job.auto_metric;
    for (const auto& c : out.candidates) {
      const bool is_chosen =
          (c.name == "gbdt") == (job.family == ModelFamily::kGbdt) &&
          (c.name == "logistic") == (job.family == ModelFamily::kMlp && job.train.hidden.empty());
      if (is_chosen) out.chosen = c.name;
    }
  }
  auto graph = job.family == ModelFamily::kGbdt ? TrainGbdtGraph(*data, job, progress, out)
                                                : TrainMlpGraph(*data, job, progress, out);
  if (!graph.ok()) return graph.status();
  // The model takes the raw columns; the metadata describes those (drift, SchemaFor).
  out.metadata.features.resize(raw.cols);
  for (const auto& d : *derived) out.metadata.derived.push_back(d.ToString());
  GraphSpec g = WithDerivedFeatures(std::move(*graph), static_cast<int>(raw.cols), *derived);
  if (Status st = CalibrateAndChooseThreshold(raw, job, g, out); !st.ok()) return st;
  if (raw.num_classes() == 2) SetAlertBands(out.metadata);
  // The exported model scores the test rows: what a device computes.
  const Dataset test = raw.Subset(out.result.split.test);
  SetMetadata(g, out.metadata);
  auto bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  auto scores = ScoreRows(*bytes, test);
  if (!scores.ok()) return scores.status();
  out.test = Evaluate(*scores, test.y, raw.num_classes(), out.metadata.decision_threshold);
  SetTestMetrics(out.metadata, out.test);
  SetMetadata(g, out.metadata);
  bytes = WriteTflite(g);
  if (!bytes.ok()) return bytes.status();
  out.float_model = std::move(*bytes);
  if (job.int8) {
    if (Status st = AddInt8(raw, job, *scores, out); !st.ok()) return st;
  }
  return out;
}

std::string TrainOutput::ToJson() const {
  std::string s = "{\"model\":" + JsonString(metadata.name) +
                  ",\"family\":" + JsonString(ModelFamilyName(family)) +
                  ",\"task\":" + JsonString(metadata.task) + ",\"features\":[";
  for (size_t i = 0; i < metadata.features.size(); ++i) {
    s += (i ? "," : "") + JsonString(metadata.features[i].name);
  }
  s += "],\"train\":{\"rows\":" + std::to_string(result.split.train.size()) +
       ",\"validation_rows\":" + std::to_string(result.split.validation.size()) +
       ",\"epochs\":" + std::to_string(result.history.size()) +
       ",\"best_epoch\":" + std::to_string(result.best_epoch) +
       ",\"seconds\":" + JsonNumber(result.seconds) +
       ",\"final_loss\":" + JsonNumber(result.history.empty() ? 0 : result.history.back().loss) +
       ",\"data_sha256\":" + JsonString(metadata.training_data_sha256);
  if (family == ModelFamily::kGbdt) {
    s += ",\"trees\":" + std::to_string(trees) + ",\"tree_nodes\":" + std::to_string(tree_nodes) +
         ",\"scale_pos_weight\":" + JsonNumber(scale_pos_weight);
  }
  s += "}";
  if (!candidates.empty()) {
    s += ",\"auto\":{\"metric\":" + JsonString(auto_metric) + ",\"chosen\":" + JsonString(chosen) +
         ",\"candidates\":[";
    for (size_t i = 0; i < candidates.size(); ++i) {
      const AutoCandidate& c = candidates[i];
      s += std::string(i ? "," : "") + "{\"name\":" + JsonString(c.name) +
           ",\"mean\":" + JsonNumber(c.mean) + ",\"stddev\":" + JsonNumber(c.stddev) +
           ",\"seconds\":" + JsonNumber(c.seconds) + ",\"folds\":[";
      for (size_t k = 0; k < c.folds.size(); ++k) s += (k ? "," : "") + JsonNumber(c.folds[k]);
      s += "]" + (c.error.empty() ? std::string() : ",\"error\":" + JsonString(c.error)) + "}";
    }
    s += "]}";
  }
  s += ",\"derived\":[";
  for (size_t i = 0; i < metadata.derived.size(); ++i) {
    s += (i ? "," : "") + JsonString(metadata.derived[i]);
  }
  if (regression) {
    return s + "],\"label\":" + JsonString(metadata.label) +
           ",\"test\":" + aiot::ml::ToJson(test_regression) + "}";
  }
  s += "],\"calibration\":{\"method\":" + JsonString(CalibrationName(calibration.method));
  if (calibration.method == CalibrationMethod::kPlatt) {
    s += ",\"a\":" + JsonNumber(calibration.a) + ",\"b\":" + JsonNumber(calibration.b);
  } else if (calibration.method == CalibrationMethod::kIsotonic) {
    s += ",\"knots\":" + std::to_string(calibration.x.size());
  }
  if (!validation.per_class.empty()) {
    s += ",\"validation_ece_before\":" + JsonNumber(validation_ece_before) +
         ",\"validation_ece_after\":" + JsonNumber(validation_ece_after);
  }
  s += "},\"threshold\":{\"rule\":" + JsonString(threshold_rule.ToString()) +
       ",\"value\":" + JsonNumber(test.threshold);
  if (threshold_rule.kind != ThresholdRule::Kind::kFixed) {
    s += ",\"target_met\":" + std::string(threshold.target_met ? "true" : "false") +
         ",\"validation_precision\":" + JsonNumber(threshold.precision) +
         ",\"validation_recall\":" + JsonNumber(threshold.recall) +
         ",\"validation_f1\":" + JsonNumber(threshold.f1) +
         ",\"validation_alert_rate\":" + JsonNumber(threshold.alert_rate);
    if (threshold_rule.kind == ThresholdRule::Kind::kBudget) {
      s += ",\"readings_per_day\":" + JsonNumber(threshold_rule.readings_per_day) +
           ",\"alerts_per_device_day\":" +
           JsonNumber(threshold.alert_rate * threshold_rule.readings_per_day);
    }
  }
  s += "}";
  if (!validation.per_class.empty()) s += ",\"validation\":" + aiot::ml::ToJson(validation);
  s += ",\"test\":" + aiot::ml::ToJson(test);
  if (!int8_model.empty()) {
    s += ",\"int8\":{\"test\":" + aiot::ml::ToJson(test_int8) +
         ",\"decision_agreement\":" + JsonNumber(int8_agreement) +
         ",\"accuracy_delta\":" + JsonNumber(test_int8.accuracy - test.accuracy) +
         ",\"max_score_diff\":" + JsonNumber(int8_max_score_diff) + "}";
  }
  return s + "}";
}

}  // namespace aiot::ml
