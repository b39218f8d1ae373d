#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "base/result.h"
#include "sim/sim_config.h"
#include "sim/simulated_device.h"

namespace aiot::sim {

// A labeled historical data set for training: a fleet run over simulated days, one row per
// reading.
struct HistoryConfig {
  uint64_t rows = 10000;
  uint32_t devices = 20;
  std::string id_prefix = "fan-";
  double faulty_fraction = 0.5;
  double interval_s = 60;                           // simulated seconds between a device's readings
  int64_t start_nanos = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z
  uint64_t seed = 1;
  PhysicsConfig physics = [] {
    PhysicsConfig p;
    p.recurring_faults = true;  // a long history sees machines fail, get repaired, fail again
    return p;
  }();
};

// Header of the CSV WriteHistoryCsv writes. The four reference features (rotation, temperature,
// vibration, sound) come first; `faulty` is the label (1 = degraded, heading for failure),
// `time_to_failure_s` the expected remaining life (-1 without a fault), `mode` and `severity` the
// ground truth behind them.
const std::vector<std::string>& HistoryColumns();

struct HistoryStats {
  uint64_t rows = 0;
  uint64_t faulty_rows = 0;
  uint64_t failures = 0;
};

// Writes the header and `config.rows` rows. With `maintenance`, also the fleet's maintenance
// records as CSV (header device,kind,at,mode; kind failure or repair, at RFC 3339) for the time
// the history covers. Errors: invalid_argument for a bad config, io_error when a stream fails.
Result<HistoryStats> WriteHistoryCsv(const HistoryConfig& config, std::ostream& out,
                                     std::ostream* maintenance = nullptr);

// The device ids of a fleet: <prefix>0001, <prefix>0002, ...
std::string DeviceId(std::string_view prefix, uint32_t index);

// Whether device `index` of a fleet of `devices` is one of the faulty ones: the first
// round(faulty_fraction * devices) of a seed-determined permutation.
std::vector<bool> PickFaulty(uint32_t devices, double faulty_fraction, uint64_t seed);

// How early a detector catches failures and how often it cries wolf. The detector raises a critical
// alert after `consecutive` readings scored at or above `critical` (the alert tracker's rule).
struct DetectionConfig {
  uint32_t faulty_devices = 20;
  uint32_t healthy_devices = 20;
  double interval_s = 60;
  double critical = 0.8;
  uint32_t consecutive = 3;
  uint64_t seed = 7;  // use a different seed from the training history
  PhysicsConfig physics;
};

struct DetectionReport {
  uint32_t failures = 0;             // faulty devices that reached failure
  uint32_t caught = 0;               // ... with a critical alert before failing
  std::vector<double> lead_times_s;  // failure time - first critical alert, for caught failures
  double median_lead_s = 0;
  double median_time_to_failure_s = 0;  // onset -> failure, for scale
  uint64_t healthy_readings = 0;        // readings of machines with no active fault
  uint64_t healthy_critical = 0;        // ... scored critical
  uint32_t healthy_devices = 0;
  uint32_t healthy_devices_alerted = 0;  // healthy machines that raised a critical alert
  double false_alarm_rate() const {
    return healthy_readings ? static_cast<double>(healthy_critical) / healthy_readings : 0;
  }
};

using Scorer = std::function<double(const Reading&)>;

// Runs each faulty device from the start to its first failure and each healthy device for as long,
// scoring every reading.
DetectionReport EvaluateDetection(const DetectionConfig& config, const Scorer& score);

}  // namespace aiot::sim
