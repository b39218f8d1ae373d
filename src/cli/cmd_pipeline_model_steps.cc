// `aiot pipeline step train|evaluate|quantize|register|rollout`: the pipeline's model steps
// (src/pipeline/README.md). They call what `aiot train|eval|quantize|models|rollout` call.
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "cli/pipeline_step_io.h"
#include "cli/pipeline_ttf_io.h"
#include "ml/runtime/model.h"
#include "ml/train/pipeline.h"
#include "ml/train/recipe.h"
#include "pipeline/dag.h"
#include "registry/api_client.h"

namespace aiot::cli::steps {
namespace {

using Json = nlohmann::json;

// The time-ordered split train.json recorded: rows at or after `holdout_from` are held out.
Result<std::string> HoldoutFrom(const StepArgs& step) {
  auto train = ReadJson(step.File("train.json"));
  if (!train.ok()) return train.status();
  auto from = json::String(*train, "holdout_from");
  if (!from || from->empty()) {
    return Status(errc::parse_error, step.File("train.json") + " has no holdout_from");
  }
  return *from;
}

// ---------------------------------------------------------------------------------------------
// train

struct TrainStepArgs {
  StepArgs step;
  std::string recipe = "default";
  uint64_t seed = 42;
  double holdout_fraction = 0.2;
};

bool IsTimeToFailure(const Json& train_report) {
  return json::StringOr(train_report, "task", "") == "time_to_failure";
}

// challenger.tflite and train.json: the trainer's report, the step's arguments and the task's
// own `fields` (its split).
Status WriteTrainOutputs(const TrainStepArgs& a, const ml::TrainOutput& out, const Json& fields) {
  if (Status s = WriteFileAtomic(a.step.File("challenger.tflite"), out.float_model); !s.ok())
    return s;
  Json report = Json::parse(out.ToJson(), nullptr, false);
  report["recipe"] = a.recipe;
  report["seed"] = a.seed;
  report["holdout_fraction"] = a.holdout_fraction;
  report.update(fields);
  return WriteJson(a.step.File("train.json"), report);
}

// A time-to-failure recipe (task: time_to_failure): targets from data.csv and maintenance.json
// (LoadTtfRows); whole devices are held out for `evaluate` (adjacent readings of one machine are
// nearly equal, so a time split would score the model on the machines it learnt).
int RunTtfTrainStep(const TrainStepArgs& a, Context& ctx, const ml::TrainJob& job,
                    const ml::TtfOptions& ttf) {
  constexpr const char* kStep = "train";
  TtfRowsRequest req;
  req.data_csv = a.step.File("data.csv");
  req.maintenance_json = a.step.File("maintenance.json");
  req.label_column = ctx.Config().fields.label;
  req.horizon_h = ttf.horizon_h;
  auto rows = LoadTtfRows(req);
  if (!rows.ok()) return Fail(kStep, rows.status().message());
  const std::set<std::string> devices(rows->devices.begin(), rows->devices.end());
  std::cerr << "train: time to failure: " << rows->stats.rows << " readings, "
            << rows->stats.failures << " failures; kept " << rows->stats.exact
            << " with a failure ahead and " << rows->stats.capped << " at the " << ttf.horizon_h
            << " h horizon, left out " << rows->stats.censored << " censored\n";
  if (devices.size() < 3 || rows->data.rows < 20) {
    return Fail(kStep, std::to_string(rows->data.rows) +
                           " readings with a known time to failure on " +
                           std::to_string(devices.size()) +
                           " devices: too few to hold out whole devices (no failures in the "
                           "window? a horizon_h keeps healthy machines' readings)");
  }
  const ml::Split split =
      ml::RandomSplit(rows->data.rows, rows->data.group, a.holdout_fraction, 0, a.seed);
  std::set<std::string> held;
  for (size_t i : split.test) held.insert(rows->devices[i]);
  std::vector<size_t> train_rows = split.train;
  train_rows.insert(train_rows.end(), split.validation.begin(), split.validation.end());
  std::sort(train_rows.begin(), train_rows.end());
  if (held.empty() || held.size() == devices.size() || train_rows.size() < 10) {
    return Fail(kStep, "cannot hold out " + std::to_string(a.holdout_fraction) + " of " +
                           std::to_string(devices.size()) + " devices");
  }
  ml::Dataset train = rows->data.Subset(train_rows);
  train.sha256 = rows->data.sha256;
  std::cerr << "train: " << train.rows << " rows of " << devices.size() - held.size()
            << " devices, " << split.test.size() << " rows of " << held.size()
            << " devices held out; recipe " << a.recipe << "\n";
  auto out = ml::TrainAndExport(train, job, [](const ml::EpochStats& s, int total) {
    if (s.epoch == total || s.epoch % std::max(1, total / 10) == 0) {
      std::cerr << "round " << s.epoch << "/" << total << " loss=" << s.loss << "\n";
    }
  });
  if (!out.ok()) return Fail(kStep, out.status().message());
  Json fields = {{"horizon_h", ttf.horizon_h},
                 {"holdout_devices", held},
                 {"train_rows", train.rows},
                 {"holdout_rows", split.test.size()},
                 {"readings",
                  {{"rows", rows->stats.rows},
                   {"exact", rows->stats.exact},
                   {"capped", rows->stats.capped},
                   {"censored", rows->stats.censored},
                   {"failures", rows->stats.failures}}}};
  if (Status s = WriteTrainOutputs(a, *out, fields); !s.ok()) return Fail(kStep, s.message());
  std::cout << "train: challenger.tflite (time to failure), test MAE " << out->test_regression.mae
            << " h vs the constant predictor's " << out->test_regression.baseline_mae << " h on "
            << out->test_regression.samples << " rows\n";
  return pipeline::kStepOk;
}

int RunTrainStep(const TrainStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "train";
  ml::TtfOptions ttf;
  auto job = ml::StepRecipeJob(a.recipe, &ttf);
  if (!job.ok()) return Usage(kStep, "--recipe: " + job.status().message());
  if (!(a.holdout_fraction > 0 && a.holdout_fraction < 1)) {
    return Usage(kStep, "--holdout-fraction must be in (0, 1)");
  }
  job->train.seed = a.seed;
  job->name = ModelName(a.step, ctx);
  if (job->task == "time_to_failure") return RunTtfTrainStep(a, ctx, *job, ttf);
  std::vector<std::string> times;
  ml::DatasetSchema schema;
  schema.label = ctx.Config().fields.label;
  auto data = LoadRows(a.step.File("data.csv"), schema, {}, &times);
  if (!data.ok()) return Fail(kStep, data.status().message());
  // Time-ordered split: the newest rows are held out for `evaluate` (the export is by time).
  const size_t holdout = static_cast<size_t>(std::llround(a.holdout_fraction * data->rows));
  if (data->rows < 20 || holdout < 1 || holdout >= data->rows) {
    return Fail(kStep, std::to_string(data->rows) + " complete rows: too few to split");
  }
  const std::string holdout_from = times[data->rows - holdout];
  std::vector<size_t> train_rows;
  for (size_t i = 0; i < data->rows && times[i] < holdout_from; ++i) train_rows.push_back(i);
  ml::Dataset train = data->Subset(train_rows);
  train.sha256 = data->sha256;
  std::cerr << "train: " << train.rows << " rows before " << holdout_from << ", "
            << data->rows - train.rows << " held out; recipe " << a.recipe << "\n";
  auto out = ml::TrainAndExport(train, *job, [](const ml::EpochStats& s, int total) {
    if (s.epoch == total || s.epoch % std::max(1, total / 10) == 0) {
      std::cerr << "epoch " << s.epoch << "/" << total << " loss=" << s.loss
                << " val_accuracy=" << s.val_accuracy << "\n";
    }
  });
  if (!out.ok()) return Fail(kStep, out.status().message());
  Json fields = {{"holdout_from", holdout_from},
                 {"train_rows", train.rows},
                 {"holdout_rows", data->rows - train.rows}};
  if (Status s = WriteTrainOutputs(a, *out, fields); !s.ok()) return Fail(kStep, s.message());
  std::cout << "train: challenger.tflite, test f1 " << out->test.f1 << " on " << out->test.samples
            << " rows\n";
  return pipeline::kStepOk;
}

void AddTrainStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<TrainStepArgs>();
  auto* cmd = AddStep(step_cmd, "train",
                      "Train the challenger on data.csv (the newest rows held out): "
                      "challenger.tflite, train.json",
                      a->step);
  cmd->add_option("--recipe", a->recipe,
                  "Training recipe: a recipe file (.yaml/.yml, as aiot train --recipe) or inline "
                  "(default, fast, key=value overrides)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--holdout-fraction", a->holdout_fraction,
                  "Newest fraction of the rows held out for evaluate")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunTrainStep(*a, ctx); }; });
}

