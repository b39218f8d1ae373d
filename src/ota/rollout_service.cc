#include "ota/rollout_service.h"

#include <boost/asio/post.hpp>
#include <future>

#include "base/errc.h"
#include "base/log.h"
#include "registry/http_api.h"

namespace aiot::ota {

struct RolloutService::TimerState {
  explicit TimerState(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::atomic<bool> stopped{false};
};

RolloutService::RolloutService(OtaConfig config, registry::ModelRegistry& models,
                               registry::DeviceRegistry& devices,
                               std::shared_ptr<mqtt::Client> client, const Clock& clock)
    : devices_(devices),
      db_path_(config.db_path.empty() ? models.config().data_dir + "/rollouts.db" : config.db_path),
      client_(std::move(client)),
      manager_(
          std::move(config), models, devices,
          [c = client_](const std::string& topic, std::string payload) {
            Status s =
                c->Publish(topic, mqtt::SharedBytes(std::move(payload)),
                           {.qos = mqtt::QoS::kAtLeastOnce, .retain = false, .properties = {}});
            if (!s.ok()) log::Get("ota")->error("cannot publish to {}: {}", topic, s.message());
          },
          clock),
      timer_(std::make_shared<TimerState>(client_->executor())) {}

RolloutService::~RolloutService() { Stop(); }

Status RolloutService::Open() { return manager_.Open(db_path_); }

void RolloutService::Start() {
  client_->Subscribe(manager_.config().status_topic, mqtt::QoS::kAtLeastOnce,
                     [this](const mqtt::Message& m) { OnStatusMessage(m); });
  boost::asio::post(client_->executor(), [this] { ScheduleTick(); });
}

void RolloutService::Stop() {
  if (timer_->stopped.exchange(true)) return;
  client_->Unsubscribe(manager_.config().status_topic);
  // Cancel on the strand and wait, so no callback touches `this` afterwards.
  std::promise<void> done;
  boost::asio::post(client_->executor(), [t = timer_, &done] {
    t->timer.cancel();
    done.set_value();
  });
  done.get_future().wait_for(std::chrono::seconds(10));
}

void RolloutService::ScheduleTick() {
  if (timer_->stopped) return;
  timer_->timer.expires_after(std::chrono::milliseconds(manager_.config().tick_ms));
  timer_->timer.async_wait([this, t = timer_](const boost::system::error_code& ec) {
    if (ec || t->stopped) return;
    manager_.Tick();
    ScheduleTick();
  });
}

void RolloutService::OnStatusMessage(const mqtt::Message& m) {
  if (timer_->stopped) return;
  std::string_view topic = m.topic;
  std::string_view id = topic.substr(topic.rfind('/') + 1);
  auto status = registry::ParseDeviceStatus(m.payload.view(), id);
  if (!status.ok()) {
    if (!m.payload.empty()) {
      log::Get("ota")->debug("ignoring status on {}: {}", m.topic, status.status().message());
    }
    return;
  }
  // The registry records what was parsed here; it does not read the payload again.
  Status s = devices_.RecordStatus(id, *status, m.payload.view());
  if (!s.ok() && s.error() != make_error_code(errc::not_found)) {
    log::Get("ota")->warn("cannot record status of {}: {}", id, s.ToString());
  }
  manager_.OnStatus(id, *status);
}

nlohmann::json ToJson(const Rollout& r) {
  nlohmann::json counts = nlohmann::json::object();
  for (auto s : {DeviceRolloutState::kPending, DeviceRolloutState::kSent, DeviceRolloutState::kOk,
                 DeviceRolloutState::kFailed, DeviceRolloutState::kRolledBack}) {
    counts[DeviceRolloutStateName(s)] = r.Count(s);
  }
  return {{"id", r.id},
          {"model", r.model},
          {"version", r.version},
          {"state", RolloutStateName(r.state)},
          {"reason", r.reason},
          {"canary_percent", r.canary_percent},
          {"failure_threshold", r.failure_threshold},
          {"canary_soak_s", r.canary_soak_s},
          {"created_at", FormatTimestamp(r.created_at)},
          {"resumed_at", r.resumed_at == 0 ? nlohmann::json(nullptr)
                                           : nlohmann::json(FormatTimestamp(r.resumed_at))},
          {"counts", counts},
          {"devices", DevicesJson(r)}};
}

namespace {

using net::ErrorResponse;
using net::JsonResponse;
using net::Request;
using net::Response;
namespace http = net::http;

Response Forbidden() {
  return ErrorResponse(http::status::forbidden, "forbidden", "rollouts need admin or operator");
}

// The body of POST /api/v1/rollouts:
//   {"model":"fan-mlp","version":3,"selector":"site:north" | "devices":["a","b"],
//    "canary_percent":10,"failure_threshold":0.2,"canary_soak_s":60}
// Returns the request, or why the body is malformed.
Result<RolloutRequest> ParseRolloutBody(const Request& req) {
  const std::string shape =
      R"(body must be {"model":..,"version":N,"selector":"k:v"|"devices":[..],"canary_percent":..,"failure_threshold":..})";
  auto body = req.Json();
  if (!body.ok() || !body->is_object()) return {errc::invalid_argument, shape};
  const auto& j = *body;
  RolloutRequest r;
  if (!j.contains("model") || !j["model"].is_string() || !j.contains("version") ||
      !j["version"].is_number_integer()) {
    return {errc::invalid_argument, shape};
  }
  r.model = j["model"].get<std::string>();
  r.version = j["version"].get<int64_t>();
  if (auto s = j.find("selector"); s != j.end()) {
    if (!s->is_string()) return {errc::invalid_argument, "selector must be a string"};
    Status st = registry::DeviceRegistry::ParseLabelSelector(s->get<std::string>(), &r.selector);
    if (!st.ok()) return st;
  }
  if (auto d = j.find("devices"); d != j.end()) {
    if (!d->is_array()) return {errc::invalid_argument, "devices must be an array of device ids"};
    for (const auto& id : *d) {
      if (!id.is_string())
        return {errc::invalid_argument, "devices must be an array of device ids"};
      r.devices.push_back(id.get<std::string>());
    }
  }
  if (auto p = j.find("canary_percent"); p != j.end()) {
    if (!p->is_number() || p->get<double>() < 0) {
      return {errc::invalid_argument, "canary_percent must be a number from 0 to 100"};
    }
    r.canary_percent = p->get<double>();
  }
  if (auto t = j.find("failure_threshold"); t != j.end()) {
    if (!t->is_number() || t->get<double>() < 0) {
      return {errc::invalid_argument, "failure_threshold must be a number from 0 to 1"};
    }
    r.failure_threshold = t->get<double>();
  }
  if (auto t = j.find("canary_soak_s"); t != j.end()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 0 || t->get<int64_t>() > 86400) {
      return {errc::invalid_argument, "canary_soak_s must be an integer from 0 to 86400"};
    }
    r.canary_soak_s = t->get<int32_t>();
  }
  return r;
}

// POST /api/v1/rollouts
Response StartRollout(RolloutManager& manager, Request& req) {
  if (!registry::IsOperator(req.principal())) return Forbidden();
  auto r = ParseRolloutBody(req);
  if (!r.ok()) {
    if (r.error() == make_error_code(errc::invalid_argument)) {
      return ErrorResponse(http::status::bad_request, "bad_request", r.status().message());
    }
    return registry::ErrorFor(r.status());  // a malformed selector: the registry's code
  }
  r->actor = req.principal()->name;
  auto started = manager.Start(*r);
  if (!started.ok()) {
    if (started.error() == make_error_code(errc::invalid_argument)) {
      return ErrorResponse(http::status::bad_request, "no_targets", started.status().message());
    }
    return registry::ErrorFor(started.status(), "model version or device");
  }
  return JsonResponse(http::status::created, ToJson(*started));
}

// GET /api/v1/rollouts: without the per-device lists.
Response ListRollouts(RolloutManager& manager, Request& req) {
  if (!registry::IsOperator(req.principal())) return Forbidden();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : manager.List()) {
    auto j = ToJson(r);
    j.erase("devices");
    out.push_back(std::move(j));
  }
  return JsonResponse({{"rollouts", out}});
}

Response GetRollout(RolloutManager& manager, Request& req) {
  if (!registry::IsOperator(req.principal())) return Forbidden();
  auto r = manager.Get(req.param("id"));
  if (!r.ok()) return registry::ErrorFor(r.status(), "rollout");
  return JsonResponse(ToJson(*r));
}

// POST /api/v1/rollouts/{id}/abort: 409 finished when it already ended.
Response AbortRollout(RolloutManager& manager, Request& req) {
  if (!registry::IsOperator(req.principal())) return Forbidden();
  auto r = manager.Abort(req.param("id"), "aborted by " + req.principal()->name);
  if (!r.ok()) {
    if (r.error() == make_error_code(errc::invalid_argument)) {
      return ErrorResponse(http::status::conflict, "finished", r.status().message());
    }
    return registry::ErrorFor(r.status(), "rollout");
  }
  return JsonResponse(ToJson(*r));
}

}  // namespace

void RegisterRolloutRoutes(net::Router& router, RolloutManager& manager) {
  using Handler = Response (*)(RolloutManager&, Request&);
  auto bind = [&manager](Handler h) {
    return [&manager, h](Request& req) { return h(manager, req); };
  };
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  router.Post("/api/v1/rollouts", bind(StartRollout), any);
  router.Get("/api/v1/rollouts", bind(ListRollouts), any);
  router.Get("/api/v1/rollouts/{id}", bind(GetRollout), any);
  router.Post("/api/v1/rollouts/{id}/abort", bind(AbortRollout), any);
}

}  // namespace aiot::ota
