#include "sim/device_agent.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/artifact.h"
#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "net/http_client.h"
#include "sim/control.h"

namespace aiot::sim {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("sim.device");
  return logger;
}

constexpr const char* kTokenFile = "device_token";

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// "HTTP 401: invalid credentials" from a registry error reply {"error":{"message":..}}.
std::string ReplyError(const net::HttpReply& r) {
  auto j = json::parse(r.body, nullptr, false);
  std::string message;
  if (const json* e = aiot::json::Find(j, "error"))
    message = aiot::json::StringOr(*e, "message", "");
  return "HTTP " + std::to_string(r.status) + (message.empty() ? "" : ": " + message);
}

bool Retryable(int status) { return status >= 500 || status == 408 || status == 429; }

// The next wait of an exponential backoff, jittered (0.5..1 of the current delay, seeded per device
// so a fleet does not retry in lockstep); doubles `*delay_ms` up to `max_ms`.
std::chrono::milliseconds NextBackoff(uint32_t* delay_ms, uint64_t seed, uint32_t max_ms) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const auto delay = std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(*delay_ms * jitter(rng))));
  *delay_ms = std::min<uint32_t>(
      std::max<uint32_t>(1, max_ms),
      static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, uint64_t{*delay_ms} * 2)));
  return delay;
}

net::HttpClientOptions Options(std::string token, int timeout_ms, size_t max_bytes) {
  net::HttpClientOptions o;
  o.token = std::move(token);
  o.timeout = std::chrono::milliseconds(timeout_ms);
  o.max_body_bytes = max_bytes;
  o.user_agent = "aiot-device";
  return o;
}

// The body of a 200 reply to GET `url`; errc::not_found, errc::permission_denied (401/403) or
// errc::io_error for other statuses, the client's errors when no reply arrived.
Result<std::string> GetBody(const std::string& url, const net::HttpClientOptions& options) {
  auto r = net::HttpRequest("GET", url, {}, options);
  if (!r.ok()) return r.status();
  if (r->status == 200) return std::move(r->body);
  if (r->status == 404) return errc::not_found;
  if (r->status == 401 || r->status == 403) return errc::permission_denied;
  return errc::io_error;
}

// Models a device accepts at most (the registry's own default limit is lower).
constexpr int64_t kMaxModelBytes = 64 << 20;

}  // namespace

struct DeviceAgent::ProductionFetch {
  enum class Kind { kNotAsked, kNone, kCurrent, kModel, kRetry, kFailed };
  Kind kind = Kind::kNotAsked;
  std::string key_pem;  // the signing key, when it was fetched now
  std::string error;
  ModelInfo info;
  ArtifactClaim claim;
  std::string bytes;
};

struct DeviceAgent::ActivationOutcome {
  enum class Kind { kActivated, kRefused, kRetry };
  Kind kind = Kind::kRetry;
  std::string error;
  std::string token;            // provisioned in this attempt
  std::string signing_key_url;  // from the registry's confirmation
};

namespace {

// One activation attempt, blocking (runs on a helper thread): provisions the device first when it
// has no token but provisioning credentials, then asks the registry to activate it.
DeviceAgent::ActivationOutcome AttemptActivation(const std::string& base, const std::string& id,
                                                 std::string token,
                                                 const std::string& provision_token);

// The signing key (when `key_url` is set) and then the production version of `model` (when
// `base` is set), blocking (runs on a helper thread). `current_sha256`: the model running now.
DeviceAgent::ProductionFetch FetchProduction(const std::string& key_url, const std::string& base,
                                             const std::string& model, const std::string& token,
                                             const std::string& current_sha256);

}  // namespace

