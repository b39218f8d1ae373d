#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string_view>

namespace aiot::sim {

// How a machine wears out. Each mode shows in the telemetry the way it does on a real fan:
//  - bearing wear: impacts at the outer-race defect frequency (BPFO) ring a structural resonance
//    (vibration energy in the high band, kurtosis up), friction heats the machine;
//  - imbalance: the 1x rotation harmonic grows (vibration up, a little sound and heat);
//  - blade degradation: the fan loses speed (toward ~400 rpm from ~600 at failure), blade-pass
//    vibration and sound rise — the fault pattern of the reference data set.
enum class FailureMode { kNone, kBearingWear, kImbalance, kBladeDegradation };

const char* FailureModeName(FailureMode mode);  // "none", "bearing", "imbalance", "blade"
bool ParseFailureMode(std::string_view name, FailureMode* out);

// The fixed properties of one machine, drawn per device so that a fleet is not a set of clones.
// Healthy values sit inside the healthy ranges of the reference data (rotation 500-700 rpm,
// temperature 35-45 C, vibration 100-200, sound 45-52 dB).
struct MachineSpec {
  double rated_rpm = 600;             // shaft speed at full load, healthy
  int blades = 5;                     // blade-pass frequency = blades x shaft frequency
  double bpfo_ratio = 3.57;           // bearing outer-race defect frequency / shaft frequency
  double resonance_hz = 1200;         // structural resonance rung by bearing impacts
  double ambient_c = 25;              // ambient temperature
  double healthy_temperature_c = 40;  // steady-state temperature at full load, healthy
  double healthy_vibration = 150;     // RMS acceleration of the healthy machine (mg)
  double healthy_sound_db = 48.5;     // sound level of the healthy machine (dB)
};

// Operating conditions that can change while a machine runs (a regime change of the simulated
// fleet), relative to the spec it was built with: the ambient temperature moves by
// `ambient_shift_c` (the machine's own temperature with it), healthy vibration is scaled by
// `vibration_scale` (a new machine type, a new mounting), sound moves by `sound_shift_db`.
struct OperatingConditions {
  double ambient_shift_c = 0;
  double vibration_scale = 1;
  double sound_shift_db = 0;
};

// A spec with per-machine variation around the defaults.
MachineSpec RandomSpec(std::mt19937_64& rng);

// One rotating machine: damage that grows while a fault is active, a first-order thermal model, and
// the accelerometer waveform the damage produces. Everything random comes from the machine's own
// generator, so a seed reproduces a run. Not thread-safe.
class Machine {
 public:
  Machine(const MachineSpec& spec, uint64_t seed);

  // Starts `mode`; at full load the machine fails after about `time_to_failure_s` of operation.
  void StartFault(FailureMode mode, double time_to_failure_s);
  // Back to healthy (a repaired or replaced machine).
  void Repair();
  // The actuator: the load fraction in [0.1, 1] (a valve or speed setpoint). Wear rate follows the
  // bearing-life law, proportional to load^3, so halving the load slows degradation eightfold; a
  // lighter load also runs cooler.
  void SetLoad(double load);

  // New operating conditions (relative to the spec the machine was built with); the temperature
  // follows with the thermal lag.
  void SetConditions(const OperatingConditions& c);

  // Integrates damage and temperature over `dt_s` seconds of operation.
  void Advance(double dt_s);

  // Fills `out` with accelerometer samples (mg) at `sample_rate_hz`, a burst as a device samples
  // it.
  void SampleVibration(double sample_rate_hz, std::span<float> out);
  // Sensor readings with sensor noise.
  double MeasureRpm();
  double MeasureTemperature();
  double MeasureSound();

  FailureMode mode() const { return mode_; }
  // Damage in [0, 1]; the machine has failed at 1.
  double damage() const { return damage_; }
  // How strongly the fault shows, in [0, 1]: damage^2 (faults show little at first, then
  // accelerate, as on a P-F curve).
  double severity() const { return damage_ * damage_; }
  bool failed() const { return damage_ >= 1.0; }
  double load() const { return load_; }
  const MachineSpec& spec() const { return spec_; }
  // Expected seconds until failure at the current load; infinity without a fault.
  double TimeToFailureSeconds() const;
  // The true shaft speed (rpm) without sensor noise.
  double Rpm() const;

 private:
  double SeverityOf(FailureMode m) const { return mode_ == m ? severity() : 0.0; }
  double SteadyTemperature() const;

  MachineSpec spec_;
  MachineSpec built_;  // the spec before any change of conditions
  std::mt19937_64 rng_;
  FailureMode mode_ = FailureMode::kNone;
  double damage_ = 0;
  double damage_rate_ = 0;  // per second at full load
  double load_ = 1.0;
  double temperature_c_;
};

}  // namespace aiot::sim
