#include "app/pipeline_api.h"

#include <sys/stat.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/json.h"
#include "base/log.h"
#include "registry/http_api.h"
#include "services/messages.h"

namespace aiot::app {
namespace {

using Json = nlohmann::json;
using net::Request;
using net::Response;
namespace http = boost::beast::http;

constexpr size_t kMaxBodyBytes = 64 * 1024;
constexpr size_t kDeadLetterPayloadBytes = 512;

http::status StatusFor(const Status& s) {
  if (s.code() == errc::invalid_argument || s.code() == errc::parse_error) {
    return http::status::bad_request;
  }
  if (s.code() == errc::not_found) return http::status::not_found;
  if (s.code() == errc::already_exists) return http::status::conflict;
  if (s.code() == errc::unavailable) return http::status::service_unavailable;
  return http::status::internal_server_error;
}

Response Error(const Status& s) {
  const bool ours = s.code().category() == aiot_category();
  return net::ErrorResponse(
      StatusFor(s), ours ? ErrcName(static_cast<errc>(s.code().value())) : "internal", s.message());
}

Response Error(http::status status, std::string_view code, std::string_view message) {
  return net::ErrorResponse(status, code, message);
}

bool CanRead(const net::Principal* p) {
  return p != nullptr && (p->HasRole(registry::kRoleAdmin) || p->HasRole(registry::kRoleOperator));
}

// `name` of the route: which DAG; nullptr when it is none.
const pipeline::Dag* DagOf(pipeline::PipelineService& service, std::string_view name) {
  if (name == service.dag().name) return &service.dag();
  if (name == service.extract_dag().name) return &service.extract_dag();
  return nullptr;
}

Json DagJson(const pipeline::Dag& dag) {
  Json steps = Json::array();
  for (const auto& s : dag.steps) {
    steps.push_back({{"name", s.name},
                     {"depends", s.depends},
                     {"params", s.params},
                     {"timeout_s", s.timeout.count()},
                     {"retries", s.retries},
                     {"branch", s.branch ? Json(s.branch->decision) : Json(nullptr)}});
  }
  return {{"name", dag.name}, {"steps", steps}};
}

Response ListPipelines(pipeline::PipelineService& service, Request& req) {
  if (!CanRead(req.principal())) {
    return Error(http::status::forbidden, "forbidden", "pipelines need admin or operator");
  }
  const auto& t = service.config().triggers;
  Json next = nullptr;
  if (auto n = service.NextScheduled()) {
    next = FormatTimestamp(
        std::chrono::duration_cast<std::chrono::nanoseconds>(n->time_since_epoch()).count());
  }
  return net::JsonResponse(
      {{"pipelines", Json::array({DagJson(service.dag()), DagJson(service.extract_dag())})},
       {"runner",
        {{"enabled", service.enabled()},
         {"model", service.model()},
         {"triggers",
          {{"drift", t.drift.enabled},
           {"drift_cooldown_s", t.drift.cooldown_s},
           {"drift_delay_s", t.drift.delay_s},
           {"drift_since_event", t.drift.since_event},
           {"drift_min_new_positives", t.drift.min_new_positives},
           {"schedule", t.schedule},
           {"next_scheduled", next},
           {"min_new_rows", t.min_new_rows}}}}}});
}

Response PostRun(pipeline::PipelineService& service, Request& req) {
  const pipeline::Dag* dag = DagOf(service, req.param("name"));
  if (dag == nullptr) {
    return Error(http::status::not_found, "not_found",
                 "no pipeline `" + std::string(req.param("name")) +
                     "` (continuous-learning, "
                     "extract-data)");
  }
  // Also here: the route's body limit is applied after the header was parsed, so a
  // Content-Length body under the server's limit gets through net's parser.
  if (req.body().size() > kMaxBodyBytes) {
    return Error(http::status::payload_too_large, "payload_too_large",
                 "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes");
  }
  Json body = Json::object();
  if (!req.body().empty()) {
    body = Json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      return Error(http::status::bad_request, "invalid_argument", "the body is not valid JSON");
    }
  }
  auto request = pipeline::ParseRunRequest(body, /*strict=*/true);
  if (!request.ok()) return Error(request.status());
  const bool extract = dag == &service.extract_dag();
  auto id = service.Submit(*request, "api", extract);
  if (!id.ok()) return Error(id.status());
  auto run = service.store().Get(*id);
  if (!run.ok()) return Error(run.status());
  Json j = pipeline::RunJson(*run, false);
  j["params"] = request->params;
  Response response = net::JsonResponse(http::status::created, j);
  response.Header("Location", "/api/v1/pipelines/runs/" + std::to_string(*id));
  return response;
}

// ?limit=N: 1..1000 (default 50).
Result<int> LimitOf(const Request& req) {
  auto text = req.query("limit");
  if (!text) return 50;
  int v = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || p != text->data() + text->size() || v < 1 || v > 1000) {
    return Status(errc::invalid_argument, "limit must be a whole number in 1..1000");
  }
  return v;
}

