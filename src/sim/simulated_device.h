#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
#include "dsp/features.h"
#include "sim/machine.h"
#include "sim/sim_config.h"

namespace aiot::sim {

// One telemetry reading plus the ground truth the simulator knows (the truth is not published).
struct Reading {
  int64_t time_nanos = 0;
  double rotation = 0;     // rpm
  double temperature = 0;  // C
  double vibration = 0;    // RMS acceleration of the frame (mg), measured by the DSP
  double sound = 0;        // dB
  dsp::FrameFeatures spectrum;
  // Ground truth.
  FailureMode mode = FailureMode::kNone;
  double severity = 0;
  bool faulty = false;            // severity >= degraded_severity
  double time_to_failure_s = -1;  // expected, at the current load; -1 without a fault
};

// What a maintenance crew would record about a simulated machine: it failed (at the moment its
// damage reached 1) or it was repaired (when its downtime ended), in simulation time.
struct MaintenanceEvent {
  enum class Kind { kFailure, kRepair };
  Kind kind = Kind::kFailure;
  int64_t time_nanos = 0;
  FailureMode mode = FailureMode::kNone;  // the failure's mode (also for its repair)
};
const char* MaintenanceEventKindName(MaintenanceEvent::Kind kind);  // "failure", "repair"

// The DSP set-up the simulator and the device agent share: the physics config's frame, and four
// bands (shaft 1x/2x, blade pass, mid, high/bearing resonance) named by BandNames().
dsp::FrameFeaturesConfig DeviceDspConfig(const PhysicsConfig& physics);
const std::vector<std::string>& BandNames();
Status ValidatePhysics(const PhysicsConfig& physics);

// Appends the telemetry JSON of `r` (the reference payload plus "spectrum") to `out`:
// {"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z","rotation":601.2,
//  "temperature":40.1,"vibration":151.0,"sound":50.3,"spectrum":{...}}
void AppendTelemetryJson(std::string_view device_id, const Reading& r, std::string* out);

// A simulated device: a Machine, its fault schedule and the device's DSP. Step(now) advances the
// physics to `now` (simulation time, nanoseconds) and takes a reading the way a device does:
// sample a burst of vibration, run the DSP, read the other sensors. Not thread-safe; allocation
// happens in the constructor only.
class SimulatedDevice {
 public:
  // REQUIRES: ValidatePhysics(physics).ok().
  // `will_fail`: the device develops a fault within physics.fault_onset_max_s of `start_nanos`.
  SimulatedDevice(std::string id, const PhysicsConfig& physics, uint64_t seed, bool will_fail,
                  int64_t start_nanos);

  // Advances to `now_nanos` (ignored if not after the last step) and reads the sensors. Returns
  // nullopt while the machine is down for repair.
  std::optional<Reading> Step(int64_t now_nanos);

  // Advances without reading (cheap; used to fast-forward).
  void AdvanceTo(int64_t now_nanos);

  // Actuator: load fraction in [0.1, 1], until the machine is repaired (back at its duty load).
  void SetLoad(double load) { machine_.SetLoad(load); }

  const std::string& id() const { return id_; }
  Machine& machine() { return machine_; }
  const Machine& machine() const { return machine_; }
  bool down() const { return down_until_nanos_ > last_nanos_; }
  // Simulation time of each failure so far.
  const std::vector<int64_t>& failures() const { return failures_; }
  // Simulation time the current/next fault starts (INT64_MAX if none is scheduled).
  int64_t next_onset_nanos() const { return onset_nanos_; }
  // The failures and repairs since the last call, oldest first (at most the last 64 are kept
  // between calls).
  std::vector<MaintenanceEvent> TakeMaintenanceEvents();

 private:
  void ScheduleOnset(int64_t from_nanos);
  void Report(MaintenanceEvent::Kind kind);
  void ApplyRegime(const RegimeChange& r);
  void ApplyDueRegimes();
  int64_t RegimeAt(size_t i) const;  // simulation time of physics_.regimes[i]

  std::string id_;
  PhysicsConfig physics_;
  std::mt19937_64 rng_;
  Machine machine_;
  dsp::FrameAnalyzer analyzer_;
  std::vector<float> frame_;
  std::vector<FailureMode> modes_;
  bool will_fail_;
  int64_t last_nanos_;
  int64_t onset_nanos_ = INT64_MAX;
  int64_t down_until_nanos_ = 0;
  std::vector<int64_t> failures_;
  std::vector<MaintenanceEvent> events_;
  FailureMode failed_mode_ = FailureMode::kNone;  // of the failure being repaired
  int64_t start_nanos_;
  size_t next_regime_ = 0;          // physics_.regimes[next_regime_] is the next to apply
  OperatingConditions conditions_;  // after the regime changes applied so far
  // The load the machine runs at in service (1, or the last regime change's): a repair puts it
  // back there, whatever an actuator eased it to while it degraded.
  double duty_load_ = 1.0;
};

}  // namespace aiot::sim
