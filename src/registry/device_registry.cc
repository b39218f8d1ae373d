#include "registry/device_registry.h"

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/log.h"
#include "registry/crypto.h"
#include "registry/model_registry.h"

namespace aiot::registry {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  firmware TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'provisioned',
  token_hash TEXT,
  mqtt_password_hash TEXT,
  created_at INTEGER NOT NULL,
  activated_at INTEGER NOT NULL DEFAULT 0,
  last_seen INTEGER NOT NULL DEFAULT 0,
  online INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT '',
  reported_model TEXT NOT NULL DEFAULT '',
  desired_model TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_token ON devices(token_hash);
)sql";

constexpr const char* kColumns =
    "id, type, labels, firmware, state, created_at, activated_at, last_seen, online, status, "
    "reported_model, desired_model";

bool IsValidLabelPart(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '/') {
      return false;
    }
  }
  return true;
}

Device ReadRow(const sqlite::Stmt& s) {
  Device d;
  d.spec.id = s.TextString(0);
  d.spec.type = s.TextString(1);
  auto labels = nlohmann::json::parse(s.TextString(2), nullptr, false);
  if (labels.is_object()) {
    for (auto& [k, v] : labels.items()) {
      if (v.is_string()) d.spec.labels[k] = v.get<std::string>();
    }
  }
  d.spec.firmware = s.TextString(3);
  std::string state = s.TextString(4);
  d.state = state == "active"           ? DeviceState::kActive
            : state == "decommissioned" ? DeviceState::kDecommissioned
                                        : DeviceState::kProvisioned;
  d.created_at = s.Int(5);
  d.activated_at = s.Int(6);
  d.last_seen = s.Int(7);
  d.online = s.Int(8) != 0;
  d.status_json = s.TextString(9);
  d.reported_model = s.TextString(10);
  d.desired_model = s.TextString(11);
  return d;
}

Status CheckLabelPart(std::string_view what, std::string_view s) {
  if (IsValidLabelPart(s)) return Status::Ok();
  return Status(errc::invalid_label, std::string(what) + " `" + std::string(s.substr(0, 80)) +
                                         "` must be 1..64 of [A-Za-z0-9._/-]");
}

// Tokens are 256-bit random, so a plain SHA-256 is a safe lookup key (no salt needed).
std::string TokenHash(std::string_view token) { return Sha256Hex(token); }

}  // namespace

const char* DeviceStateName(DeviceState s) {
  switch (s) {
    case DeviceState::kProvisioned:
      return "provisioned";
    case DeviceState::kActive:
      return "active";
    case DeviceState::kDecommissioned:
      return "decommissioned";
  }
  return "provisioned";
}

DeviceRegistry::DeviceRegistry(RegistryConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

Status DeviceRegistry::Open() {
  std::lock_guard lock(mu_);
  if (auto db = sqlite::Db::Open(config_.data_dir + "/registry.db", {.wal = true}); db.ok()) {
    db_ = std::move(*db);
  } else {
    return db.status();
  }
  return db_.Exec(kSchema);
}

Status DeviceRegistry::ParseLabelSelector(std::string_view text,
                                          std::map<std::string, std::string>* out) {
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos) colon = item.find('=');
    if (colon == std::string_view::npos) {
      return Status(errc::invalid_label, "label selector item `" + std::string(item.substr(0, 80)) +
                                             "` is not key:value (key:value[,key:value])");
    }
    std::string_view k = item.substr(0, colon), v = item.substr(colon + 1);
    if (Status s = CheckLabelPart("label key", k); !s.ok()) return s;
    if (Status s = CheckLabelPart("label value", v); !s.ok()) return s;
    (*out)[std::string(k)] = std::string(v);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return Status::Ok();
}

Result<DeviceCredentials> DeviceRegistry::Provision(const DeviceSpec& spec) {
  if (Status s = CheckName("device id", spec.id); !s.ok()) return s;
  if (Status s = CheckLabelPart("device type", spec.type); !s.ok()) return s;
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : spec.labels) {
    if (Status s = CheckLabelPart("label key", k); !s.ok()) return s;
    if (Status s = CheckLabelPart("label value", v); !s.ok()) return s;
    labels[k] = v;
  }
  DeviceCredentials c;
  c.device_id = spec.id;
  c.token = "dev_" + RandomHex(32);
  c.mqtt_username = spec.id;
  c.mqtt_password = RandomHex(16);
  std::string password_hash = HashPassword(c.mqtt_password, config_.password_iterations);
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "INSERT INTO devices (id, type, labels, firmware, token_hash, mqtt_password_hash, "
      "created_at) VALUES (?,?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->Bind(1, spec.id)
      .Bind(2, spec.type)
      .Bind(3, labels.dump())
      .Bind(4, spec.firmware)
      .Bind(5, TokenHash(c.token))
      .Bind(6, password_hash)
      .Bind(7, clock_.NowNanos());
  if (Status s = st->Run(); !s.ok()) {
    if (s == make_error_code(aiot::errc::already_exists)) {
      return {aiot::errc::already_exists,
              "device " + spec.id + " already exists (ids are not reused after decommissioning)"};
    }
    return s;
  }
  log::Get("registry")->info("provisioned device {}", spec.id);
  return c;
}