// ---------------------------------------------------------------------------------------------
// evaluate

struct EvaluateArgs {
  StepArgs step;
  std::string metric = "f1", champion;
  double margin = 0.01, floor = 0.7;
  registry::ApiEndpoint api;
};

struct Scored {
  Json info = Json::object();
  ml::EvalReport report;
  double value = 0;
};

// A model's metric on the held-out rows (its own features, the configured label).
Result<Scored> Score(const std::vector<uint8_t>& bytes, const EvaluateArgs& a,
                     const std::string& label, const std::string& holdout_from) {
  auto model = ml::Model::FromBytes(bytes);
  if (!model.ok()) return model.status();
  ml::DatasetSchema schema = ml::SchemaFor((*model)->metadata());
  schema.label = label;
  if (schema.features.empty()) return Status(errc::invalid_argument, "no aiot metadata");
  auto rows = LoadRows(a.step.File("data.csv"), schema, RowFilter{holdout_from, ""});
  if (!rows.ok()) return rows.status();
  if (rows->rows == 0) return Status(errc::invalid_argument, "no held-out rows");
  auto report = ml::EvaluateModel(bytes, *rows, (*model)->metadata().decision_threshold);
  if (!report.ok()) return report.status();
  Scored s;
  s.report = *report;
  s.value = *MetricOf(*report, a.metric);
  s.info = {{"sha256", (*model)->sha256()}, {"report", ReportJson(*report)}, {a.metric, s.value}};
  return s;
}

