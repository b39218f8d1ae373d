#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/config.h"
#include "mqtt/client/client.h"
#include "sim/model_slots.h"
#include "sim/simulated_device.h"

namespace aiot::sim {

// What a device agent reads and drives. A simulated machine here; real hardware would implement
// the same two calls.
class Sensor {
 public:
  virtual ~Sensor() = default;
  // A reading at `now_nanos` (device time), or nullopt when the machine is not running.
  virtual std::optional<Reading> Read(int64_t now_nanos) = 0;
  // The actuator: load fraction in [0.1, 1] (valve / speed setpoint).
  virtual void SetLoad(double load) = 0;
  virtual double load() const = 0;
  // Failures and repairs since the last call (a simulated machine knows them; real hardware
  // reports none: there a CMMS records them).
  virtual std::vector<MaintenanceEvent> TakeMaintenanceEvents() { return {}; }
};

// A SimulatedDevice as a Sensor.
class SimulatedSensor final : public Sensor {
 public:
  explicit SimulatedSensor(std::unique_ptr<SimulatedDevice> device) : device_(std::move(device)) {}
  std::optional<Reading> Read(int64_t now_nanos) override { return device_->Step(now_nanos); }
  void SetLoad(double load) override { device_->SetLoad(load); }
  double load() const override { return device_->machine().load(); }
  std::vector<MaintenanceEvent> TakeMaintenanceEvents() override {
    return device_->TakeMaintenanceEvents();
  }
  SimulatedDevice& device() { return *device_; }

 private:
  std::unique_ptr<SimulatedDevice> device_;
};

struct DeviceAgentConfig {
  std::string id = "fan-0001";
  std::string telemetry_topic = "fan/messages";
  std::string status_prefix = "fan/status/";
  std::string control_prefix = "fan/control/";
  double rate = 1.0;        // readings per wall-clock second
  double time_scale = 1.0;  // device seconds per wall-clock second
  uint32_t qos = 0;         // telemetry QoS
  // Where the sensor's failures and repairs are published as maintenance records (QoS 1, the
  // datastore's format: {"device","kind","at","mode","note"}), stamped with the wall-clock time
  // of the reading that saw them (as telemetry is); empty = not published.
  std::string maintenance_topic;
  // Where models are kept (active + previous); empty = memory only.
  std::string model_dir;
  // The platform's Ed25519 public key (PEM), or a file holding it, or the URL to fetch it from at
  // start (GET <registry>/.well-known/aiot/signing-key). Models are rejected without a key.
  std::string public_key_pem;
  std::string public_key_file;
  std::string public_key_url;
  // The device's registry token ("dev_..."): it activates the device and authorizes model
  // downloads. Empty with a `model_dir` holding `device_token` (saved by self-provisioning) = that.
  std::string token;
  // Activation with the device registry: when set ("http://host:port"), the agent asks the registry
  // to activate it (POST /api/v1/devices/<id>/activate with `token`) at start and publishes nothing
  // until the registry confirms. A refusal (unknown or decommissioned device, wrong token) is
  // final: the agent stays silent and reports it (snapshot, activation handler). While the registry
  // is unreachable (or answers 5xx) the agent retries with exponential backoff and jitter. Empty =
  // no activation (the agent starts publishing at once).
  std::string registry_url;
  // Provisioning credentials (an operator token): with no `token`, the device provisions itself
  // (POST /api/v1/devices) before activating, and keeps the token in `model_dir/device_token`.
  std::string provision_token;
  uint32_t activation_retry_min_ms = 1000;
  uint32_t activation_retry_max_ms = 60000;
  // The model the device runs: once activated it fetches the registry's production version of
  // it (GET /api/v1/models/<model_name>/production, then the artifact), verified like an OTA
  // model, unless it already runs that version. Retried with the activation backoff while the
  // registry is unreachable; none in production = wait for a rollout. Empty = wait for a rollout.
  std::string model_name = "fan-mlp";
  // Local protection: after `protect_after` consecutive readings scored >= `critical`, the agent
  // eases the machine to `protect_load` on its own (the reference's servo). 0 disables.
  double critical = 0.8;
  uint32_t protect_after = 3;
  double protect_load = 0.5;
};

void Describe(config::Visitor& v, DeviceAgentConfig& c);

// A point-in-time view of an agent, for tests, stats and status.
struct AgentSnapshot {
  std::string model;  // "name@version" or ""
  double load = 1.0;
  double last_score = -1;
  uint64_t readings = 0;
  uint64_t published = 0;
  uint64_t scored = 0;
  std::string ota_state;  // "", "downloading", "ok", "failed"
  std::string ota_error;
  // Activation with the registry: "" (none configured), "activating", "active", "refused".
  std::string registration;
  std::string registration_error;  // why it was refused, or the last retryable failure
  uint32_t activation_attempts = 0;
  // The production model fetched after activation: "" (not asked), "fetching", "ok" (installed
  // or already running), "none" (no production version), "failed" (see ota_error), "retrying".
  std::string production_fetch;
  // Models refused by verification or loading (sha256, signature, size, invalid model), OTA and
  // production fetches alike.
  uint64_t models_rejected = 0;
  uint64_t maintenance_reported = 0;  // failure and repair records published
};

// One device: reads its sensor at `rate`, publishes telemetry, scores each reading with the active
// model, drives the actuator, obeys `fan/control/<id>` and keeps `fan/status/<id>` (retained)
// current. The same code runs in `aiot agent` and in each device of a simulated fleet.
//
// Threading: everything runs on the MQTT client's executor (a strand), including timer and control
// callbacks; model downloads run on a helper thread and post their result back. snapshot() may be
// called from any thread (mutex). The client is shared (a fleet may multiplex devices over one
// connection): the agent subscribes and publishes but does not start or stop it.
class DeviceAgent : public std::enable_shared_from_this<DeviceAgent> {
 public:
  // The will every device client should carry: {"online":false} retained on the status topic.
  static void SetWill(const DeviceAgentConfig& config, mqtt::MqttClientConfig* client);

