#include "services/alert_tracker.h"

#include <algorithm>

namespace aiot::services {

void Describe(config::Visitor& v, AlertConfig& c) {
  v.Field("enter_critical_after", c.enter_critical_after,
          "Consecutive critical readings before a device's alert state becomes critical (and an "
          "alert and, if enabled, an actuator command go out).");
  v.Field("enter_warning_after", c.enter_warning_after,
          "Consecutive readings at or above the warning threshold before the state becomes "
          "warning.");
  v.Field("exit_critical_after", c.exit_critical_after,
          "Consecutive readings below the critical exit threshold before a device leaves "
          "critical.");
  v.Field("exit_warning_after", c.exit_warning_after,
          "Consecutive readings below the warning exit threshold before a device returns to ok.");
  v.Field("critical_exit_margin", c.critical_exit_margin,
          "Hysteresis: critical is left only below (critical threshold - this margin).");
  v.Field("warning_exit_margin", c.warning_exit_margin,
          "Hysteresis: warning is left only below (warning threshold - this margin).");
  v.Field("max_devices", c.max_devices,
          "Devices whose alert state is tracked at most (bounds memory); further devices are "
          "scored but raise no alerts.");
}

std::optional<AlertTransition> AlertTracker::Observe(std::string_view device_id, double score,
                                                     const Thresholds& thresholds) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    if (devices_.size() >= config_.max_devices) {
      ++untracked_;
      return std::nullopt;
    }
    it = devices_.emplace(std::string(device_id), DeviceState{}).first;
  }
  DeviceState& d = it->second;
  const Level level = thresholds.Classify(score);
  const uint32_t enter_critical = std::max<uint32_t>(1, config_.enter_critical_after);
  const uint32_t enter_warning = std::max<uint32_t>(1, config_.enter_warning_after);
  const uint32_t exit_critical = std::max<uint32_t>(1, config_.exit_critical_after);
  const uint32_t exit_warning = std::max<uint32_t>(1, config_.exit_warning_after);
  const double critical_exit = thresholds.critical - config_.critical_exit_margin;
  const double warning_exit = thresholds.warning - config_.warning_exit_margin;

  const Level from = d.state;
  Level to = from;
  switch (from) {
    case Level::kOk:
      d.critical_run = level == Level::kCritical ? d.critical_run + 1 : 0;
      d.up_run = level != Level::kOk ? d.up_run + 1 : 0;
      if (d.critical_run >= enter_critical) {
        to = Level::kCritical;
      } else if (d.up_run >= enter_warning) {
        to = Level::kWarning;
      }
      break;
    case Level::kWarning:
      d.critical_run = level == Level::kCritical ? d.critical_run + 1 : 0;
      d.down_run = score < warning_exit ? d.down_run + 1 : 0;
      if (d.critical_run >= enter_critical) {
        to = Level::kCritical;
      } else if (d.down_run >= exit_warning) {
        to = Level::kOk;
      }
      break;
    case Level::kCritical:
      d.down_run = score < critical_exit ? d.down_run + 1 : 0;
      if (d.down_run >= exit_critical) {
        to = score >= warning_exit ? Level::kWarning : Level::kOk;
      }
      break;
  }
  if (to == from) return std::nullopt;
  d.state = to;
  d.up_run = 0;
  d.down_run = 0;
  // Critical readings that lifted the state to warning keep counting towards critical.
  if (!(from == Level::kOk && to == Level::kWarning)) d.critical_run = 0;
  return AlertTransition{from, to};
}

Level AlertTracker::StateOf(std::string_view device_id) const {
  auto it = devices_.find(device_id);
  return it == devices_.end() ? Level::kOk : it->second.state;
}

}  // namespace aiot::services