// The champion's bytes: --champion FILE, else the registry's production version (none: empty).
Result<std::optional<std::vector<uint8_t>>> Champion(EvaluateArgs& a, const std::string& model,
                                                     Context& ctx, Json& info) {
  using Bytes = std::vector<uint8_t>;
  if (!a.champion.empty()) {
    auto bytes = ReadWholeFile(a.champion);
    if (!bytes.ok()) return bytes.status().Prefix("--champion");
    info = {{"source", "file"}, {"path", a.champion}};
    return std::optional<Bytes>(Bytes(bytes->begin(), bytes->end()));
  }
  ctx.ResolveTokenFile(a.api);
  auto client = a.api.Client();
  auto prod = client->Get("/api/v1/models/" + net::HttpClient::Escape(model) + "/production");
  if (!prod.ok()) return Status(prod.status().code(), "registry: " + prod.status().message());
  if (prod->status == 404) return std::optional<Bytes>();
  auto j = registry::ReadReply(prod, "production model");
  if (!j) return Status(errc::unavailable, "registry: cannot read the production model");
  const int64_t version = json::Int(*j, "version").value_or(0);
  auto body = registry::DownloadVerified(*client, model, version);
  if (!body.ok()) return body.status();
  info = {{"source", "registry"}, {"name", model}, {"version", version}};
  return std::optional<Bytes>(Bytes(body->begin(), body->end()));
}

