#include "sim/device_agent.h"

#include <boost/asio/post.hpp>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/log.h"
#include "sim/control.h"
#include "sim/http_fetch.h"

namespace aiot::sim {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("sim.device");
  return logger;
}

}  // namespace

void Describe(config::Visitor& v, DeviceAgentConfig& c) {
  v.Field("id", c.id, "Device id (also the MQTT client id).");
  v.Field("telemetry_topic", c.telemetry_topic, "Telemetry topic.");
  v.Field("status_prefix", c.status_prefix, "Retained status topic prefix.");
  v.Field("control_prefix", c.control_prefix, "Control topic prefix.");
  v.Field("rate", c.rate, "Readings per second.");
  v.Field("time_scale", c.time_scale, "Device seconds per wall-clock second (simulation).");
  v.Field("qos", c.qos, "Telemetry QoS (0 or 1).");
  v.Field("model_dir", c.model_dir, "Directory for the active and previous model; empty = memory.");
  v.Field("public_key_pem", c.public_key_pem, "The platform's Ed25519 public key (PEM).");
  v.Field("public_key_file", c.public_key_file, "File holding the platform's public key (PEM).");
  v.Field("public_key_url", c.public_key_url,
          "URL of the platform's public key (http://host:port/.well-known/aiot/signing-key).");
  v.Field("token", c.token, "Bearer token for model downloads.");
  v.Field("critical", c.critical, "Score at or above which a reading is critical.");
  v.Field("protect_after", c.protect_after,
          "Consecutive critical readings before the device eases its load (0 = never).");
  v.Field("protect_load", c.protect_load, "Load the device eases to when protecting itself.");
}

void DeviceAgent::SetWill(const DeviceAgentConfig& config, mqtt::MqttClientConfig* client) {
  client->will_topic = config.status_prefix + config.id;
  client->will_payload = R"({"online":false})";
  client->will_qos = 1;
  client->will_retain = true;
}

std::shared_ptr<DeviceAgent> DeviceAgent::Create(DeviceAgentConfig config,
                                                 std::shared_ptr<mqtt::Client> client,
                                                 std::unique_ptr<Sensor> sensor, ModelLoader loader,
                                                 const Clock& clock) {
  return std::shared_ptr<DeviceAgent>(new DeviceAgent(std::move(config), std::move(client),
                                                      std::move(sensor), std::move(loader), clock));
}

DeviceAgent::DeviceAgent(DeviceAgentConfig config, std::shared_ptr<mqtt::Client> client,
                         std::unique_ptr<Sensor> sensor, ModelLoader loader, const Clock& clock)
    : config_(std::move(config)),
      client_(std::move(client)),
      sensor_(std::move(sensor)),
      models_(std::move(loader), config_.model_dir),
      clock_(clock),
      timer_(client_->executor()) {
  public_key_pem_ = config_.public_key_pem;
  if (public_key_pem_.empty() && !config_.public_key_file.empty()) {
    std::ifstream in(config_.public_key_file);
    std::ostringstream s;
    s << in.rdbuf();
    public_key_pem_ = s.str();
    if (public_key_pem_.empty()) {
      Log()->warn("{}: cannot read public key file {}", config_.id, config_.public_key_file);
    }
  }
  std::string error;
  (void)models_.Restore(&error);
  std::lock_guard lock(mu_);
  snapshot_.load = sensor_->load();
  if (const auto* info = models_.active_info()) snapshot_.model = info->Label();
}

DeviceAgent::~DeviceAgent() {
  for (auto& t : downloads_) {
    if (t.joinable()) t.join();
  }
}

int64_t DeviceAgent::DeviceNow() const {
  const int64_t wall = clock_.NowNanos() - wall_start_;
  return device_start_ + static_cast<int64_t>(static_cast<double>(wall) * config_.time_scale);
}

