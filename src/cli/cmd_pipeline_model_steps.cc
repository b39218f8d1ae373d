// `aiot pipeline step train|evaluate|quantize|register|rollout`: the pipeline's model steps
// (src/pipeline/README.md). They call what `aiot train|eval|quantize|models|rollout` call.
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>

#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "cli/pipeline_step_io.h"
#include "ml/runtime/model.h"
#include "ml/train/pipeline.h"
#include "ml/train/recipe.h"
#include "pipeline/dag.h"
#include "registry/api_client.h"

namespace aiot::cli::steps {
namespace {

using Json = nlohmann::json;

Status WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  return WriteFileAtomic(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

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

int RunTrainStep(const TrainStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "train";
  auto job = ml::StepRecipeJob(a.recipe);
  if (!job.ok()) return Usage(kStep, "--recipe: " + job.status().message());
  if (!(a.holdout_fraction > 0 && a.holdout_fraction < 1)) {
    return Usage(kStep, "--holdout-fraction must be in (0, 1)");
  }
  job->train.seed = a.seed;
  job->name = ModelName(a.step, ctx);
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
  if (Status s = WriteBytes(a.step.File("challenger.tflite"), out->float_model); !s.ok()) {
    return Fail(kStep, s.message());
  }
  Json report = Json::parse(out->ToJson(), nullptr, false);
  report["recipe"] = a.recipe;
  report["seed"] = a.seed;
  report["holdout_fraction"] = a.holdout_fraction;
  report["holdout_from"] = holdout_from;
  report["train_rows"] = train.rows;
  report["holdout_rows"] = data->rows - train.rows;
  if (Status s = WriteJson(a.step.File("train.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
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
    std::ifstream in(a.champion, std::ios::binary);
    if (!in) return Status(errc::not_found, "cannot open --champion " + a.champion);
    info = {{"source", "file"}, {"path", a.champion}};
    return std::optional<Bytes>(Bytes(std::istreambuf_iterator<char>(in), {}));
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

int RunEvaluate(EvaluateArgs& a, Context& ctx) {
  constexpr const char* kStep = "evaluate";
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
  if (Status s = WriteJson(a.step.File("evaluate.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << why << "\n";
  return promoted ? pipeline::kStepOk : pipeline::kStepStop;
}

void AddEvaluateStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<EvaluateArgs>();
  auto* cmd = AddStep(step_cmd, "evaluate",
                      "Challenger vs the serving champion on the held-out rows: evaluate.json; "
                      "exit 3 = not promoted",
                      a->step);
  cmd->add_option("--metric", a->metric, "f1, accuracy, precision, recall or roc_auc")
      ->capture_default_str();
  cmd->add_option("--margin", a->margin, "How much worse than the champion is still promoted")
      ->capture_default_str();
  cmd->add_option("--floor", a->floor, "The metric's minimum")->capture_default_str();
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

int RunQuantizeStep(const QuantizeStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "quantize";
  auto holdout_from = HoldoutFrom(a.step);
  if (!holdout_from.ok()) return Fail(kStep, holdout_from.status().message());
  auto model = ml::Model::FromFile(a.step.File("challenger.tflite"));
  if (!model.ok()) return Fail(kStep, model.status().message());
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
  if (Status s = WriteBytes(a.step.File("challenger-int8.tflite"), *q); !s.ok()) {
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
