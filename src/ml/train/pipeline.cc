#include "ml/train/pipeline.h"

#include <algorithm>
#include <cmath>

#include "base/errc.h"
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

// The gbdt keys: model, trees, depth, eta, min_child_weight, subsample, colsample,
// early_stopping, scale_pos_weight, threads. True when `key` is one (`st` then says whether its
// value was valid).
bool SetGbdtRecipeKey(TrainJob& job, std::string_view key, std::string_view value, Status& st) {
  double v = 0;
  const bool number = ParseNumber(value, &v);
  const bool whole = number && v >= 0 && v == std::floor(v) && v < 1e7;
  GbdtConfig& g = job.gbdt;
  bool ok = true;
  if (key == "model") {
    ok = value == "mlp" || value == "gbdt";
    if (ok) job.family = value == "gbdt" ? ModelFamily::kGbdt : ModelFamily::kMlp;
  } else if (key == "trees") {
    ok = whole && v >= 1 && v <= 100000 && ((g.trees = static_cast<int>(v)), true);
  } else if (key == "depth") {
    ok = whole && v >= 1 && v <= kMaxTreeDepth && ((g.max_depth = static_cast<int>(v)), true);
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
  } else {
    return false;
  }
  st = ok ? Status()
          : Status(errc::invalid_argument,
                   "recipe: `" + std::string(key) + "=" + std::string(value) + "` is not valid");
  return true;
}

Status SetRecipeKey(TrainJob& job, std::string_view key, std::string_view value) {
  if (Status st; SetGbdtRecipeKey(job, key, value, st)) return st;
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
                    "l2, patience, validation, test, balanced, schedule; gbdt: model, trees, "
                    "depth, eta, min_child_weight, subsample, colsample, early_stopping, "
                    "scale_pos_weight, threads)");
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

const char* ModelFamilyName(ModelFamily f) { return f == ModelFamily::kGbdt ? "gbdt" : "mlp"; }

namespace {

// GBDT: train with XGBoost, export the trees, score the test split with aiot's runtime.
Result<TrainOutput> TrainGbdtAndExport(const Dataset& data, const TrainJob& job,
                                       const ProgressFn& progress) {
  if (job.int8) {
    return Status(errc::unsupported, "gbdt models have no int8 form yet (drop --int8)");
  }
  GbdtConfig cfg = job.gbdt;
  cfg.test_fraction = job.train.test_fraction;
  cfg.validation_fraction = job.train.validation_fraction;
  cfg.seed = job.train.seed;
  auto r = TrainGbdt(data, cfg, progress);
  if (!r.ok()) return r.status();
  TrainOutput out;
  out.family = ModelFamily::kGbdt;
  out.result.split = r->split;
  out.result.history = r->history;
  out.result.best_epoch = r->best_round;
  out.result.seconds = r->seconds;
  out.trees = r->ensemble.num_trees();
  out.tree_nodes = r->ensemble.nodes.size();
  out.scale_pos_weight = r->scale_pos_weight;
  const Dataset test = data.Subset(r->split.test);
  std::vector<float> margins(test.rows);
  if (test.rows > 0)
    kernels::TreeEnsembleRef(r->ensemble, test.x.data(), static_cast<int>(test.rows),
                             margins.data());
  for (float& m : margins) m = 1.f / (1.f + std::exp(-m));
  out.test = Evaluate(margins, test.y, 2);
  out.metadata = MakeMetadata(data, r->split.train, ComputeNormalization(data, r->split.train),
                              out.test, job.name);
  out.metadata.metrics.emplace_back("gbdt_trees", static_cast<double>(out.trees));
  auto bytes = WriteTflite(BuildTreeGraph(r->ensemble, out.metadata));
  if (!bytes.ok()) return bytes.status();
  out.float_model = std::move(*bytes);
  auto scores = ScoreRows(out.float_model, test);  // what a device computes
  if (!scores.ok()) return scores.status();
  out.test = Evaluate(*scores, test.y, 2);
  return out;
}

}  // namespace

Result<TrainOutput> TrainAndExport(const Dataset& data, const TrainJob& job,
                                   const ProgressFn& progress) {
  if (job.family == ModelFamily::kGbdt) return TrainGbdtAndExport(data, job, progress);
  TrainOutput out;
  auto r = Train(data, job.train, progress);
  if (!r.ok()) return r.status();
  out.result = std::move(*r);
  const Dataset test = data.Subset(out.result.split.test);
  const int k = data.num_classes();
  out.test = Evaluate(out.result.model.PredictAll(test), test.y, k);
  out.metadata = MakeMetadata(data, out.result.split.train, out.result.model, out.test, job.name);
  auto bytes = WriteTflite(BuildFloatGraph(out.result.model, out.metadata));
  if (!bytes.ok()) return bytes.status();
  out.float_model = std::move(*bytes);
  // The exported model must score the test set exactly like the trainer's reference forward pass.
  auto float_scores = ScoreRows(out.float_model, test);
  if (!float_scores.ok()) return float_scores.status();
  out.test = Evaluate(*float_scores, test.y, k);
  if (job.int8) {
    std::vector<size_t> calib = out.result.split.train;
    if (job.calibration_rows > 0 && calib.size() > job.calibration_rows) {
      calib.resize(job.calibration_rows);  // the split is already shuffled
    }
    auto q = QuantizeModel(out.float_model, data.Subset(calib), job.quantize);
    if (!q.ok()) return q.status();
    out.int8_model = std::move(*q);
    auto q_scores = ScoreRows(out.int8_model, test);
    if (!q_scores.ok()) return q_scores.status();
    out.test_int8 = Evaluate(*q_scores, test.y, k);
    const Agreement agree = DecisionAgreement(*float_scores, *q_scores, k, out.test.threshold);
    out.int8_agreement = agree.decisions;
    out.int8_max_score_diff = agree.max_score_diff;
  }
  return out;
}

std::string TrainOutput::ToJson() const {
  std::string s = "{\"model\":" + JsonString(metadata.name) +
                  ",\"family\":" + JsonString(ModelFamilyName(family)) + ",\"features\":[";
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
  s += "},\"test\":" + aiot::ml::ToJson(test);
  if (!int8_model.empty()) {
    s += ",\"int8\":{\"test\":" + aiot::ml::ToJson(test_int8) +
         ",\"decision_agreement\":" + JsonNumber(int8_agreement) +
         ",\"accuracy_delta\":" + JsonNumber(test_int8.accuracy - test.accuracy) +
         ",\"max_score_diff\":" + JsonNumber(int8_max_score_diff) + "}";
  }
  return s + "}";
}

}  // namespace aiot::ml