  static std::shared_ptr<DeviceAgent> Create(DeviceAgentConfig config,
                                             std::shared_ptr<mqtt::Client> client,
                                             std::unique_ptr<Sensor> sensor, ModelLoader loader,
                                             const Clock& clock = SystemClock::Instance());
  ~DeviceAgent();

  // Called (on the strand) once the registry confirmed (`activated` true) or refused the device
  // (`error` says why). Not called without a registry_url. Set before Start().
  using ActivationHandler = std::function<void(bool activated, const std::string& error)>;
  void SetActivationHandler(ActivationHandler handler) { activation_handler_ = std::move(handler); }

  // Activates with the registry when one is configured (see DeviceAgentConfig::registry_url), then
  // subscribes to the control topic, publishes the status, starts reading. Thread-safe (posts).
  void Start();
  // Stops reading (or activating), publishes {"online":false} retained if it went online, then
  // calls `done` (on the strand).
  void Stop(std::function<void()> done = {});
  // Call on every (re)connection: republishes the retained status (the will may have replaced it).
  void OnConnected();

  AgentSnapshot snapshot() const;
  const DeviceAgentConfig& config() const { return config_; }

  struct ActivationOutcome;  // internal: the result of one activation attempt
  struct ProductionFetch;    // internal: the signing key and production model fetched at start

  // Takes one reading now and publishes it. REQUIRES: on the client's executor.
  void Tick();
  // Handles a control message body. REQUIRES: on the client's executor.
  void HandleControl(std::string_view payload);

 private:
  DeviceAgent(DeviceAgentConfig config, std::shared_ptr<mqtt::Client> client,
              std::unique_ptr<Sensor> sensor, ModelLoader loader, const Clock& clock);
  void Begin();
  void TryActivation();
  void FinishActivation(const ActivationOutcome& outcome);
  void StartProductionFetch();
  void FinishProductionFetch(ProductionFetch fetch);
  void ScheduleTick();
  void PublishStatus(bool online, mqtt::PublishDone done = {});
  void StartDownload(ModelInfo info, std::string url, ArtifactClaim claim, std::string rollout);
  // Installs a downloaded model (verifying it); true when it is active now.
  bool FinishDownload(const ModelInfo& info, const ArtifactClaim& claim, const std::string& rollout,
                      Result<std::string> body, const std::string& fetch_error);
  void ReportMaintenance();
  void SetOta(std::string rollout, int64_t version, std::string state, std::string error);
  int64_t DeviceNow() const;

  DeviceAgentConfig config_;
  std::shared_ptr<mqtt::Client> client_;
  std::unique_ptr<Sensor> sensor_;
  ModelSlots models_;
  const Clock& clock_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_tick_;
  int64_t wall_start_ = 0;
  int64_t device_start_ = 0;
  bool running_ = false;
  bool begun_ = false;  // activated (or no registry) and publishing
  uint32_t retry_delay_ms_ = 0;
  ActivationHandler activation_handler_;
  std::thread activation_thread_;  // one activation attempt at a time
  uint32_t critical_run_ = 0;
  std::string public_key_pem_;
  boost::asio::steady_timer fetch_timer_;  // retries of the production fetch
  std::thread fetch_thread_;               // one production fetch at a time
  uint32_t fetch_retry_ms_ = 0;
  bool control_seen_ = false;  // a download/rollback command arrived: it wins over the fetch
  std::string ota_rollout_;
  int64_t ota_version_ = 0;
  std::vector<std::thread> downloads_;

  mutable std::mutex mu_;  // guards snapshot_
  AgentSnapshot snapshot_;
};

}  // namespace aiot::sim
