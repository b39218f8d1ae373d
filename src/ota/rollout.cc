#include "ota/rollout.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/json.h"
#include "base/log.h"

namespace aiot::ota {

void Describe(config::Visitor& v, OtaConfig& c) {
  v.Field("public_url", c.public_url,
          "base URL devices download artifacts from (the HTTP API as devices see it; `aiot up "
          "--simulate`: its own API when not configured)");
  v.Field("control_topic_prefix", c.control_topic_prefix,
          "control messages go to <prefix><deviceID>");
  v.Field("status_topic", c.status_topic, "device status topic filter (device id = last level)");
  v.Field("canary_percent", c.canary_percent, "default canary wave size, percent of targets");
  v.Field("failure_threshold", c.failure_threshold,
          "halt and roll back when more than this fraction of the canary fails");
  v.Field("canary_soak_s", c.canary_soak_s,
          "after the canary reported ok, wait this long (seconds) for late failures before the "
          "rest gets the model");
  v.Field("device_timeout_s", c.device_timeout_s,
          "a device that has not answered this long after its command counts as failed");
  v.Field("tick_ms", c.tick_ms, "how often timeouts are checked, in milliseconds");
  v.Field("db_path", c.db_path,
          "rollout store (SQLite); empty: <registry data_dir>/rollouts.db, :memory: = not kept");
}

const char* RolloutStateName(RolloutState s) {
  switch (s) {
    case RolloutState::kCanary:
      return "canary";
    case RolloutState::kRolling:
      return "rolling";
    case RolloutState::kCompleted:
      return "completed";
    case RolloutState::kRolledBack:
      return "rolled_back";
    case RolloutState::kAborted:
      return "aborted";
  }
  return "?";
}

const char* DeviceRolloutStateName(DeviceRolloutState s) {
  switch (s) {
    case DeviceRolloutState::kPending:
      return "pending";
    case DeviceRolloutState::kSent:
      return "sent";
    case DeviceRolloutState::kOk:
      return "ok";
    case DeviceRolloutState::kFailed:
      return "failed";
    case DeviceRolloutState::kRolledBack:
      return "rolled_back";
  }
  return "?";
}

namespace {

template <typename E, typename NameFn>
bool ParseName(std::string_view text, std::initializer_list<E> all, NameFn name, E* out) {
  for (E e : all) {
    if (text == name(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}

bool Active(RolloutState s) { return s == RolloutState::kCanary || s == RolloutState::kRolling; }

}  // namespace

nlohmann::json DevicesJson(const Rollout& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices) {
    devices.push_back({{"device", d.device},
                       {"canary", d.canary},
                       {"previous_model", d.previous_model},
                       {"state", DeviceRolloutStateName(d.state)},
                       {"error", d.error}});
  }
  return devices;
}

nlohmann::json RolloutRecord(const Rollout& r) {
  return {{"id", r.id},
          {"model", r.model},
          {"version", r.version},
          {"canary_percent", r.canary_percent},
          {"failure_threshold", r.failure_threshold},
          {"canary_soak_s", r.canary_soak_s},
          {"state", RolloutStateName(r.state)},
          {"reason", r.reason},
          {"created_at", r.created_at},
          {"resumed_at", r.resumed_at},
          {"devices", DevicesJson(r)}};
}

namespace {

Status Corrupt(std::string_view what) {
  return Status(errc::corrupted, "rollout record: " + std::string(what));
}

// Moves a present, well-typed value into *out; false when the field is missing or mistyped.
template <typename T, typename U>
bool Take(std::optional<T> v, U* out) {
  if (!v) return false;
  *out = static_cast<U>(*v);
  return true;
}

Result<DeviceRollout> DeviceRolloutFromRecord(const nlohmann::json& jd) {
  DeviceRollout d;
  std::string state;
  if (!Take(json::String(jd, "device"), &d.device)) return Corrupt("a device has no \"device\"");
  if (!Take(json::Bool(jd, "canary"), &d.canary)) return Corrupt("a device has no \"canary\"");
  if (!Take(json::String(jd, "state"), &state) ||
      !ParseName(state,
                 {DeviceRolloutState::kPending, DeviceRolloutState::kSent, DeviceRolloutState::kOk,
                  DeviceRolloutState::kFailed, DeviceRolloutState::kRolledBack},
                 DeviceRolloutStateName, &d.state)) {
    return Corrupt("a device has no valid \"state\"");
  }
  d.previous_model = json::StringOr(jd, "previous_model", "");
  d.error = json::StringOr(jd, "error", "");
  return d;
}

}  // namespace

// Records are read back from rollouts.db, so they are parsed as untrusted: every field is
// checked for presence and type, and the first bad one names the corruption.
Result<Rollout> RolloutFromRecord(const nlohmann::json& j) {
  if (!j.is_object()) return Corrupt("not a JSON object");
  Rollout r;
  std::string state;
  if (!Take(json::String(j, "id"), &r.id)) return Corrupt("no \"id\"");
  if (!Take(json::String(j, "model"), &r.model)) return Corrupt("no \"model\"");
  if (!Take(json::Int(j, "version"), &r.version)) return Corrupt("no \"version\"");
  if (!Take(json::Number(j, "canary_percent"), &r.canary_percent)) {
    return Corrupt("no \"canary_percent\"");
  }
  if (!Take(json::Number(j, "failure_threshold"), &r.failure_threshold)) {
    return Corrupt("no \"failure_threshold\"");
  }
  const int64_t soak = json::Int(j, "canary_soak_s").value_or(0);
  if (soak < 0 || soak > INT32_MAX) return Corrupt("\"canary_soak_s\" out of range");
  r.canary_soak_s = static_cast<int32_t>(soak);
  if (!Take(json::String(j, "state"), &state) ||
      !ParseName(state,
                 {RolloutState::kCanary, RolloutState::kRolling, RolloutState::kCompleted,
                  RolloutState::kRolledBack, RolloutState::kAborted},
                 RolloutStateName, &r.state)) {
    return Corrupt("no valid \"state\"");
  }
  r.reason = json::StringOr(j, "reason", "");
  if (!Take(json::Int(j, "created_at"), &r.created_at)) return Corrupt("no \"created_at\"");
  r.resumed_at = json::Int(j, "resumed_at").value_or(0);
  const nlohmann::json* devices = json::Find(j, "devices");
  if (devices == nullptr || !devices->is_array()) return Corrupt("no \"devices\" array");
  for (const auto& jd : *devices) {
    auto d = DeviceRolloutFromRecord(jd);
    if (!d.ok()) return d.status();
    r.devices.push_back(std::move(*d));
  }
  return r;
}

int Rollout::Count(DeviceRolloutState s, bool canary_only) const {
  int n = 0;
  for (const auto& d : devices) {
    if (d.state == s && (!canary_only || d.canary)) ++n;
  }
  return n;
}

std::string DownloadModelCommand(const OtaConfig& config, const registry::ModelVersion& m,
                                 std::string_view rollout_id) {
  nlohmann::json j = {{"command", "download-model"},
                      {"payload",
                       {{"name", m.name},
                        {"version", m.version},
                        {"url", config.public_url + "/api/v1/models/" + m.name + "/versions/" +
                                    std::to_string(m.version) + "/artifact"},
                        {"sha256", m.sha256},
                        {"signature", m.signature},
                        {"size", m.size},
                        {"rollout", rollout_id}}}};
  return j.dump();
}

RolloutManager::RolloutManager(OtaConfig config, registry::ModelRegistry& models,
                               registry::DeviceRegistry& devices, Publish publish,
                               const Clock& clock)
    : config_(std::move(config)),
      models_(models),
      devices_(devices),
      publish_(std::move(publish)),
      clock_(clock) {}

Status RolloutManager::Open(const std::string& path) {
  auto log = log::Get("ota");
  std::lock_guard lock(mu_);
  if (auto db = sqlite::Db::Open(path, {.wal = true}); db.ok()) {
    db_ = std::move(*db);
  } else {
    log->error("rollout store {}: {}", path, db.status().message());
    return db.status();
  }
  if (Status s = db_.Exec("CREATE TABLE IF NOT EXISTS rollouts ("
                          " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, state TEXT NOT NULL,"
                          " record TEXT NOT NULL, command TEXT NOT NULL)");
      !s.ok()) {
    log->error("rollout store {}: {}", path, db_.LastError());
    return s;
  }
  auto stmt = db_.Prepare("SELECT seq, record, command FROM rollouts ORDER BY seq");
  if (!stmt.ok()) return stmt.status();
  const int64_t now = clock_.MonotonicNanos();
  int resumed = 0;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    int64_t seq = stmt->Int(0);
    auto record = nlohmann::json::parse(stmt->TextString(1), nullptr, false);
    auto r = RolloutFromRecord(record);
    if (!r.ok()) {
      return r.status().Prefix(path + ": row " + std::to_string(seq));
    }
    next_id_ = std::max(next_id_, seq + 1);
    if (Active(r->state)) {
      // Monotonic times of the previous run mean nothing now: timeouts and the soak restart.
      for (auto& d : r->devices) {
        if (d.state == DeviceRolloutState::kSent) d.sent_at = now;
        if (d.state == DeviceRolloutState::kOk) d.answered_at = now;
      }
      r->resumed_at = clock_.NowNanos();
      ++resumed;
      log->info("rollout {} of {}@{} resumes in state {}", r->id, r->model, r->version,
                RolloutStateName(r->state));
    }
    command_[r->id] = stmt->TextString(2);
    rollouts_[r->id] = std::move(*r);
  }
  for (auto& [id, r] : rollouts_) {
    if (r.resumed_at != 0 && Active(r.state)) Save(r);
  }
  if (!rollouts_.empty()) {
    log->info("rollout store {}: {} rollouts, {} resumed", path, rollouts_.size(), resumed);
  }
  return Status::Ok();
}

void RolloutManager::Save(const Rollout& r) {
  if (!db_.is_open()) return;
  auto stmt = db_.Prepare(
      "INSERT INTO rollouts (seq, id, state, record, command) VALUES (?, ?, ?, ?, ?)"
      " ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record");
  Status s = stmt.ok() ? stmt->Bind(1, static_cast<int64_t>(std::stoll(r.id.substr(2))))
                             .Bind(2, r.id)
                             .Bind(3, RolloutStateName(r.state))
                             .Bind(4, RolloutRecord(r).dump())
                             .Bind(5, command_[r.id])
                             .Run()
                       : Status(stmt.error());
  if (!s.ok()) {
    log::Get("ota")->error("cannot save rollout {}: {}", r.id, db_.LastError());
  }
}

Result<Rollout> RolloutManager::Start(const RolloutRequest& req) {
  double pct = req.canary_percent < 0 ? config_.canary_percent : req.canary_percent;
  double threshold = req.failure_threshold < 0 ? config_.failure_threshold : req.failure_threshold;
  int32_t soak = req.canary_soak_s < 0 ? config_.canary_soak_s : req.canary_soak_s;
  if (pct > 100 || threshold > 1) {
    return {errc::invalid_argument,
            "canary_percent must be at most 100 and failure_threshold at "
            "most 1"};
  }
  auto model = models_.Get(req.model, req.version);
  if (!model.ok()) return model.status();

  std::vector<registry::Device> targets;
  if (!req.devices.empty()) {
    for (const auto& id : req.devices) {
      auto d = devices_.Get(id);
      if (!d.ok()) return d.status();
      if (d->state != registry::DeviceState::kDecommissioned) targets.push_back(std::move(*d));
    }
  } else {
    auto list = devices_.List(req.selector);
    if (!list.ok()) return list.status();
    targets = std::move(*list);
  }
  if (targets.empty())
    return {errc::invalid_argument, "no live device matches the rollout's targets"};
  std::sort(targets.begin(), targets.end(),
            [](const auto& a, const auto& b) { return a.spec.id < b.spec.id; });

  Rollout r;
  r.model = req.model;
  r.version = req.version;
  r.canary_percent = pct;
  r.failure_threshold = threshold;
  r.canary_soak_s = soak;
  r.created_at = clock_.NowNanos();
  size_t canary = std::max<size_t>(
      1, static_cast<size_t>(std::ceil(static_cast<double>(targets.size()) * pct / 100.0)));
  std::string target_ref = req.model + "@" + std::to_string(req.version);
  for (size_t i = 0; i < targets.size(); ++i) {
    DeviceRollout d;
    d.device = targets[i].spec.id;
    d.canary = i < canary;
    d.previous_model = targets[i].reported_model;
    if (d.previous_model == target_ref) d.state = DeviceRolloutState::kOk;
    r.devices.push_back(std::move(d));
  }
  std::vector<Outgoing> out;
  Rollout copy;
  {
    std::lock_guard lock(mu_);
    r.id = "r-" + std::to_string(next_id_++);
    command_[r.id] = DownloadModelCommand(config_, *model, r.id);
    SendWave(r, /*canary=*/true, out);
    Evaluate(r, out);
    rollouts_[r.id] = r;
    Save(r);
    copy = r;
  }
  log::Get("ota")->info("rollout {} of {} to {} devices ({} canary) started by {}", r.id,
                        target_ref, r.devices.size(), canary, req.actor);
  Flush(out);
  return copy;
}

void RolloutManager::SendWave(Rollout& r, bool canary, std::vector<Outgoing>& out) {
  const std::string& payload = command_[r.id];
  std::string ref = r.model + "@" + std::to_string(r.version);
  for (auto& d : r.devices) {
    if (d.canary != canary || d.state != DeviceRolloutState::kPending) continue;
    d.state = DeviceRolloutState::kSent;
    d.sent_at = clock_.MonotonicNanos();
    (void)devices_.SetDesiredModel(d.device, ref);
    out.push_back({config_.control_topic_prefix + d.device, payload});
  }
}

void RolloutManager::Evaluate(Rollout& r, std::vector<Outgoing>& out) {
  auto answered = [&](bool canary_only) {
    for (const auto& d : r.devices) {
      if (canary_only && !d.canary) continue;
      if (d.state == DeviceRolloutState::kPending || d.state == DeviceRolloutState::kSent) {
        return false;
      }
    }
    return true;
  };
  if (r.state == RolloutState::kCanary && answered(true)) {
    int canary = 0, failed = 0;
    for (const auto& d : r.devices) {
      if (!d.canary) continue;
      ++canary;
      if (d.state == DeviceRolloutState::kFailed) ++failed;
    }
    double rate = static_cast<double>(failed) / canary;
    if (rate > r.failure_threshold) {
      r.reason = "canary failure rate " + std::to_string(failed) + "/" + std::to_string(canary) +
                 " above threshold " + std::to_string(r.failure_threshold);
      RollBack(r, out);
      return;
    }
    // Soak: late failures of the canary (reported after "ok") still count.
    int64_t last_answer = 0;
    for (const auto& d : r.devices) {
      if (d.canary) last_answer = std::max(last_answer, d.answered_at);
    }
    if (clock_.MonotonicNanos() - last_answer <
        static_cast<int64_t>(r.canary_soak_s) * 1'000'000'000) {
      return;  // Tick() evaluates again
    }
    r.state = RolloutState::kRolling;
    SendWave(r, /*canary=*/false, out);
  }
  if (r.state == RolloutState::kRolling && answered(false)) {
    r.state = RolloutState::kCompleted;
    r.reason.clear();
    log::Get("ota")->info("rollout {} completed: {} ok, {} failed", r.id,
                          r.Count(DeviceRolloutState::kOk), r.Count(DeviceRolloutState::kFailed));
  }
}

void RolloutManager::RollBack(Rollout& r, std::vector<Outgoing>& out) {
  r.state = RolloutState::kRolledBack;
  auto log = log::Get("ota");
  log->warn("rollout {} halted: {}; rolling back the canary", r.id, r.reason);
  std::string target_ref = r.model + "@" + std::to_string(r.version);
  for (auto& d : r.devices) {
    if (!d.canary || d.state != DeviceRolloutState::kOk || d.previous_model == target_ref) {
      continue;
    }
    std::string name;
    int64_t version = 0;
    if (!registry::SplitModelRef(d.previous_model, &name, &version)) {
      log->warn("rollout {}: {} had no previous model to roll back to", r.id, d.device);
      continue;
    }
    auto prev = models_.Get(name, version);
    if (!prev.ok()) {
      log->warn("rollout {}: previous model {} of {} is gone", r.id, d.previous_model, d.device);
      continue;
    }
    d.state = DeviceRolloutState::kRolledBack;
    (void)devices_.SetDesiredModel(d.device, d.previous_model);
    out.push_back({config_.control_topic_prefix + d.device,
                   DownloadModelCommand(config_, *prev, r.id + "-rollback")});
  }
}

void RolloutManager::Flush(std::vector<Outgoing>& out) {
  for (auto& o : out) publish_(o.topic, std::move(o.payload));
  out.clear();
}

Result<Rollout> RolloutManager::Get(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(std::string(id));
  if (it == rollouts_.end()) return {errc::not_found, "rollout " + std::string(id) + " not found"};
  return it->second;
}

std::vector<Rollout> RolloutManager::List() const {
  std::lock_guard lock(mu_);
  std::vector<Rollout> out;
  for (const auto& [id, r] : rollouts_) out.push_back(r);
  std::sort(out.begin(), out.end(),
            [](const Rollout& a, const Rollout& b) { return a.created_at > b.created_at; });
  return out;
}

Result<Rollout> RolloutManager::Abort(std::string_view id, std::string_view reason) {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(std::string(id));
  if (it == rollouts_.end()) return {errc::not_found, "rollout " + std::string(id) + " not found"};
  Rollout& r = it->second;
  if (r.state != RolloutState::kCanary && r.state != RolloutState::kRolling) {
    return {errc::invalid_argument,
            "rollout " + r.id + " already ended (" + RolloutStateName(r.state) + ")"};
  }
  r.state = RolloutState::kAborted;
  r.reason = std::string(reason);
  Save(r);
  log::Get("ota")->warn("rollout {} aborted: {}", r.id, r.reason);
  return r;
}

void RolloutManager::OnStatus(std::string_view device, const registry::DeviceStatus& status) {
  std::vector<Outgoing> out;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.MonotonicNanos();
    for (auto& [id, r] : rollouts_) {
      if (!Active(r.state)) continue;
      std::string target_ref = r.model + "@" + std::to_string(r.version);
      bool changed = false;
      for (auto& d : r.devices) {
        if (d.device != device) continue;
        const bool failed = status.ota_rollout == r.id && status.ota_state == "failed";
        if (d.state == DeviceRolloutState::kSent) {
          if (failed) {
            d.state = DeviceRolloutState::kFailed;
            d.error = status.ota_error.empty() ? "failed" : status.ota_error;
            d.answered_at = now;
            changed = true;
          } else if ((status.ota_rollout == r.id && status.ota_state == "ok") ||
                     status.model == target_ref) {
            d.state = DeviceRolloutState::kOk;
            d.answered_at = now;
            changed = true;
          }
        } else if (d.state == DeviceRolloutState::kOk && failed) {
          // A late failure: the model activated, then the device gave it up (e.g. it could not
          // score readings and the device rolled itself back).
          d.state = DeviceRolloutState::kFailed;
          d.error = status.ota_error.empty() ? "failed after activation" : status.ota_error;
          d.answered_at = now;
          changed = true;
        }
      }
      if (changed) {
        Evaluate(r, out);
        Save(r);
      }
    }
  }
  Flush(out);
}

void RolloutManager::Tick() {
  std::vector<Outgoing> out;
  {
    std::lock_guard lock(mu_);
    int64_t now = clock_.MonotonicNanos();
    int64_t timeout = static_cast<int64_t>(config_.device_timeout_s) * 1'000'000'000;
    for (auto& [id, r] : rollouts_) {
      if (!Active(r.state)) continue;
      bool changed = false;
      for (auto& d : r.devices) {
        if (d.state == DeviceRolloutState::kSent && now - d.sent_at > timeout) {
          d.state = DeviceRolloutState::kFailed;
          d.error = "timeout";
          d.answered_at = now;
          changed = true;
        }
      }
      const RolloutState before = r.state;
      // Every tick: a canary soak may have ended.
      if (changed || r.state == RolloutState::kCanary) Evaluate(r, out);
      if (changed || r.state != before) Save(r);
    }
  }
  Flush(out);
}

}  // namespace aiot::ota