void Describe(config::Visitor& v, DeviceAgentConfig& c) {
  v.Field("id", c.id, "Device id (also the MQTT client id).");
  v.Field("telemetry_topic", c.telemetry_topic, "Telemetry topic.");
  v.Field("status_prefix", c.status_prefix, "Retained status topic prefix.");
  v.Field("control_prefix", c.control_prefix, "Control topic prefix.");
  v.Field("rate", c.rate, "Readings per second.");
  v.Field("time_scale", c.time_scale, "Device seconds per wall-clock second (simulation).");
  v.Field("qos", c.qos, "Telemetry QoS (0 or 1).");
  v.Field("maintenance_topic", c.maintenance_topic,
          "Topic of the sensor's failure and repair records (simulated machines); empty = none.");
  v.Field("model_dir", c.model_dir, "Directory for the active and previous model; empty = memory.");
  v.Field("public_key_pem", c.public_key_pem, "The platform's Ed25519 public key (PEM).");
  v.Field("public_key_file", c.public_key_file, "File holding the platform's public key (PEM).");
  v.Field("public_key_url", c.public_key_url,
          "URL of the platform's public key (http://host:port/.well-known/aiot/signing-key).");
  v.Field("token", c.token,
          "The device's registry token: activation and model downloads (empty = the one saved in "
          "model_dir by self-provisioning).");
  v.Field("registry_url", c.registry_url,
          "Device registry (http://host:port): activate there before publishing; empty = no "
          "activation.");
  v.Field("provision_token", c.provision_token,
          "Operator token: with no device token, the device provisions itself in the registry.");
  v.Field("activation_retry_min_ms", c.activation_retry_min_ms,
          "First retry delay while the registry is unreachable (ms); doubles per attempt.");
  v.Field("activation_retry_max_ms", c.activation_retry_max_ms,
          "Longest retry delay while the registry is unreachable (ms).");
  v.Field("model_name", c.model_name,
          "Model to run: after activation the device fetches the registry's production version "
          "of it (verified like OTA); empty = wait for a rollout.");
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
      timer_(client_->executor()),
      fetch_timer_(client_->executor()) {
  public_key_pem_ = config_.public_key_pem;
  if (public_key_pem_.empty() && !config_.public_key_file.empty()) {
    auto pem = ReadWholeFile(config_.public_key_file);
    if (pem.ok()) public_key_pem_ = std::move(*pem);
    if (public_key_pem_.empty()) {
      Log()->warn("{}: cannot read public key file {}", config_.id, config_.public_key_file);
    }
  }
  if (config_.token.empty() && !config_.model_dir.empty()) {
    // No saved token yet (a new device) is not an error: it provisions itself.
    auto saved = ReadFirstLine((std::filesystem::path(config_.model_dir) / kTokenFile).string());
    if (saved) config_.token = std::move(*saved);
  }
  (void)models_.Restore();
  std::lock_guard lock(mu_);
  snapshot_.load = sensor_->load();
  if (const auto* info = models_.active_info()) snapshot_.model = info->Label();
}

DeviceAgent::~DeviceAgent() {
  if (activation_thread_.joinable()) activation_thread_.join();
  if (fetch_thread_.joinable()) fetch_thread_.join();
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
    if (self->config_.registry_url.empty()) {
      self->Begin();
      return;
    }
    self->retry_delay_ms_ = std::max<uint32_t>(1, self->config_.activation_retry_min_ms);
    self->TryActivation();
  });
}

void DeviceAgent::TryActivation() {
  if (!running_) return;
  if (activation_thread_.joinable()) activation_thread_.join();  // the previous attempt ended
  {
    std::lock_guard lock(mu_);
    snapshot_.registration = "activating";
    ++snapshot_.activation_attempts;
  }
  activation_thread_ = std::thread([weak = weak_from_this(), ex = client_->executor(),
                                    base = TrimSlash(config_.registry_url), id = config_.id,
                                    token = config_.token, provision = config_.provision_token] {
    auto outcome = AttemptActivation(base, id, token, provision);
    asio::post(ex, [weak, outcome = std::move(outcome)] {
      if (auto self = weak.lock()) self->FinishActivation(outcome);
    });
  });
}

