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
            if (!s.ok())
              log::Get("ota")->error("cannot publish to {}: {}", topic, s.error().message());
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
  auto status = registry::ParseDeviceStatus(m.payload.view());
  if (!status.ok()) {
    if (!m.payload.empty()) log::Get("ota")->debug("ignoring malformed status on {}", m.topic);
    return;
  }
  Status s = devices_.RecordStatus(id, m.payload.view());
  if (!s.ok() && s.error() != make_error_code(errc::not_found)) {
    log::Get("ota")->warn("cannot record status of {}: {}", id, s.error().message());
  }
  manager_.OnStatus(id, *status);
}

nlohmann::json ToJson(const Rollout& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices) {
    devices.push_back({{"device", d.device},
                       {"canary", d.canary},
                       {"previous_model", d.previous_model},
                       {"state", DeviceRolloutStateName(d.state)},
                       {"error", d.error}});
  }
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
          {"devices", devices}};
}

void RegisterRolloutRoutes(net::Router& router, RolloutManager& manager) {
  using net::ErrorResponse;
  using net::JsonResponse;
  using net::Request;
  using net::Response;
  namespace http = net::http;
  const net::RouteOptions any{.auth = true, .role = {}, .max_body_bytes = 0};
  auto forbidden = [] {
    return ErrorResponse(http::status::forbidden, "forbidden", "rollouts need admin or operator");
  };

  // {"model":"fan-mlp","version":3,"selector":"site:north" | "devices":["a","b"],
  //  "canary_percent":10,"failure_threshold":0.2}
  router.Post(
      "/api/v1/rollouts",
      [&manager, forbidden](Request& req) {
        if (!registry::IsOperator(req.principal())) return forbidden();
        auto body = req.Json();
        auto bad = [] {
          return ErrorResponse(
              http::status::bad_request, "bad_request",
              R"(body must be {"model":..,"version":N,"selector":"k:v"|"devices":[..],"canary_percent":..,"failure_threshold":..})");
        };
        if (!body.ok() || !body->is_object()) return bad();
        const auto& j = *body;
        RolloutRequest r;
        if (!j.contains("model") || !j["model"].is_string() || !j.contains("version") ||
            !j["version"].is_number_integer()) {
          return bad();
        }
        r.model = j["model"].get<std::string>();
        r.version = j["version"].get<int64_t>();
        if (auto s = j.find("selector"); s != j.end()) {
          if (!s->is_string() ||
              !registry::DeviceRegistry::ParseLabelSelector(s->get<std::string>(), &r.selector)) {
            return bad();
          }
        }
        if (auto d = j.find("devices"); d != j.end()) {
          if (!d->is_array()) return bad();
          for (const auto& id : *d) {
            if (!id.is_string() || !IsValidModelName(id.get<std::string>())) return bad();
            r.devices.push_back(id.get<std::string>());
          }
        }
        if (auto p = j.find("canary_percent"); p != j.end()) {
          if (!p->is_number() || p->get<double>() < 0) return bad();
          r.canary_percent = p->get<double>();
        }
        if (auto t = j.find("failure_threshold"); t != j.end()) {
          if (!t->is_number() || t->get<double>() < 0) return bad();
          r.failure_threshold = t->get<double>();
        }
        if (auto t = j.find("canary_soak_s"); t != j.end()) {
          if (!t->is_number_integer() || t->get<int64_t>() < 0 || t->get<int64_t>() > 86400) {
            return bad();
          }
          r.canary_soak_s = t->get<int32_t>();
        }
        r.actor = req.principal()->name;
        auto started = manager.Start(r);
        if (!started.ok()) {
          if (started.error() == make_error_code(errc::invalid_argument)) {
            return ErrorResponse(
                http::status::bad_request, "no_targets",
                "no device matches, or canary_percent/failure_threshold out of range");
          }
          return registry::ErrorFor(started.error(), "model version or device");
        }
        return JsonResponse(http::status::created, ToJson(*started));
      },
      any);

  router.Get(
      "/api/v1/rollouts",
      [&manager, forbidden](Request& req) {
        if (!registry::IsOperator(req.principal())) return forbidden();
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : manager.List()) {
          auto j = ToJson(r);
          j.erase("devices");
          out.push_back(std::move(j));
        }
        return JsonResponse({{"rollouts", out}});
      },
      any);

  router.Get(
      "/api/v1/rollouts/{id}",
      [&manager, forbidden](Request& req) {
        if (!registry::IsOperator(req.principal())) return forbidden();
        auto r = manager.Get(req.param("id"));
        if (!r.ok()) return registry::ErrorFor(r.error(), "rollout");
        return JsonResponse(ToJson(*r));
      },
      any);

  router.Post(
      "/api/v1/rollouts/{id}/abort",
      [&manager, forbidden](Request& req) {
        if (!registry::IsOperator(req.principal())) return forbidden();
        auto r = manager.Abort(req.param("id"), "aborted by " + req.principal()->name);
        if (!r.ok()) {
          if (r.error() == make_error_code(errc::invalid_argument)) {
            return ErrorResponse(http::status::conflict, "finished", "the rollout already ended");
          }
          return registry::ErrorFor(r.error(), "rollout");
        }
        return JsonResponse(ToJson(*r));
      },
      any);
}

}  // namespace aiot::ota