Response ListRuns(pipeline::PipelineService& service, Request& req) {
  if (!CanRead(req.principal())) {
    return Error(http::status::forbidden, "forbidden", "pipeline runs need admin or operator");
  }
  const pipeline::Dag* dag = DagOf(service, req.param("name"));
  if (dag == nullptr) {
    return Error(http::status::not_found, "not_found",
                 "no pipeline `" + std::string(req.param("name")) + "`");
  }
  auto limit = LimitOf(req);
  if (!limit.ok()) return Error(limit.status());
  pipeline::RunFilter f{.model = std::string(req.query("model").value_or("")),
                        .status = std::nullopt,
                        .limit = *limit,
                        .pipeline = dag->name};
  if (auto st = req.query("status")) {
    for (auto s : {pipeline::RunStatus::kQueued, pipeline::RunStatus::kRunning,
                   pipeline::RunStatus::kSucceeded, pipeline::RunStatus::kFailed,
                   pipeline::RunStatus::kCancelled}) {
      if (*st == pipeline::RunStatusName(s)) f.status = s;
    }
    if (!f.status) {
      return Error(http::status::bad_request, "invalid_argument",
                   "status must be queued, running, succeeded, failed or cancelled");
    }
  }
  auto runs = service.store().List(f);
  if (!runs.ok()) return Error(runs.status());
  Json list = Json::array();
  for (const auto& r : *runs) list.push_back(pipeline::RunJson(r, false));
  return net::JsonResponse({{"runs", list}});
}

// The reports a run's steps wrote into its directory, for the dashboard: `{"drift": {...},
// "evaluate": {...}, ...}`; a file that is missing, larger than 1 MiB or not a JSON object is left
// out (a step that has not run yet, or stopped before writing it).
Json RunReports(const std::string& run_dir) {
  constexpr std::uintmax_t kMaxReportBytes = 1 << 20;
  Json out = Json::object();
  for (const char* name :
       {"extract", "validate", "drift", "train", "evaluate", "quantize", "register", "rollout"}) {
    const std::string path = run_dir + "/" + name + ".json";
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size > kMaxReportBytes) continue;
    std::ifstream in(path, std::ios::binary);
    Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) out[name] = std::move(j);
  }
  return out;
}

Response GetRun(pipeline::PipelineService& service, Request& req) {
  if (!CanRead(req.principal())) {
    return Error(http::status::forbidden, "forbidden", "pipeline runs need admin or operator");
  }
  const std::string_view text = req.param("id");
  int64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || p != text.data() + text.size() || id < 1) {
    return Error(http::status::bad_request, "invalid_argument",
                 "run id must be a positive integer");
  }
  auto run = service.store().Get(id);
  if (!run.ok()) return Error(run.status());
  Json j = pipeline::RunJson(*run, true);
  j["params"] = pipeline::LoadRunParams(service.runs_dir(), id);
  j["run_dir"] = service.runs_dir() + "/" + std::to_string(id);
  j["reports"] = RunReports(j["run_dir"].get<std::string>());
  const pipeline::Dag* dag = DagOf(service, run->pipeline);
  if (dag != nullptr) j["dag"] = DagJson(*dag);
  return net::JsonResponse(j);
}

}  // namespace

// The API's token for the steps: the generated admin token, else an admin principal's.
std::string StepToken(const AppConfig& config, const std::string& admin_token) {
  if (!admin_token.empty()) return admin_token;
  for (const auto& [who, roles] : config.http.auth_roles) {
    auto token = config.http.auth_tokens.find(who);
    if (token == config.http.auth_tokens.end()) continue;
    if (("," + roles + ",").find(",admin,") != std::string::npos) return token->second;
  }
  return {};
}

// http.listen's host, as a client reaches it: loopback for "any address".
std::string ClientHost(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") return "127.0.0.1";
  return host;
}