void DeviceAgent::FinishActivation(const ActivationOutcome& o) {
  if (!o.token.empty() && o.token != config_.token) {
    config_.token = o.token;
    if (!config_.model_dir.empty()) {
      // Credentials are shown once: keep the token for restarts (owner-only from its creation,
      // and whole or absent after a crash).
      std::error_code ec;
      std::filesystem::create_directories(config_.model_dir, ec);
      const auto path = std::filesystem::path(config_.model_dir) / kTokenFile;
      if (auto st = WriteFileAtomic(path.string(), config_.token + "\n", 0600); !st) {
        Log()->warn("{}: cannot save the device token in {}: {}", config_.id, path.string(),
                    st.message());
      }
    }
  }
  if (!running_) return;
  using Kind = ActivationOutcome::Kind;
  {
    std::lock_guard lock(mu_);
    snapshot_.registration = o.kind == Kind::kActivated ? "active"
                             : o.kind == Kind::kRefused ? "refused"
                                                        : "activating";
    snapshot_.registration_error = o.error;
  }
  switch (o.kind) {
    case Kind::kActivated:
      Log()->info("{}: activated by the device registry", config_.id);
      if (public_key_pem_.empty() && config_.public_key_url.empty() && !o.signing_key_url.empty()) {
        config_.public_key_url = o.signing_key_url.rfind("http", 0) == 0
                                     ? o.signing_key_url
                                     : TrimSlash(config_.registry_url) + o.signing_key_url;
      }
      Begin();
      if (activation_handler_) activation_handler_(true, "");
      return;
    case Kind::kRefused:
      Log()->error("{}: the device registry refused activation ({}); not publishing", config_.id,
                   o.error);
      if (activation_handler_) activation_handler_(false, o.error);
      return;
    case Kind::kRetry:
      break;
  }
  // Unreachable: back off (exponential, jittered so a fleet does not retry in lockstep).
  const auto delay = NextBackoff(
      &retry_delay_ms_, std::hash<std::string>{}(config_.id) + snapshot().activation_attempts,
      config_.activation_retry_max_ms);
  Log()->warn("{}: device registry not reachable ({}); retrying in {} ms", config_.id, o.error,
              delay.count());
  timer_.expires_after(delay);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->TryActivation();
  });
}

void DeviceAgent::Begin() {
  begun_ = true;
  std::weak_ptr<DeviceAgent> weak = shared_from_this();
  client_->Subscribe(config_.control_prefix + config_.id, mqtt::QoS::kAtLeastOnce,
                     [weak](const mqtt::Message& m) {
                       if (auto a = weak.lock()) a->HandleControl(m.payload.view());
                     });
  PublishStatus(true);
  fetch_retry_ms_ = std::max<uint32_t>(1, config_.activation_retry_min_ms);
  StartProductionFetch();
  // Spread a fleet's readings over the period instead of firing them together.
  std::uniform_real_distribution<double> offset(0, 1.0 / std::max(1e-3, config_.rate));
  std::mt19937_64 rng(std::hash<std::string>{}(config_.id));
  next_tick_ = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(offset(rng)));
  ScheduleTick();
}

void DeviceAgent::StartProductionFetch() {
  const bool ask = !config_.registry_url.empty() && !config_.model_name.empty();
  if (ask && !IsValidModelName(config_.model_name)) {
    Log()->error("{}: model_name `{}` is not a valid model name; waiting for a rollout", config_.id,
                 config_.model_name);
    return;
  }
  const std::string key_url = public_key_pem_.empty() ? config_.public_key_url : std::string();
  if (!ask && key_url.empty()) return;
  if (ask) {
    std::lock_guard lock(mu_);
    snapshot_.production_fetch = "fetching";
  }
  const auto* active = models_.active_info();
  // One fetch at a time: the previous one has posted its result, so this join is immediate.
  if (fetch_thread_.joinable()) fetch_thread_.join();
  fetch_thread_ = std::thread([weak = weak_from_this(), ex = client_->executor(), key_url,
                               base = ask ? TrimSlash(config_.registry_url) : std::string(),
                               model = config_.model_name, token = config_.token,
                               current = active ? active->sha256 : std::string()] {
    auto fetch = FetchProduction(key_url, base, model, token, current);
    asio::post(ex, [weak, fetch = std::move(fetch)]() mutable {
      if (auto self = weak.lock()) self->FinishProductionFetch(std::move(fetch));
    });
  });
}