std::string Decide(const EvaluateArgs& a, const Scored& ch, const std::optional<Scored>& champ,
                   const Json& champ_info, bool* promoted) {
  std::ostringstream why;
  const std::string who = champ_info.contains("version")
                              ? json::StringOr(champ_info, "name", "?") + "@" +
                                    std::to_string(json::Int(champ_info, "version").value_or(0))
                              : "the champion";
  *promoted = false;
  if (!(ch.value >= a.floor)) {
    why << "not promoted: challenger " << a.metric << " " << ch.value << " is below the floor "
        << a.floor;
  } else if (champ && ch.value < champ->value - a.margin) {
    why << "not promoted: challenger " << a.metric << " " << ch.value << " is worse than " << who
        << "'s " << champ->value << " by " << champ->value - ch.value << " (margin " << a.margin
        << ")";
  } else {
    *promoted = true;
    why << "promoted: challenger " << a.metric << " " << ch.value;
    if (champ) {
      why << " vs " << who << "'s " << champ->value << " (margin " << a.margin << ", floor "
          << a.floor << ")";
    } else {
      why << ", no champion yet (floor " << a.floor << ")";
    }
  }
  return why.str();
}

// Time to failure: a regression model's error on the held-out devices' readings (its own
// features; targets with the challenger's horizon), next to the constant predictor (the
// challenger's training targets' mean).
struct TtfHoldout {
  std::set<std::string> devices;
  double horizon_h = 0, baseline = 0;
};

Result<Scored> ScoreTtf(const std::vector<uint8_t>& bytes, const EvaluateArgs& a,
                        const TtfHoldout& h, const std::string& label, const std::string& metric) {
  auto model = ml::Model::FromBytes(bytes);
  if (!model.ok()) return model.status();
  const ml::ModelMetadata& md = (*model)->metadata();
  if (md.task != "time_to_failure") {
    return Status(errc::invalid_argument,
                  "not a time-to-failure model (metadata task `" + md.task + "`)");
  }
  TtfRowsRequest req;
  req.data_csv = a.step.File("data.csv");
  req.maintenance_json = a.step.File("maintenance.json");
  req.features = md.feature_names();
  req.label_column = label;
  req.horizon_h = h.horizon_h;
  req.devices = h.devices;
  auto rows = LoadTtfRows(req);
  if (!rows.ok()) return rows.status();
  if (rows->data.rows == 0) return Status(errc::invalid_argument, "no held-out rows");
  auto predictions = ml::ScoreRows(bytes, rows->data);
  if (!predictions.ok()) return predictions.status();
  if (predictions->size() != rows->data.rows) {
    return Status(errc::invalid_argument, "the model has more than one output");
  }
  const ml::RegressionReport r =
      ml::EvaluateRegression(*predictions, rows->data.target, h.baseline);
  Json report = Json::parse(ml::ToJson(r), nullptr, false);
  report["baseline_mae"] = r.baseline_mae;
  report["baseline_rmse"] = r.baseline_rmse;
  Scored s;
  s.report.samples = r.samples;
  s.value = metric == "rmse" ? r.rmse : r.mae;
  s.info = {{"sha256", (*model)->sha256()},
            {"report", report},
            {metric, s.value},
            {"baseline_" + metric, metric == "rmse" ? r.baseline_rmse : r.baseline_mae}};
  return s;
}

// Errors are hours, so lower is better: promoted when the challenger's error is at most `floor`
// times the constant predictor's on the same rows and at most (1 + margin) times the champion's.
std::string DecideTtf(const EvaluateArgs& a, const std::string& metric, const Scored& ch,
                      const std::optional<Scored>& champ, const Json& champ_info, bool* promoted) {
  std::ostringstream why;
  const std::string who = champ_info.contains("version")
                              ? json::StringOr(champ_info, "name", "?") + "@" +
                                    std::to_string(json::Int(champ_info, "version").value_or(0))
                              : "the champion";
  const double baseline = json::Number(ch.info, "baseline_" + metric).value_or(0);
  *promoted = false;
  if (!(ch.value <= a.floor * baseline)) {
    why << "not promoted: challenger " << metric << " " << ch.value << " h is above " << a.floor
        << " x the constant predictor's " << baseline << " h (floor)";
  } else if (champ && ch.value > champ->value * (1 + a.margin)) {
    why << "not promoted: challenger " << metric << " " << ch.value << " h is worse than " << who
        << "'s " << champ->value << " h by more than " << a.margin * 100 << " %";
  } else {
    *promoted = true;
    why << "promoted: challenger " << metric << " " << ch.value << " h (constant predictor "
        << baseline << " h)";
    if (champ) {
      why << " vs " << who << "'s " << champ->value << " h (margin " << a.margin << ", floor "
          << a.floor << ")";
    } else {
      why << ", no champion yet (floor " << a.floor << ")";
    }
  }
  return why.str();
}

