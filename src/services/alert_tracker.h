#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/config.h"
#include "services/levels.h"

namespace aiot::services {

// Debounce and hysteresis for per-device alerts. The per-reading level (what `fan/anomaly`
// carries) flickers when a score hovers around a threshold; the alert state does not:
//  - it enters critical after `enter_critical_after` consecutive critical readings,
//  - it enters warning (from ok) after `enter_warning_after` consecutive readings at or above the
//    warning threshold,
//  - it leaves critical only after `exit_critical_after` consecutive readings below
//    `critical_exit` (a lower exit threshold, so a score oscillating around `critical` does not
//    re-alert), and leaves warning after `exit_warning_after` readings below `warning_exit`.
struct AlertConfig {
  // Consecutive critical readings before a device's alert state becomes critical.
  uint32_t enter_critical_after = 3;
  // Consecutive readings at or above the warning threshold before the state becomes warning.
  uint32_t enter_warning_after = 3;
  // Consecutive readings below `critical_exit` before a critical device leaves critical.
  uint32_t exit_critical_after = 5;
  // Consecutive readings below `warning_exit` before a warning device returns to ok.
  uint32_t exit_warning_after = 5;
  // Exit threshold for critical, as an offset below the critical threshold (0.1 with the default
  // thresholds: leave critical only below 0.7).
  double critical_exit_margin = 0.1;
  // Exit threshold for warning, as an offset below the warning threshold.
  double warning_exit_margin = 0.05;
  // Devices tracked at most; readings of further devices are scored but not alert-tracked.
  uint32_t max_devices = 100000;
};

void Describe(config::Visitor& v, AlertConfig& c);

// A change of a device's alert state.
struct AlertTransition {
  Level from;
  Level to;
};

// Per-device alert state. Not thread-safe: owned by one predictor worker.
class AlertTracker {
 public:
  explicit AlertTracker(const AlertConfig& config) : config_(config) {}

  // Feeds one reading; returns the transition it caused, if any. `thresholds` are those of the
  // model that scored the reading (models may carry their own).
  std::optional<AlertTransition> Observe(std::string_view device_id, double score,
                                         const Thresholds& thresholds);

  // The current alert state of a device (ok when unknown).
  Level StateOf(std::string_view device_id) const;
  size_t device_count() const { return devices_.size(); }
  // Readings of devices beyond max_devices, which were not tracked.
  uint64_t untracked() const { return untracked_; }

 private:
  struct DeviceState {
    Level state = Level::kOk;
    // Consecutive readings pushing the state up (towards `up_level`) or down.
    uint32_t up_run = 0;
    uint32_t critical_run = 0;
    uint32_t down_run = 0;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  AlertConfig config_;
  std::unordered_map<std::string, DeviceState, Hash, std::equal_to<>> devices_;
  uint64_t untracked_ = 0;
};

}  // namespace aiot::services
