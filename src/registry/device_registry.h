#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "registry/device_status.h"
#include "registry/errc.h"
#include "registry/registry_config.h"

namespace aiot::registry {

enum class DeviceState { kProvisioned, kActive, kDecommissioned };
const char* DeviceStateName(DeviceState s);

struct DeviceSpec {
  std::string id;  // same rules as model names: [A-Za-z0-9._-], 1..64
  std::string type = "fan";
  std::map<std::string, std::string> labels;  // e.g. {site: north, line: "3"}
  std::string firmware;
};

struct Device {
  DeviceSpec spec;
  DeviceState state = DeviceState::kProvisioned;
  int64_t created_at = 0;    // unix nanos
  int64_t activated_at = 0;  // 0 = never
  int64_t last_seen = 0;     // last status message, 0 = never
  bool online = false;
  std::string status_json;     // last reported status payload, verbatim
  std::string reported_model;  // "name@version" from the status
  std::string desired_model;   // "name@version" set by rollouts
};

// Shown once at provisioning; only salted/hashed forms are stored.
struct DeviceCredentials {
  std::string device_id;
  std::string token;          // bearer token for the HTTP API (role "device")
  std::string mqtt_username;  // = device id
  std::string mqtt_password;
};

// The device registry, in <data_dir>/registry.db beside the models.
// Thread-safe: all access is serialized by a mutex.
//
// Errors say in their message which value was wrong: registry::errc::invalid_name (a device id),
// invalid_label (type, label key or value, selector), invalid_status (a status payload, with the
// message rules' reason); aiot::errc::not_found, already_exists and unauthenticated otherwise.
class DeviceRegistry {
 public:
  explicit DeviceRegistry(RegistryConfig config, const Clock& clock = SystemClock::Instance());

  Status Open();

  // aiot::errc::already_exists if the id is taken (decommissioned ids are not reused),
  // errc::invalid_name for a bad id, errc::invalid_label for a bad type or label.
  Result<DeviceCredentials> Provision(const DeviceSpec& spec);
  Result<Device> Get(std::string_view id);
  // Devices whose labels contain every pair in `labels` (empty = all), decommissioned ones only
  // when `include_decommissioned`. Ordered by id.
  Result<std::vector<Device>> List(const std::map<std::string, std::string>& labels = {},
                                   bool include_decommissioned = false);
  // The device a bearer token belongs to; aiot::errc::unauthenticated when none (or
  // decommissioned).
  Result<std::string> AuthenticateToken(std::string_view token);
  // For the broker: true when the username/password pair belongs to a live device.
  bool CheckMqttCredentials(std::string_view username, std::string_view password);
  // Activation: the device presents its id and token; the registry confirms and marks it active.
  Result<Device> Activate(std::string_view id, std::string_view token);
  // A status message from fan/status/<id>: parses it (errc::invalid_status) and records it.
  // aiot::errc::not_found for unknown devices.
  Status RecordStatus(std::string_view id, std::string_view status_json);
  // The same for a status the caller has already parsed (`status` read from `status_json`).
  Status RecordStatus(std::string_view id, const DeviceStatus& status,
                      std::string_view status_json);
  Status SetDesiredModel(std::string_view id, std::string_view model_ref);
  // Revokes credentials; the device no longer authenticates. The row stays for history.
  Status Decommission(std::string_view id);

  // "site:north,line:3" -> {site: north, line: 3}; errc::invalid_label naming the malformed
  // item otherwise.
  static Status ParseLabelSelector(std::string_view text, std::map<std::string, std::string>* out);

 private:
  Result<Device> GetLocked(std::string_view id);

  RegistryConfig config_;
  const Clock& clock_;
  std::mutex mu_;
  sqlite::Db db_;
};

}  // namespace aiot::registry