Result<pipeline::ServiceOptions> EmbeddedRunnerOptions(
    const AppConfig& config, std::function<uint16_t()> port, const std::string& admin_token,
    std::function<Result<int64_t>(int64_t since_ns)> count_rows) {
  namespace fs = std::filesystem;
  pipeline::ServiceOptions o;
  o.data_dir = config.registry.data_dir;
  o.model = config.pipeline.model.empty() ? config.model_name : config.pipeline.model;
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  const std::string path = fs::absolute(fs::path(o.data_dir) / "pipeline-config.yaml").string();
  if (config.pipeline.enabled) {
    AppConfig copy = config;
    const std::string yaml = config::ToYaml(config::DescriberFor(copy));
    std::ofstream out(path, std::ios::trunc);
    ::chmod(path.c_str(), 0600);
    out << "# Written by `aiot up` for the steps of its pipeline runs: the effective "
           "configuration.\n"
        << yaml;
    if (!out) return Status(errc::io_error, "cannot write " + path);
  }
  o.global_args = {"--config", path};
  const std::string token = StepToken(config, admin_token);
  if (token.empty()) {
    log::Get("pipeline")
        ->warn(
            "pipeline runner: no admin token for the steps (http.auth_roles has no admin); "
            "register and rollout will be refused");
  }
  const std::string host = ClientHost(config.http.listen);
  o.child_env = [port = std::move(port), host, token]() -> std::optional<std::vector<std::string>> {
    const uint16_t p = port();
    if (p == 0) return std::nullopt;
    std::vector<std::string> env = {"AIOT_URL=http://" + host + ":" + std::to_string(p)};
    if (!token.empty()) env.push_back("AIOT_TOKEN=" + token);
    return env;
  };
  o.count_rows = std::move(count_rows);
  return o;
}

void RegisterPipelineRoutes(net::Router& router, pipeline::PipelineService& service) {
  auto bind = [&service](Response (*h)(pipeline::PipelineService&, Request&)) {
    return [&service, h](Request& req) { return h(service, req); };
  };
  const net::RouteOptions read{.auth = true, .role = {}, .max_body_bytes = 0};
  const net::RouteOptions admin{
      .auth = true, .role = std::string(registry::kRoleAdmin), .max_body_bytes = kMaxBodyBytes};
  router.Get("/api/v1/pipelines", bind(ListPipelines), read);
  router.Get("/api/v1/pipelines/runs/{id}", bind(GetRun), read);
  router.Get("/api/v1/pipelines/{name}/runs", bind(ListRuns), read);
  router.Post("/api/v1/pipelines/{name}/runs", bind(PostRun), admin);
}

PipelineTopics::PipelineTopics(pipeline::PipelineService& service,
                               std::shared_ptr<mqtt::Client> client, std::string drift_topic,
                               metrics::Registry& registry)
    : service_(service),
      client_(std::move(client)),
      drift_topic_(std::move(drift_topic)),
      rejections_(&registry, "pipeline-control", "pipeline"),
      accepted_(prometheus::BuildCounter()
                    .Name("aiot_pipeline_control_total")
                    .Help("Control messages accepted by the pipeline runner, by command and result")
                    .Register(registry)) {}

void PipelineTopics::Start() {
  const std::string& control = service_.config().control_topic;
  if (!control.empty()) {
    client_->Subscribe(control, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnControl(m.payload.view()); });
  }
  if (!drift_topic_.empty() && service_.config().triggers.drift.enabled) {
    client_->Subscribe(drift_topic_, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnDriftEvent(m.payload.view()); });
  }
}

void PipelineTopics::DeadLetter(std::string_view payload, std::string_view label,
                                std::string_view reason) {
  dead_letters_.fetch_add(1);
  const std::string& topic = service_.config().control_topic;
  rejections_.Reject(topic, label, reason);
  std::string out;
  services::AppendDeadLetter(out, topic, reason, payload, kDeadLetterPayloadBytes);
  (void)client_->Publish(service_.config().deadletter_topic, std::move(out),
                         {.qos = mqtt::QoS::kAtLeastOnce, .retain = false, .properties = {}});
}

void PipelineTopics::OnControl(std::string_view payload) {
  auto m = pipeline::ParseControlMessage(payload, service_.config().max_control_bytes);
  if (!m.ok()) {
    DeadLetter(payload, pipeline::ControlRejectLabel(m.status()), m.status().message());
    return;
  }
  using Command = pipeline::ControlMessage::Command;
  if (m->command == Command::kDeviceCommand) {  // the devices' (src/sim/control.h), not ours
    accepted_.Add({{"command", m->name}, {"result", "ignored"}}).Increment();
    return;
  }
  auto id = service_.Submit(m->request, "control", m->command == Command::kExtractData);
  if (!id.ok() && id.status().code() == errc::invalid_argument) {
    DeadLetter(payload, "bad_field", id.status().message());
    return;
  }
  const char* result = id.ok()                                      ? "started"
                       : id.status().code() == errc::already_exists ? "already_running"
                                                                    : "failed";
  accepted_.Add({{"command", m->name}, {"result", result}}).Increment();
  if (!id.ok()) {
    log::Get("pipeline")->warn("control `{}`: {}", m->name, id.status().message());
  }
}

void PipelineTopics::OnDriftEvent(std::string_view payload) {
  const Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (json::Bool(j, "drift") != true) return;  // drift ended, or not a drift event
  std::string model = json::StringOr(j, "model", "");
  model = model.substr(0, model.find('@'));  // "fan-mlp@3" -> "fan-mlp"
  if (model.empty()) return;
  service_.OnDrift(model, std::chrono::system_clock::now());
}

}  // namespace aiot::app