// evaluate.json, the decision's reason on stdout, and the exit code the DAG branches on (both
// tasks: a classifier and a time-to-failure model).
int FinishEvaluate(const EvaluateArgs& a, const Json& report, const std::string& why,
                   bool promoted) {
  if (Status s = WriteJson(a.step.File("evaluate.json"), report); !s.ok()) {
    return Fail("evaluate", s.message());
  }
  std::cout << why << "\n";
  return promoted ? pipeline::kStepOk : pipeline::kStepStop;
}

int RunEvaluateTtf(EvaluateArgs& a, Context& ctx, const Json& train) {
  constexpr const char* kStep = "evaluate";
  // The pipeline's default metric is a classifier's: a time-to-failure model is judged on its
  // error in hours, mae unless rmse is asked for.
  const std::string metric = a.metric == "rmse" ? "rmse" : "mae";
  if (!(a.floor > 0) || !(a.margin >= 0)) {
    return Usage(kStep, "time to failure: --floor must be > 0 and --margin >= 0");
  }
  TtfHoldout h;
  const Json* devices = json::Find(train, "holdout_devices");
  const Json* test = json::Find(train, "test");
  const Json* baseline = test ? json::Find(*test, "baseline") : nullptr;
  if (devices == nullptr || !devices->is_array() || baseline == nullptr) {
    return Fail(kStep, a.step.File("train.json") + " has no holdout_devices or test baseline");
  }
  for (const auto& d : *devices) {
    if (d.is_string()) h.devices.insert(d.get<std::string>());
  }
  h.horizon_h = json::Number(train, "horizon_h").value_or(0);
  h.baseline = json::Number(*baseline, "value").value_or(0);
  std::ifstream in(a.step.File("challenger.tflite"), std::ios::binary);
  const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  const std::string label = ctx.Config().fields.label;
  auto challenger = ScoreTtf(bytes, a, h, label, metric);
  if (!challenger.ok()) return Fail(kStep, "challenger: " + challenger.status().message());
  const std::string model = ModelName(a.step, ctx);
  Json champ_info = nullptr;
  auto champ_bytes = Champion(a, model, ctx, champ_info);
  if (!champ_bytes.ok()) return Fail(kStep, "champion: " + champ_bytes.status().message());
  std::optional<Scored> champion;
  if (*champ_bytes) {
    auto s = ScoreTtf(**champ_bytes, a, h, label, metric);
    if (!s.ok()) return Fail(kStep, "champion cannot be scored: " + s.status().message());
    champion = *s;
    champ_info.update(s->info);
  }
  bool promoted = false;
  const std::string why = DecideTtf(a, metric, *challenger, champion, champ_info, &promoted);
  Json report = {{"task", "time_to_failure"},
                 {"metric", metric},
                 {"margin", a.margin},
                 {"floor", a.floor},
                 {"horizon_h", h.horizon_h},
                 {"holdout_devices", h.devices},
                 {"holdout_rows", challenger->report.samples},
                 {"challenger", challenger->info},
                 {"champion", champ_info},
                 {"promoted", promoted},
                 {"reason", why}};
  return FinishEvaluate(a, report, why, promoted);
}