void DeviceAgent::FinishProductionFetch(ProductionFetch f) {
  using Kind = ProductionFetch::Kind;
  if (!f.key_pem.empty() && public_key_pem_.empty()) public_key_pem_ = std::move(f.key_pem);
  if (public_key_pem_.empty() && !config_.public_key_url.empty() && f.kind == Kind::kNotAsked) {
    Log()->warn("{}: could not fetch the signing key from {}", config_.id, config_.public_key_url);
  }
  if (!running_ || f.kind == Kind::kNotAsked) return;
  auto set_state = [this](const char* state) {
    std::lock_guard lock(mu_);
    snapshot_.production_fetch = state;
  };
  if (control_seen_) {
    // A rollout (or rollback) command arrived meanwhile: the platform chose, the fetch yields.
    Log()->info("{}: production fetch superseded by a control command", config_.id);
    set_state("ok");
    return;
  }
  switch (f.kind) {
    case Kind::kNotAsked:
      return;
    case Kind::kNone:
      Log()->info("{}: no `{}` in production yet; waiting for a rollout", config_.id,
                  config_.model_name);
      set_state("none");
      return;
    case Kind::kCurrent:
      set_state("ok");
      return;
    case Kind::kModel: {
      const bool ok = FinishDownload(f.info, f.claim, "production", std::move(f.bytes), "");
      set_state(ok ? "ok" : "failed");
      return;
    }
    case Kind::kFailed:
      Log()->warn("{}: production model not fetched: {}", config_.id, f.error);
      set_state("failed");
      SetOta("production", std::max<int64_t>(0, f.info.version), "failed", f.error);
      PublishStatus(true);
      return;
    case Kind::kRetry:
      break;
  }
  set_state("retrying");
  const auto delay =
      NextBackoff(&fetch_retry_ms_, std::hash<std::string>{}(config_.id) + fetch_retry_ms_,
                  config_.activation_retry_max_ms);
  Log()->warn("{}: production model not fetched ({}); retrying in {} ms", config_.id, f.error,
              delay.count());
  fetch_timer_.expires_after(delay);
  fetch_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->running_ || self->control_seen_) return;
    self->StartProductionFetch();
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
    self->fetch_timer_.cancel();
    if (!self->begun_) {  // never went online (activating or refused): nothing to take back
      if (done) done();
      return;
    }
    self->PublishStatus(false, [done = std::move(done)](std::error_code) {
      if (done) done();
    });
  });
}

void DeviceAgent::OnConnected() {
  asio::post(client_->executor(), [self = shared_from_this()] {
    if (self->running_ && self->begun_) self->PublishStatus(true);
  });
}

// A simulated crew's work orders: each failure and repair the sensor saw, as a maintenance record
// stamped in wall-clock time (telemetry's time base, so the datastore's labels line up): the
// device time of the event mapped back through the time scale.
void DeviceAgent::ReportMaintenance() {
  auto events = sensor_->TakeMaintenanceEvents();
  if (events.empty() || config_.maintenance_topic.empty()) return;
  const int64_t now = clock_.NowNanos();
  for (const auto& e : events) {
    const double since = static_cast<double>(e.time_nanos - device_start_);
    const int64_t at = std::min(
        now, wall_start_ + static_cast<int64_t>(since / std::max(1e-9, config_.time_scale)));
    std::string payload = fmt::format(
        R"({{"device":"{}","kind":"{}","at":"{}","mode":"{}","note":"simulated"}})", config_.id,
        MaintenanceEventKindName(e.kind), FormatTimestamp(at), FailureModeName(e.mode));
    (void)client_->Publish(config_.maintenance_topic, mqtt::SharedBytes(std::move(payload)),
                           {.qos = mqtt::QoS::kAtLeastOnce});
    Log()->info("{}: reported {} ({})", config_.id, MaintenanceEventKindName(e.kind),
                FailureModeName(e.mode));
  }
  std::lock_guard lock(mu_);
  snapshot_.maintenance_reported += events.size();
}