void DeviceAgent::Start() {
  asio::post(client_->executor(), [self = shared_from_this()] {
    self->running_ = true;
    self->wall_start_ = self->clock_.NowNanos();
    self->device_start_ = self->wall_start_;
    std::weak_ptr<DeviceAgent> weak = self;
    self->client_->Subscribe(self->config_.control_prefix + self->config_.id,
                             mqtt::QoS::kAtLeastOnce, [weak](const mqtt::Message& m) {
                               if (auto a = weak.lock()) a->HandleControl(m.payload.view());
                             });
    self->PublishStatus(true);
    if (self->public_key_pem_.empty() && !self->config_.public_key_url.empty()) {
      self->downloads_.emplace_back(
          [weak, url = self->config_.public_key_url, ex = self->client_->executor()] {
            auto pem = HttpGet(url, {});
            asio::post(ex, [weak, pem = std::move(pem), url] {
              auto a = weak.lock();
              if (!a) return;
              if (pem.ok() && pem->find("BEGIN PUBLIC KEY") != std::string::npos) {
                a->public_key_pem_ = *pem;
              } else {
                Log()->warn("{}: could not fetch the signing key from {}", a->config_.id, url);
              }
            });
          });
    }
    // Spread a fleet's readings over the period instead of firing them together.
    std::uniform_real_distribution<double> offset(0, 1.0 / std::max(1e-3, self->config_.rate));
    std::mt19937_64 rng(std::hash<std::string>{}(self->config_.id));
    self->next_tick_ = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(offset(rng)));
    self->ScheduleTick();
  });
}

void DeviceAgent::ScheduleTick() {
  if (!running_ || config_.rate <= 0) return;
  timer_.expires_at(next_tick_);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->running_) return;
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / self->config_.rate));
    self->next_tick_ += period;
    const auto now = std::chrono::steady_clock::now();
    if (self->next_tick_ < now) self->next_tick_ = now;  // overloaded: skip, do not burst
    self->Tick();
    self->ScheduleTick();
  });
}

void DeviceAgent::Stop(std::function<void()> done) {
  asio::post(client_->executor(), [self = shared_from_this(), done = std::move(done)]() mutable {
    self->running_ = false;
    self->timer_.cancel();
    self->PublishStatus(false, [done = std::move(done)](std::error_code) {
      if (done) done();
    });
  });
}

void DeviceAgent::OnConnected() {
  asio::post(client_->executor(), [self = shared_from_this()] {
    if (self->running_) self->PublishStatus(true);
  });
}

void DeviceAgent::Tick() {
  auto reading = sensor_->Read(DeviceNow());
  if (!reading) return;
  std::string payload;
  payload.reserve(512);
  AppendTelemetryJson(config_.id, *reading, &payload);
  const auto qos = config_.qos >= 1 ? mqtt::QoS::kAtLeastOnce : mqtt::QoS::kAtMostOnce;
  const bool sent =
      client_->Publish(config_.telemetry_topic, mqtt::SharedBytes(std::move(payload)), {.qos = qos})
          .ok();

  double score = -1;
  bool status_changed = false;
  if (DeviceModel* model = models_.active()) {
    auto s = model->Score(*reading);
    if (s.ok()) {
      score = *s;
    } else if (models_.previous_info() != nullptr) {
      // A model that cannot score this device's readings is rolled back.
      const std::string bad = models_.active_info()->Label();
      std::string error;
      (void)models_.Rollback(&error);
      Log()->warn("{}: model {} cannot score readings; rolled back to {}", config_.id, bad,
                  models_.active_info()->Label());
      SetOta(ota_rollout_, ota_version_, "failed", "model cannot score readings");
      status_changed = true;
    }
  }
  if (score >= 0 && config_.protect_after > 0) {
    critical_run_ = score >= config_.critical ? critical_run_ + 1 : 0;
    if (critical_run_ == config_.protect_after && sensor_->load() > config_.protect_load) {
      sensor_->SetLoad(config_.protect_load);
      Log()->info("{}: {} critical readings, easing load to {}", config_.id, critical_run_,
                  config_.protect_load);
      status_changed = true;
    }
  }
  {
    std::lock_guard lock(mu_);
    ++snapshot_.readings;
    snapshot_.published += sent ? 1 : 0;
    if (score >= 0) {
      ++snapshot_.scored;
      snapshot_.last_score = score;
    }
    snapshot_.load = sensor_->load();
  }
  if (status_changed) PublishStatus(true);
}

