// `aiot pipeline step register|rollout`: the signed upload with lineage and the canary rollout
// (src/pipeline/README.md), through the registry and OTA APIs `aiot models` / `aiot rollout` use.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "base/errc.h"
#include "base/json.h"
#include "cli/pipeline_step_io.h"
#include "pipeline/dag.h"
#include "registry/api_client.h"

namespace aiot::cli::steps {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// register

struct RegisterArgs {
  StepArgs step;
  std::string run_id, code_version;
  registry::ApiEndpoint api;
};

// The challenger's held-out metrics (numbers only) and its int8 agreement.
Json MetricsOf(const Json& evaluate, const Json* quantize) {
  Json metrics = Json::object();
  const Json* ch = json::Find(evaluate, "challenger");
  const Json* report = ch ? json::Find(*ch, "report") : nullptr;
  if (report != nullptr && report->is_object()) {
    for (const auto& [k, v] : report->items()) {
      if (v.is_number()) metrics["holdout_" + k] = v;
    }
  }
  if (quantize) {
    if (auto a = json::Number(*quantize, "decision_agreement")) metrics["int8_agreement"] = *a;
  }
  return metrics;
}

// Lineage: where the model comes from.
Json LineageOf(const RegisterArgs& a, const Json& extract, const Json& evaluate,
               const Json* train) {
  const Json* window = json::Find(extract, "window");
  const Json* champion = json::Find(evaluate, "champion");
  Json parent = nullptr;
  if (champion && champion->is_object() && json::Int(*champion, "version")) {
    parent = json::StringOr(*champion, "name", "") + "@" +
             std::to_string(*json::Int(*champion, "version"));
  }
  Json l = {{"pipeline_run_id", a.run_id},
            {"code_version", a.code_version},
            {"data_window_from", window ? json::StringOr(*window, "from", "") : ""},
            {"data_window_to", window ? json::StringOr(*window, "to", "") : ""},
            {"data_rows", json::Int(extract, "rows").value_or(0)},
            {"data_sha256", json::StringOr(extract, "data_sha256", "")},
            {"parent_model", parent}};
  if (train) {
    l["recipe"] = json::StringOr(*train, "recipe", "");
    l["seed"] = json::Int(*train, "seed").value_or(0);
    // The model's task, so the registry tells a time-to-failure model from a fault classifier.
    l["task"] = json::StringOr(*train, "task", "classification");
    if (l["task"] == "time_to_failure") {
      l["horizon_h"] = json::Number(*train, "horizon_h").value_or(0);
      if (const Json* d = json::Find(*train, "holdout_devices")) l["holdout_devices"] = *d;
    }
  }
  return l;
}

int RunRegister(RegisterArgs& a, Context& ctx) {
  constexpr const char* kStep = "register";
  std::ifstream in(a.step.File("challenger-int8.tflite"), std::ios::binary);
  if (!in) return Fail(kStep, "cannot open " + a.step.File("challenger-int8.tflite"));
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto extract = ReadJson(a.step.File("extract.json"));
  auto evaluate = ReadJson(a.step.File("evaluate.json"));
  if (!extract.ok()) return Fail(kStep, extract.status().message());
  if (!evaluate.ok()) return Fail(kStep, evaluate.status().message());
  auto quantize = ReadJson(a.step.File("quantize.json"));
  auto train = ReadJson(a.step.File("train.json"));
  registry::VersionUpload up;
  up.name = ModelName(a.step, ctx);
  up.bytes = std::move(bytes);
  up.metrics = MetricsOf(*evaluate, quantize.ok() ? &*quantize : nullptr).dump();
  Json lineage = LineageOf(a, *extract, *evaluate, train.ok() ? &*train : nullptr);
  up.parameters = lineage.dump();
  up.training_data_hash = json::StringOr(*extract, "data_sha256", "");
  if (const Json* champion = json::Find(*evaluate, "champion")) {
    if (json::StringOr(*champion, "name", "") == up.name) {
      up.parent_version = json::Int(*champion, "version").value_or(0);
    }
  }
  ctx.ResolveTokenFile(a.api);
  auto r = registry::PushVersion(*a.api.Client(), up);
  auto j = registry::ReadReply(r, "register");
  if (!j) return Fail(kStep, "the registry did not take the model");
  const int64_t version = json::Int(*j, "version").value_or(0);
  Json report = {{"name", up.name},
                 {"version", version},
                 {"sha256", json::StringOr(*j, "sha256", "")},
                 {"created", r->status == 201},
                 {"parent_version", up.parent_version},
                 {"task", json::StringOr(lineage, "task", "classification")},
                 {"lineage", lineage}};
  if (Status s = WriteJson(a.step.File("register.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  std::cout << "register: " << (r->status == 201 ? "registered " : "already registered as ")
            << up.name << "@" << version << "\n";
  return pipeline::kStepOk;
}

// ---------------------------------------------------------------------------------------------
// rollout

struct RolloutStepArgs {
  StepArgs step;
  double canary_percent = 10, failure_threshold = 0.2;
  int canary_soak_s = 300;
  double poll_s = 2;
  std::string selector;
  registry::ApiEndpoint api;
};

// Polls the rollout until it ends: its last state, or why it could not be read.
Result<Json> WaitForRollout(net::HttpClient& client, const std::string& id, double poll_s) {
  for (;;) {
    auto r = client.Get("/api/v1/rollouts/" + net::HttpClient::Escape(id));
    auto j = registry::ReadReply(r, "rollout status");
    if (!j) return Status(errc::unavailable, "cannot read rollout " + id);
    const std::string state = json::StringOr(*j, "state", "");
    if (state != "canary" && state != "rolling") return *j;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
  }
}

// POST .../versions/N/stage production: the registry publishes the promotion as a model event.
bool Promote(net::HttpClient& client, const std::string& name, int64_t version) {
  auto promoted = client.Call("POST",
                              "/api/v1/models/" + net::HttpClient::Escape(name) + "/versions/" +
                                  std::to_string(version) + "/stage",
                              Json{{"stage", "production"}}.dump());
  return registry::CheckReply(promoted, "promote") == 0;
}

int RunRolloutStep(RolloutStepArgs& a, Context& ctx) {
  constexpr const char* kStep = "rollout";
  auto reg = ReadJson(a.step.File("register.json"));
  if (!reg.ok()) return Fail(kStep, reg.status().message());
  const std::string name = json::StringOr(*reg, "name", "");
  const int64_t version = json::Int(*reg, "version").value_or(0);
  ctx.ResolveTokenFile(a.api);
  auto client = a.api.Client();
  // A time-to-failure model runs in the predictor, beside the fault model, not on the devices:
  // no OTA canary; production at once, which the predictor loads from the model event.
  if (json::StringOr(*reg, "task", "classification") == "time_to_failure") {
    if (!Promote(*client, name, version)) {
      return Fail(kStep, name + "@" + std::to_string(version) + ": the promotion failed");
    }
    const std::string why = name + "@" + std::to_string(version) +
                            " is in production: a time-to-failure model is served by the "
                            "predictor (model event), no OTA rollout to the devices";
    Json report = {{"name", name}, {"version", version},  {"task", "time_to_failure"},
                   {"ota", false}, {"state", "promoted"}, {"reason", why}};
    if (Status s = WriteJson(a.step.File("rollout.json"), report); !s.ok()) {
      return Fail(kStep, s.message());
    }
    std::cout << why << "\n";
    return pipeline::kStepOk;
  }
  Json body = {{"model", name},
               {"version", version},
               {"canary_percent", a.canary_percent},
               {"failure_threshold", a.failure_threshold},
               {"canary_soak_s", a.canary_soak_s}};
  if (!a.selector.empty()) body["selector"] = a.selector;
  auto started =
      registry::ReadReply(client->Call("POST", "/api/v1/rollouts", body.dump()), "rollout start");
  if (!started) return Fail(kStep, "the rollout did not start; the champion keeps serving");
  const std::string id = json::StringOr(*started, "id", "");
  std::cerr << "rollout " << id << " of " << name << "@" << version << " started\n";
  auto end = WaitForRollout(*client, id, a.poll_s);
  if (!end.ok()) return Fail(kStep, end.status().message());
  const std::string state = json::StringOr(*end, "state", "");
  Json report = {{"id", id}, {"name", name}, {"version", version}, {"rollout", *end}};
  if (state == "completed" && !Promote(*client, name, version)) {
    return Fail(kStep, "rollout " + id + " completed but the promotion failed");
  }
  report["state"] = state;
  if (Status s = WriteJson(a.step.File("rollout.json"), report); !s.ok()) {
    return Fail(kStep, s.message());
  }
  if (state != "completed") {
    return Fail(kStep, "rollout " + id + " ended " + state + ": " +
                           json::StringOr(*end, "reason", "") + "; the champion keeps serving");
  }
  std::cout << "rollout " << id << " completed: " << name << "@" << version
            << " is in production\n";
  return pipeline::kStepOk;
}

}  // namespace

void AddRegisterStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<RegisterArgs>();
  auto* cmd = AddStep(step_cmd, "register",
                      "Upload challenger-int8.tflite (signed by the registry) with its metrics "
                      "and lineage: register.json; the same bytes give the same version",
                      a->step);
  cmd->add_option("--run-id", a->run_id, "Pipeline run id (lineage)");
  cmd->add_option("--code-version", a->code_version, "Code version (lineage)");
  a->api.AddFlags(cmd);
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunRegister(*a, ctx); }; });
}

void AddRolloutStep(CLI::App& step_cmd, Context& ctx) {
  auto a = std::make_shared<RolloutStepArgs>();
  auto* cmd = AddStep(step_cmd, "rollout",
                      "Canary rollout of the registered version through OTA, waits for its "
                      "end, then promotes it to production: rollout.json",
                      a->step);
  cmd->add_option("--canary-percent", a->canary_percent, "Canary wave, percent of devices")
      ->capture_default_str();
  cmd->add_option("--canary-soak-s", a->canary_soak_s, "Seconds the canary must stay healthy")
      ->capture_default_str();
  cmd->add_option("--failure-threshold", a->failure_threshold,
                  "Canary failure fraction that rolls back")
      ->capture_default_str();
  cmd->add_option("--selector", a->selector, "Label selector of the devices (default: all)");
  cmd->add_option("--poll-s", a->poll_s, "Seconds between status polls")->capture_default_str();
  a->api.AddFlags(cmd);
  cmd->callback([&ctx, a] { ctx.run = [&ctx, a] { return RunRolloutStep(*a, ctx); }; });
}

}  // namespace aiot::cli::steps
