#include "ota/rollout.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::ota {

void Describe(config::Visitor& v, OtaConfig& c) {
  v.Field("public_url", c.public_url,
          "base URL devices download artifacts from (the HTTP API as devices see it)");
  v.Field("control_topic_prefix", c.control_topic_prefix,
          "control messages go to <prefix><deviceID>");
  v.Field("status_topic", c.status_topic, "device status topic filter (device id = last level)");
  v.Field("canary_percent", c.canary_percent, "default canary wave size, percent of targets");
  v.Field("failure_threshold", c.failure_threshold,
          "halt and roll back when more than this fraction of the canary fails");
  v.Field("device_timeout_s", c.device_timeout_s,
          "a device that has not answered this long after its command counts as failed");
  v.Field("tick_ms", c.tick_ms, "how often timeouts are checked, in milliseconds");
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

Result<Rollout> RolloutManager::Start(const RolloutRequest& req) {
  double pct = req.canary_percent < 0 ? config_.canary_percent : req.canary_percent;
  double threshold = req.failure_threshold < 0 ? config_.failure_threshold : req.failure_threshold;
  if (pct > 100 || threshold > 1) return errc::invalid_argument;
  auto model = models_.Get(req.model, req.version);
  if (!model.ok()) return model.error();

  std::vector<registry::Device> targets;
  if (!req.devices.empty()) {
    for (const auto& id : req.devices) {
      auto d = devices_.Get(id);
      if (!d.ok()) return d.error();
      if (d->state != registry::DeviceState::kDecommissioned) targets.push_back(std::move(*d));
    }
  } else {
    auto list = devices_.List(req.selector);
    if (!list.ok()) return list.error();
    targets = std::move(*list);
  }
  if (targets.empty()) return errc::invalid_argument;
  std::sort(targets.begin(), targets.end(),
            [](const auto& a, const auto& b) { return a.spec.id < b.spec.id; });

  Rollout r;
  r.model = req.model;
  r.version = req.version;
  r.canary_percent = pct;
  r.failure_threshold = threshold;
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
    r.state = RolloutState::kRolling;
    SendWave(r, /*canary=*/false, out);
  }
  if (r.state == RolloutState::kRolling && answered(false)) {
    r.state = RolloutState::kCompleted;
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
  if (it == rollouts_.end()) return errc::not_found;
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
  if (it == rollouts_.end()) return errc::not_found;
  Rollout& r = it->second;
  if (r.state != RolloutState::kCanary && r.state != RolloutState::kRolling) {
    return errc::invalid_argument;
  }
  r.state = RolloutState::kAborted;
  r.reason = std::string(reason);
  log::Get("ota")->warn("rollout {} aborted: {}", r.id, r.reason);
  return r;
}

void RolloutManager::OnStatus(std::string_view device, const registry::DeviceStatus& status) {
  std::vector<Outgoing> out;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, r] : rollouts_) {
      if (r.state != RolloutState::kCanary && r.state != RolloutState::kRolling) continue;
      std::string target_ref = r.model + "@" + std::to_string(r.version);
      bool changed = false;
      for (auto& d : r.devices) {
        if (d.device != device || d.state != DeviceRolloutState::kSent) continue;
        if (status.ota_rollout == r.id && status.ota_state == "failed") {
          d.state = DeviceRolloutState::kFailed;
          d.error = status.ota_error.empty() ? "failed" : status.ota_error;
          changed = true;
        } else if ((status.ota_rollout == r.id && status.ota_state == "ok") ||
                   status.model == target_ref) {
          d.state = DeviceRolloutState::kOk;
          changed = true;
        }
      }
      if (changed) Evaluate(r, out);
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
      if (r.state != RolloutState::kCanary && r.state != RolloutState::kRolling) continue;
      bool changed = false;
      for (auto& d : r.devices) {
        if (d.state == DeviceRolloutState::kSent && now - d.sent_at > timeout) {
          d.state = DeviceRolloutState::kFailed;
          d.error = "timeout";
          changed = true;
        }
      }
      if (changed) Evaluate(r, out);
    }
  }
  Flush(out);
}

}  // namespace aiot::ota