Result<Device> DeviceRegistry::GetLocked(std::string_view id) {
  auto st = db_.Prepare(std::string("SELECT ") + kColumns + " FROM devices WHERE id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  if (!*r) return {aiot::errc::not_found, "device " + std::string(id) + " not found"};
  return ReadRow(*st);
}

Result<Device> DeviceRegistry::Get(std::string_view id) {
  if (Status s = CheckName("device id", id); !s.ok()) return s;
  std::lock_guard lock(mu_);
  return GetLocked(id);
}

Result<std::vector<Device>> DeviceRegistry::List(const std::map<std::string, std::string>& labels,
                                                 bool include_decommissioned) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM devices WHERE 1";
  if (!include_decommissioned) sql += " AND state != 'decommissioned'";
  for (size_t i = 0; i < labels.size(); ++i) {
    sql += " AND json_extract(labels, ?" + std::to_string(2 * i + 1) + ") = ?" +
           std::to_string(2 * i + 2);
  }
  sql += " ORDER BY id";
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(sql);
  if (!st.ok()) return st.status();
  int i = 1;
  for (const auto& [k, v] : labels) {
    if (Status s = CheckLabelPart("label key", k); !s.ok()) return s;
    st->Bind(i, "$.\"" + k + "\"").Bind(i + 1, v);
    i += 2;
  }
  std::vector<Device> out;
  Status s = st->ForEachRow([&out](const sqlite::Stmt& row) { out.push_back(ReadRow(row)); });
  if (!s.ok()) return s;
  return out;
}

Result<std::string> DeviceRegistry::AuthenticateToken(std::string_view token) {
  std::lock_guard lock(mu_);
  auto st =
      db_.Prepare("SELECT id FROM devices WHERE token_hash = ? AND state != 'decommissioned'");
  if (!st.ok()) return st.status();
  st->Bind(1, TokenHash(token));
  auto r = st->Step();
  if (!r.ok()) return r.status();
  if (!*r) return {aiot::errc::unauthenticated, "unknown or revoked device token"};
  return st->TextString(0);
}

bool DeviceRegistry::CheckMqttCredentials(std::string_view username, std::string_view password) {
  std::string hash;
  {
    std::lock_guard lock(mu_);
    auto st = db_.Prepare(
        "SELECT mqtt_password_hash FROM devices WHERE id = ? AND state != 'decommissioned'");
    if (!st.ok()) return false;
    st->Bind(1, username);
    auto r = st->Step();
    if (!r.ok() || !*r) return false;
    hash = st->TextString(0);
  }
  return VerifyPassword(password, hash);
}

Result<Device> DeviceRegistry::Activate(std::string_view id, std::string_view token) {
  if (Status s = CheckName("device id", id); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "UPDATE devices SET state = 'active', activated_at = CASE activated_at WHEN 0 THEN ? ELSE "
      "activated_at END WHERE id = ? AND token_hash = ? AND state != 'decommissioned'");
  if (!st.ok()) return st.status();
  st->Bind(1, clock_.NowNanos()).Bind(2, id).Bind(3, TokenHash(token));
  if (Status s = st->Run(); !s.ok()) return s;
  if (db_.Changes() == 0) {
    return {aiot::errc::unauthenticated,
            "device " + std::string(id) + ": wrong token, or the device is decommissioned"};
  }
  log::Get("registry")->info("device {} activated", id);
  return GetLocked(id);
}

Status DeviceRegistry::RecordStatus(std::string_view id, std::string_view status_json) {
  if (Status s = CheckName("device id", id); !s.ok()) return s;
  auto status = ParseDeviceStatus(status_json, id);
  if (!status.ok()) return status.status();
  return RecordStatus(id, *status, status_json);
}

Status DeviceRegistry::RecordStatus(std::string_view id, const DeviceStatus& status,
                                    std::string_view status_json) {
  if (Status s = CheckName("device id", id); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "UPDATE devices SET last_seen = ?, status = ?, "
      "online = CASE WHEN ? THEN ? ELSE online END, "
      "reported_model = CASE WHEN ? != '' THEN ? ELSE reported_model END "
      "WHERE id = ? AND state != 'decommissioned'");
  if (!st.ok()) return st.status();
  st->Bind(1, clock_.NowNanos())
      .Bind(2, status_json)
      .Bind(3, status.has_online ? 1 : 0)
      .Bind(4, status.online ? 1 : 0)
      .Bind(5, status.model)
      .Bind(6, status.model)
      .Bind(7, id);
  if (Status s = st->Run(); !s.ok()) return s;
  if (db_.Changes() == 0) {
    return {aiot::errc::not_found, "device " + std::string(id) + " not found or decommissioned"};
  }
  return Status::Ok();
}

Status DeviceRegistry::SetDesiredModel(std::string_view id, std::string_view model_ref) {
  std::lock_guard lock(mu_);
  auto st = db_.Prepare("UPDATE devices SET desired_model = ? WHERE id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, model_ref).Bind(2, id);
  if (Status s = st->Run(); !s.ok()) return s;
  if (db_.Changes() == 0)
    return {aiot::errc::not_found, "device " + std::string(id) + " not found"};
  return Status::Ok();
}

Status DeviceRegistry::Decommission(std::string_view id) {
  if (Status s = CheckName("device id", id); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "UPDATE devices SET state = 'decommissioned', token_hash = NULL, mqtt_password_hash = NULL, "
      "online = 0 WHERE id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  if (Status s = st->Run(); !s.ok()) return s;
  if (db_.Changes() == 0)
    return {aiot::errc::not_found, "device " + std::string(id) + " not found"};
  log::Get("registry")->info("device {} decommissioned", id);
  return Status::Ok();
}

}  // namespace aiot::registry
