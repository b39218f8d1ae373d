#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/config.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "registry/device_registry.h"
#include "registry/device_status.h"
#include "registry/model_registry.h"

namespace aiot::ota {

struct OtaConfig {
  // Base URL devices download artifacts from (the platform's HTTP API as devices see it).
  std::string public_url = "http://127.0.0.1:8080";
  // Control messages go to <control_topic_prefix><deviceID>.
  std::string control_topic_prefix = "fan/control/";
  // Device status topic filter; the device id is the last topic level.
  std::string status_topic = "fan/status/+";
  // Canary wave size in percent of the targets when a request does not say (at least 1 device).
  double canary_percent = 10;
  // The rollout halts and rolls back when more than this fraction of the canary fails.
  double failure_threshold = 0.2;
  // After the whole canary reported "ok", wait this long before the rest gets the model. A canary
  // device that reports a failure for the rollout during the soak (e.g. the model loaded but
  // cannot score readings, so the device rolled itself back) counts as failed. Seconds.
  int32_t canary_soak_s = 30;
  // A device that has not answered this long after its command counts as failed, in seconds.
  int32_t device_timeout_s = 300;
  // How often timeouts are checked, in milliseconds.
  int32_t tick_ms = 500;
  // Where rollouts are kept (SQLite). Empty: <registry data_dir>/rollouts.db. ":memory:" keeps
  // them in memory only.
  std::string db_path;
};

void Describe(config::Visitor& v, OtaConfig& c);

struct RolloutRequest {
  std::string model;
  int64_t version = 0;
  std::map<std::string, std::string> selector;  // labels; used when `devices` is empty
  std::vector<std::string> devices;
  double canary_percent = -1;     // < 0: config default
  double failure_threshold = -1;  // < 0: config default
  int32_t canary_soak_s = -1;     // < 0: config default
  std::string actor = "system";
};

enum class RolloutState { kCanary, kRolling, kCompleted, kRolledBack, kAborted };
const char* RolloutStateName(RolloutState s);

enum class DeviceRolloutState { kPending, kSent, kOk, kFailed, kRolledBack };
const char* DeviceRolloutStateName(DeviceRolloutState s);

struct DeviceRollout {
  std::string device;
  bool canary = false;
  std::string previous_model;  // what it reported before the rollout ("name@version" or "")
  DeviceRolloutState state = DeviceRolloutState::kPending;
  std::string error;
  int64_t sent_at = 0;      // monotonic nanos
  int64_t answered_at = 0;  // monotonic nanos
};

struct Rollout {
  std::string id;
  std::string model;
  int64_t version = 0;
  double canary_percent = 0;
  double failure_threshold = 0;
  int32_t canary_soak_s = 0;
  RolloutState state = RolloutState::kCanary;
  std::string reason;      // why it halted or aborted
  int64_t created_at = 0;  // unix nanos
  int64_t resumed_at = 0;  // unix nanos of the last resume after a restart; 0 = never
  std::vector<DeviceRollout> devices;

  int Count(DeviceRolloutState s, bool canary_only = false) const;
};

// The control message for one device (see src/ota/README.md).
std::string DownloadModelCommand(const OtaConfig& config, const registry::ModelVersion& m,
                                 std::string_view rollout_id);

// The rollout engine: target selection, waves, status handling, halt and rollback. It does no
// I/O itself: control messages go through `publish(topic, payload)`, status reports come in
// through OnStatus(), time through Tick(). RolloutService binds it to MQTT.
//
// Persistence: after Open(path) every change of a rollout is written to SQLite (table
// `rollouts`, one row per rollout with its JSON) before its control messages go out, and Open()
// loads the rollouts of an earlier run. Unfinished ones resume: devices that were sent the
// command wait again for a full device_timeout_s (their retained status usually answers at
// once), a canary soak restarts, nothing is re-sent. Without Open() rollouts live in memory.
//
// Thread-safe: a mutex guards the rollouts; `publish` is called without holding it.
class RolloutManager {
 public:
  using Publish = std::function<void(const std::string& topic, std::string payload)>;

  RolloutManager(OtaConfig config, registry::ModelRegistry& models,
                 registry::DeviceRegistry& devices, Publish publish,
                 const Clock& clock = SystemClock::Instance());

  // errc::not_found for an unknown model version, errc::invalid_argument when no device
  // matches or the request is malformed.
  // Opens (creating) the rollout store and loads earlier rollouts; ":memory:" for none. Call
  // before Start()/OnStatus()/Tick().
  Status Open(const std::string& path);

  Result<Rollout> Start(const RolloutRequest& req);
  Result<Rollout> Get(std::string_view id) const;
  std::vector<Rollout> List() const;
  // errc::invalid_argument when the rollout already ended.
  Result<Rollout> Abort(std::string_view id, std::string_view reason);

  // A status report from `device` (already parsed).
  void OnStatus(std::string_view device, const registry::DeviceStatus& status);
  // Marks devices that have not answered within device_timeout_s as failed.
  void Tick();

  const OtaConfig& config() const { return config_; }
  // For tests and compositions that learn their HTTP port only after start-up. Applies to
  // rollouts started afterwards.
  void set_public_url(std::string url) {
    std::lock_guard lock(mu_);
    config_.public_url = std::move(url);
  }

 private:
  struct Outgoing {
    std::string topic, payload;
  };
  // REQUIRES: mu_ held. Advances `r` when its current wave has fully answered.
  void Evaluate(Rollout& r, std::vector<Outgoing>& out);
  void SendWave(Rollout& r, bool canary, std::vector<Outgoing>& out);
  void RollBack(Rollout& r, std::vector<Outgoing>& out);
  void Flush(std::vector<Outgoing>& out);
  // REQUIRES: mu_ held. Writes `r` to the store (no-op without one); logs failures.
  void Save(const Rollout& r);

  OtaConfig config_;
  registry::ModelRegistry& models_;
  registry::DeviceRegistry& devices_;
  Publish publish_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Rollout> rollouts_;
  std::map<std::string, std::string> command_;  // rollout id -> control payload
  int64_t next_id_ = 1;
  sqlite::Db db_;
};

// Each device of a rollout: device, canary, previous_model, state, error (the stored form and the
// API's are the same).
nlohmann::json DevicesJson(const Rollout& r);

// The stored form of a rollout (all fields, times as integers) and back.
nlohmann::json RolloutRecord(const Rollout& r);
Result<Rollout> RolloutFromRecord(const nlohmann::json& j);

}  // namespace aiot::ota