int RunEvaluate(EvaluateArgs& a, Context& ctx) {
  constexpr const char* kStep = "evaluate";
  if (auto train = ReadJson(a.step.File("train.json")); train.ok() && IsTimeToFailure(*train)) {
    if (a.metric != "mae" && a.metric != "rmse" && !MetricOf({}, a.metric).ok()) {
      return Usage(kStep, "--metric: mae, rmse (time to failure) or a classifier's metric");
    }
    return RunEvaluateTtf(a, ctx, *train);
  }
  if (!MetricOf({}, a.metric).ok()) return Usage(kStep, MetricOf({}, a.metric).status().message());
  auto holdout_from = HoldoutFrom(a.step);
  if (!holdout_from.ok()) return Fail(kStep, holdout_from.status().message());
  std::ifstream in(a.step.File("challenger.tflite"), std::ios::binary);
  const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  const std::string label = ctx.Config().fields.label;
  auto challenger = Score(bytes, a, label, *holdout_from);
  if (!challenger.ok()) return Fail(kStep, "challenger: " + challenger.status().message());
  const std::string model = ModelName(a.step, ctx);
  Json champ_info = nullptr;
  auto champ_bytes = Champion(a, model, ctx, champ_info);
  if (!champ_bytes.ok()) return Fail(kStep, "champion: " + champ_bytes.status().message());
  std::optional<Scored> champion;
  if (*champ_bytes) {
    auto s = Score(**champ_bytes, a, label, *holdout_from);
    if (!s.ok()) return Fail(kStep, "champion cannot be scored: " + s.status().message());
    champion = *s;
    champ_info.update(s->info);
  }
  bool promoted = false;
  const std::string why = Decide(a, *challenger, champion, champ_info, &promoted);
  Json report = {{"metric", a.metric},
                 {"margin", a.margin},
                 {"floor", a.floor},
                 {"holdout_from", *holdout_from},
                 {"holdout_rows", challenger->report.samples},
                 {"challenger", challenger->info},
                 {"champion", champ_info},
                 {"promoted", promoted},
                 {"reason", why}};
  return FinishEvaluate(a, report, why, promoted);
}

void AddEvaluateStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<EvaluateArgs>();
  auto* cmd = AddStep(step_cmd, "evaluate",
                      "Challenger vs the serving champion on the held-out rows: evaluate.json; "
                      "exit 3 = not promoted",
                      a->step);
  cmd->add_option("--metric", a->metric,
                  "f1, accuracy, precision, recall or roc_auc; a time-to-failure model: mae "
                  "(used for any classifier metric) or rmse")
      ->capture_default_str();
  cmd->add_option("--margin", a->margin,
                  "How much worse than the champion is still promoted (time to failure: a "
                  "fraction of the champion's error)")
      ->capture_default_str();
  cmd->add_option("--floor", a->floor,
                  "The metric's minimum (time to failure: the largest error as a fraction of "
                  "the constant predictor's)")
      ->capture_default_str();
  cmd->add_option("--champion", a->champion,
                  "Champion .tflite file (default: the registry's production version)");
  a->api.AddFlags(cmd);
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunEvaluate(*a, ctx); }; });
}

// ---------------------------------------------------------------------------------------------
// quantize

struct QuantizeStepArgs {
  StepArgs step;
  double min_agreement = 0.99;
  size_t calibration_rows = 2000;
};