void DeviceAgent::Tick() {
  auto reading = sensor_->Read(DeviceNow());
  ReportMaintenance();
  if (!reading) return;
  // The time scale speeds up the machine's physics (wear, time to failure), not the clock: live
  // telemetry is stamped with wall-clock time, so the store, the dashboard's windows and retention
  // stay coherent.
  reading->time_nanos = clock_.NowNanos();
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
      (void)models_.Rollback();
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
    Log()->warn("{}: ignoring control message: {}", config_.id, c.status().message());
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
      control_seen_ = true;
      ModelInfo info;
      info.name = c->model_name.empty() ? "model" : c->model_name;
      info.version = c->version;
      ArtifactClaim claim{.sha256 = c->sha256, .signature = c->signature, .size = c->size};
      StartDownload(std::move(info), c->url, std::move(claim), c->rollout);
      break;
    }
    case ControlCommand::Kind::kRollbackModel: {
      control_seen_ = true;
      if (Status st = models_.Rollback(); st.ok()) {
        SetOta(c->rollout, models_.active_info()->version, "ok", "");
      } else {
        SetOta(c->rollout, 0, "failed", st.message());
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
  const auto options = Options(config_.token, 30000,
                               claim.size > 0 ? static_cast<size_t>(claim.size) + 1 : 16u << 20);
  // Downloads block their own thread; the result comes back to the strand.
  downloads_.emplace_back([weak = weak_from_this(), ex = client_->executor(),
                           info = std::move(info), url = std::move(url), claim = std::move(claim),
                           rollout = std::move(rollout), options] {
    auto body = GetBody(url, options);
    std::string fetch_error;
    if (!body.ok()) fetch_error = "download failed: " + body.status().message();
    asio::post(ex, [weak, info, claim, rollout, body = std::move(body), fetch_error]() mutable {
      if (auto self = weak.lock()) {
        self->FinishDownload(info, claim, rollout, std::move(body), fetch_error);
      }
    });
  });
}

bool DeviceAgent::FinishDownload(const ModelInfo& info, const ArtifactClaim& claim,
                                 const std::string& rollout, Result<std::string> body,
                                 const std::string& fetch_error) {
  bool installed = false;
  if (!body.ok()) {
    SetOta(rollout, info.version, "failed", fetch_error);
  } else {
    Status st = models_.Install(info, std::move(*body), claim, public_key_pem_);
    const std::string error = st.message();
    if (st.ok()) {
      Log()->info("{}: activated model {}", config_.id, info.Label());
      SetOta(rollout, info.version, "ok", "");
      installed = true;
    } else {
      Log()->warn("{}: rejected model {}: {}; keeping {}", config_.id, info.Label(), error,
                  models_.active_info() ? models_.active_info()->Label() : "no model");
      {
        std::lock_guard lock(mu_);
        ++snapshot_.models_rejected;
      }
      SetOta(rollout, info.version, "failed", error);
    }
  }
  PublishStatus(true);
  return installed;
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
              {"timeStamp", FormatTimestamp(clock_.NowNanos())}};
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

namespace {

DeviceAgent::ActivationOutcome AttemptActivation(const std::string& base, const std::string& id,
                                                 std::string token,
                                                 const std::string& provision_token) {
  using Outcome = DeviceAgent::ActivationOutcome;
  using Kind = Outcome::Kind;
  Outcome out;
  auto options = Options({}, 10000, 1 << 20);
  auto unreachable = [&](std::error_code ec) {
    out.kind = Kind::kRetry;
    out.error = "registry unreachable: " + ec.message();
    return out;
  };
  if (token.empty()) {
    if (provision_token.empty()) {
      out.kind = Kind::kRefused;
      out.error = "no device token and no provisioning credentials";
      return out;
    }
    options.token = provision_token;
    auto r = net::HttpRequest("POST", base + "/api/v1/devices",
                              json({{"id", id}, {"type", "fan"}}).dump(), options);
    if (!r.ok()) return unreachable(r.error());
    if (Retryable(r->status)) {
      out.error = "provisioning: " + ReplyError(*r);
      return out;
    }
    auto j = json::parse(r->body, nullptr, false);
    if (r->status != 201 || !j.is_object() || !j.contains("token") || !j["token"].is_string()) {
      out.kind = Kind::kRefused;
      out.error = "provisioning refused: " + ReplyError(*r);
      if (r->status == 409) out.error += " (already provisioned; configure its device token)";
      return out;
    }
    token = out.token = j["token"].get<std::string>();
    Log()->info("{}: provisioned in the device registry", id);
  }
  options.token = token;
  auto r = net::HttpRequest("POST", base + "/api/v1/devices/" + id + "/activate", {}, options);
  if (!r.ok()) return unreachable(r.error());
  if (Retryable(r->status)) {
    out.error = ReplyError(*r);
    return out;
  }
  auto j = json::parse(r->body, nullptr, false);
  auto activated = j.is_object() ? j.find("activated") : j.end();
  if (r->status != 200 || activated == j.end() || !activated->is_boolean() ||
      !activated->get<bool>()) {
    out.kind = Kind::kRefused;
    out.error = "activation refused: " + ReplyError(*r);
    return out;
  }
  out.kind = Kind::kActivated;
  out.signing_key_url = aiot::json::StringOr(j, "signing_key_url", "");
  return out;
}

DeviceAgent::ProductionFetch FetchProduction(const std::string& key_url, const std::string& base,
                                             const std::string& model, const std::string& token,
                                             const std::string& current_sha256) {
  using Fetch = DeviceAgent::ProductionFetch;
  using Kind = Fetch::Kind;
  Fetch out;
  if (!key_url.empty()) {
    auto pem = GetBody(key_url, Options({}, 10000, 64 << 10));
    if (pem.ok() && pem->find("BEGIN PUBLIC KEY") != std::string::npos) out.key_pem = *pem;
    if (out.key_pem.empty() && !base.empty()) {
      // Without the key nothing can be verified: ask again later rather than refuse the model.
      out.kind = Kind::kRetry;
      out.error = "signing key not available from " + key_url;
      return out;
    }
  }
  if (base.empty()) return out;
  auto r = net::HttpRequest("GET", base + "/api/v1/models/" + model + "/production", {},
                            Options(token, 10000, 1 << 20));
  if (!r.ok()) {
    out.kind = Kind::kRetry;
    out.error = "registry unreachable: " + r.status().message();
    return out;
  }
  if (r->status == 404) {
    out.kind = Kind::kNone;
    return out;
  }
  if (Retryable(r->status)) {
    out.kind = Kind::kRetry;
    out.error = "production model: " + ReplyError(*r);
    return out;
  }
  out.kind = Kind::kFailed;
  if (r->status != 200) {
    out.error = "production model: " + ReplyError(*r);
    return out;
  }
  // The reply is checked field by field: a version, a digest, a signature and a size the device
  // can hold. The artifact URL is built here, not taken from the reply.
  auto ref = ParseModelRef(json::parse(r->body, nullptr, false), model);
  if (!ref.ok()) {
    out.error = "malformed production reply";
    return out;
  }
  out.info.name = ref->name;
  out.info.version = ref->version;
  out.claim = std::move(ref->claim);
  if (out.claim.size > kMaxModelBytes) {
    out.error = "model of " + std::to_string(out.claim.size) + " bytes is too large";
    return out;
  }
  if (out.claim.sha256 == current_sha256) {
    out.kind = Kind::kCurrent;
    return out;
  }
  const auto options = Options(token, 60000, static_cast<size_t>(out.claim.size) + 1);
  auto body = GetBody(base + "/api/v1/models/" + model + "/versions/" +
                          std::to_string(out.info.version) + "/artifact",
                      options);
  if (!body.ok()) {
    const auto e = body.error();
    out.error = "download failed: " + e.message();
    if (e == make_error_code(errc::unavailable) || e == make_error_code(errc::timeout) ||
        e == make_error_code(errc::io_error)) {
      out.kind = Kind::kRetry;
    }
    return out;
  }
  out.kind = Kind::kModel;
  out.bytes = std::move(*body);
  return out;
}

}  // namespace

AgentSnapshot DeviceAgent::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

}  // namespace aiot::sim