void DeviceAgent::HandleControl(std::string_view payload) {
  auto c = ParseControlCommand(payload);
  if (!c.ok()) {
    Log()->warn("{}: ignoring malformed control message", config_.id);
    return;
  }
  switch (c->kind) {
    case ControlCommand::Kind::kSetActuator: {
      if (c->load >= 0) sensor_->SetLoad(c->load);
      critical_run_ = 0;
      {
        std::lock_guard lock(mu_);
        snapshot_.load = sensor_->load();
      }
      PublishStatus(true);
      break;
    }
    case ControlCommand::Kind::kDownloadModel: {
      ModelInfo info;
      info.name = c->model_name.empty() ? "model" : c->model_name;
      info.version = c->version;
      ArtifactClaim claim{.sha256 = c->sha256, .signature = c->signature, .size = c->size};
      StartDownload(std::move(info), c->url, std::move(claim), c->rollout);
      break;
    }
    case ControlCommand::Kind::kRollbackModel: {
      std::string error;
      if (models_.Rollback(&error).ok()) {
        SetOta(c->rollout, models_.active_info()->version, "ok", "");
      } else {
        SetOta(c->rollout, 0, "failed", error);
      }
      PublishStatus(true);
      break;
    }
    case ControlCommand::Kind::kReportStatus:
      PublishStatus(true);
      break;
    case ControlCommand::Kind::kUnknown:
      Log()->warn("{}: unknown command {}", config_.id, c->command);
      break;
  }
}

void DeviceAgent::StartDownload(ModelInfo info, std::string url, ArtifactClaim claim,
                                std::string rollout) {
  SetOta(rollout, info.version, "downloading", "");
  PublishStatus(true);
  HttpFetchOptions options;
  options.bearer_token = config_.token;
  if (claim.size > 0) options.max_bytes = static_cast<size_t>(claim.size) + 1;
  // Downloads block their own thread; the result comes back to the strand.
  downloads_.emplace_back([weak = weak_from_this(), ex = client_->executor(),
                           info = std::move(info), url = std::move(url), claim = std::move(claim),
                           rollout = std::move(rollout), options] {
    int status = 0;
    auto body = HttpGet(url, options, &status);
    std::string fetch_error;
    if (!body.ok()) fetch_error = "download failed: " + body.error().message();
    asio::post(ex, [weak, info, claim, rollout, body = std::move(body), fetch_error]() mutable {
      if (auto self = weak.lock()) {
        self->FinishDownload(info, claim, rollout, std::move(body), fetch_error);
      }
    });
  });
}

void DeviceAgent::FinishDownload(const ModelInfo& info, const ArtifactClaim& claim,
                                 const std::string& rollout, Result<std::string> body,
                                 const std::string& fetch_error) {
  if (!body.ok()) {
    SetOta(rollout, info.version, "failed", fetch_error);
  } else {
    std::string error;
    Status st = models_.Install(info, std::move(*body), claim, public_key_pem_, &error);
    if (st.ok()) {
      Log()->info("{}: activated model {}", config_.id, info.Label());
      SetOta(rollout, info.version, "ok", "");
    } else {
      Log()->warn("{}: rejected model {}: {}; keeping {}", config_.id, info.Label(), error,
                  models_.active_info() ? models_.active_info()->Label() : "no model");
      SetOta(rollout, info.version, "failed", error);
    }
  }
  PublishStatus(true);
}

void DeviceAgent::SetOta(std::string rollout, int64_t version, std::string state,
                         std::string error) {
  ota_rollout_ = std::move(rollout);
  ota_version_ = version;
  std::lock_guard lock(mu_);
  snapshot_.ota_state = std::move(state);
  snapshot_.ota_error = std::move(error);
  snapshot_.model = models_.active_info() ? models_.active_info()->Label() : "";
}

void DeviceAgent::PublishStatus(bool online, mqtt::PublishDone done) {
  json status;
  if (!online) {
    status = {{"online", false}};
  } else {
    AgentSnapshot s = snapshot();
    status = {{"online", true},
              {"model", s.model.empty() ? json(nullptr) : json(s.model)},
              {"actuator", {{"load", sensor_->load()}}},
              {"timeStamp", FormatTimestamp(DeviceNow())}};
    if (s.last_score >= 0) status["lastScore"] = std::round(s.last_score * 1e4) / 1e4;
    if (!s.ota_state.empty()) {
      json ota = {{"rollout", ota_rollout_}, {"version", ota_version_}, {"state", s.ota_state}};
      if (!s.ota_error.empty()) ota["error"] = s.ota_error;
      status["ota"] = std::move(ota);
    }
  }
  auto shared_done = std::make_shared<mqtt::PublishDone>(std::move(done));
  Status st = client_->Publish(config_.status_prefix + config_.id, mqtt::SharedBytes(status.dump()),
                               {.qos = mqtt::QoS::kAtLeastOnce, .retain = true},
                               [shared_done](std::error_code ec) {
                                 if (*shared_done) (*shared_done)(ec);
                               });
  if (!st.ok() && *shared_done) (*shared_done)(st.error());
}

AgentSnapshot DeviceAgent::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

}  // namespace aiot::sim