// A regression model (time to failure) has no int8 form: the float model is what register
// uploads (challenger-int8.tflite is a copy), served by the predictor, not the devices.
int PassThroughRegression(const QuantizeStepArgs& a, const ml::Model& model) {
  constexpr const char* kStep = "quantize";
  const std::vector<uint8_t> bytes(model.bytes().begin(), model.bytes().end());
  if (Status s = WriteFileAtomic(a.step.File("challenger-int8.tflite"), bytes); !s.ok()) {
    return Fail(kStep, s.message());
  }
  const std::string why = "not quantized: a " + model.metadata().task +
                          " model keeps its float tree thresholds (int8 is for classifiers); "
                          "challenger-int8.tflite is the float model";
  Json report = {{"quantized", false},
                 {"task", model.metadata().task},
                 {"bytes", bytes.size()},
                 {"accepted", true},
                 {"reason", why}};
  if (Status s = WriteJson(a.step.File("quantize.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << why << "\n";
  return pipeline::kStepOk;
}

int RunQuantizeStep(const QuantizeStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "quantize";
  auto model = ml::Model::FromFile(a.step.File("challenger.tflite"));
  if (!model.ok()) return Fail(kStep, model.status().message());
  const std::string& task = (*model)->metadata().task;
  if (task == "time_to_failure" || task == "regression") return PassThroughRegression(a, **model);
  auto holdout_from = HoldoutFrom(a.step);
  if (!holdout_from.ok()) return Fail(kStep, holdout_from.status().message());
  ml::DatasetSchema schema = ml::SchemaFor((*model)->metadata());
  schema.label = ctx.Config().fields.label;
  auto train = LoadRows(a.step.File("data.csv"), schema, RowFilter{"", *holdout_from});
  auto holdout = LoadRows(a.step.File("data.csv"), schema, RowFilter{*holdout_from, ""});
  if (!train.ok()) return Fail(kStep, train.status().message());
  if (!holdout.ok()) return Fail(kStep, holdout.status().message());
  // Calibration: rows spread over the training part.
  std::vector<size_t> calib;
  const size_t stride = std::max<size_t>(1, train->rows / std::max<size_t>(1, a.calibration_rows));
  for (size_t i = 0; i < train->rows; i += stride) calib.push_back(i);
  auto q = ml::QuantizeModel((*model)->bytes(), train->Subset(calib), {});
  if (!q.ok()) return Fail(kStep, q.status().message());
  auto fs = ml::ScoreRows((*model)->bytes(), *holdout);
  auto qs = ml::ScoreRows(*q, *holdout);
  if (!fs.ok() || !qs.ok()) return Fail(kStep, (fs.ok() ? qs : fs).status().message());
  const int k = std::max(2, static_cast<int>((*model)->metadata().class_names.size()));
  const ml::Agreement agree =
      ml::DecisionAgreement(*fs, *qs, k, (*model)->metadata().decision_threshold);
  const bool accepted = agree.decisions >= a.min_agreement;
  if (Status s = WriteFileAtomic(a.step.File("challenger-int8.tflite"), *q); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::ostringstream why;
  why << "quantization " << (accepted ? "accepted" : "rejected") << ": int8 agrees with float on "
      << agree.decisions << " of " << holdout->rows << " held-out decisions ("
      << (accepted ? "at least " : "below ") << a.min_agreement << ")";
  Json report = {{"decision_agreement", agree.decisions},
                 {"max_score_diff", agree.max_score_diff},
                 {"min_agreement", a.min_agreement},
                 {"rows", holdout->rows},
                 {"calibration_rows", calib.size()},
                 {"bytes", q->size()},
                 {"accepted", accepted},
                 {"reason", why.str()}};
  if (Status s = WriteJson(a.step.File("quantize.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << why.str() << "\n";
  return accepted ? pipeline::kStepOk : pipeline::kStepStop;
}

void AddQuantizeStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<QuantizeStepArgs>();
  auto* cmd = AddStep(step_cmd, "quantize",
                      "int8 challenger-int8.tflite, gated on int8-vs-float agreement: "
                      "quantize.json; exit 3 = rejected",
                      a->step);
  cmd->add_option("--min-agreement", a->min_agreement,
                  "Fewest equal decisions (fraction of held-out rows)")
      ->capture_default_str();
  cmd->add_option("--calibration-rows", a->calibration_rows, "Calibration rows")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunQuantizeStep(*a, ctx); }; });
}

}  // namespace

void AddModelSteps(CLI::App& step_cmd, Context& ctx) {
  AddTrainStep(step_cmd, ctx);
  AddEvaluateStep(step_cmd, ctx);
  AddQuantizeStep(step_cmd, ctx);
}

}  // namespace aiot::cli::steps
