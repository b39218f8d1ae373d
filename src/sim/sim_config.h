#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/result.h"

namespace aiot::sim {

// A change of the whole fleet's operating regime at a simulated time, so that drift (and the
// recovery of a retrained model) can be shown live. Written in the configuration as one line of
// `key=value` pairs:
//   "at=10m load=0.6 ambient_c=35 vibration_scale=1.5 sound_db=+2"
// at: simulated time since the fleet started (s, or with a unit: 90s, 10m, 2h); load (also
// duty_cycle): every machine's load fraction 0.1..1 (speed, heat and wear follow); ambient_c: the
// fleet's mean ambient temperature (each machine keeps its offset from the nominal 25 °C, and
// runs as much warmer); vibration_scale: healthy vibration times this (0.2..5: a new machine
// type whose healthy vibration looks like the old one's faulty vibration); sound_db: added to
// every machine's sound level. A key left out keeps its value from the change before (the
// machines' own at the start). Changes apply in time order; the same seed replays them exactly.
struct RegimeChange {
  double at_s = 0;
  double load = -1;                                             // < 0: unchanged
  double ambient_c = std::numeric_limits<double>::quiet_NaN();  // NaN: unchanged
  double vibration_scale = std::numeric_limits<double>::quiet_NaN();
  double sound_db = std::numeric_limits<double>::quiet_NaN();
};
// invalid_argument saying which key or value is wrong.
Result<RegimeChange> ParseRegimeChange(std::string_view text);

// How simulated machines are built, sensed and worn out.
struct PhysicsConfig {
  // Accelerometer sample rate (Hz) and samples per reading (one burst, analysed as one DSP frame).
  double sample_rate_hz = 4096;
  uint32_t frame_size = 2048;
  // DSP window: hann, hamming or rectangular.
  std::string window = "hann";
  // Nominal operating time from fault onset to failure at full load (s); each machine draws its own
  // within +-30%.
  double time_to_failure_s = 6 * 3600;
  // A faulty machine's fault starts uniformly within this time after the simulation starts (s).
  double fault_onset_max_s = 2 * 3600;
  // After failing, a machine is down (no telemetry) for this long, then repaired (s).
  double repair_time_s = 3600;
  // Whether a repaired faulty machine develops a new fault later.
  bool recurring_faults = false;
  // Failure modes faulty machines draw from: bearing, imbalance, blade.
  std::vector<std::string> failure_modes = {"bearing", "imbalance", "blade"};
  // The label `faulty` is 1 once a fault's severity (damage^2) reaches this: the machine is
  // visibly degraded and heading for failure (with damage growing steadily, severity 0.25 is
  // reached halfway from onset to failure).
  double degraded_severity = 0.25;

  // Not a configuration key of this section: the fleet sets it from FleetConfig::regime_changes
  // (in time order).
  std::vector<RegimeChange> regimes;
};

void Describe(config::Visitor& v, PhysicsConfig& c);

// `aiot simulate` / the in-process fleet.
struct FleetConfig {
  // Number of simulated devices, ids `<id_prefix>0001`...
  uint32_t devices = 10;
  std::string id_prefix = "fan-";
  // Telemetry messages per second per device (wall-clock).
  double rate = 1.0;
  // Fraction of devices that develop a fault.
  double faulty_fraction = 0.2;
  // Simulated seconds per wall-clock second (3600 replays an hour per second).
  double time_scale = 1.0;
  // Seed for everything random; the same seed reproduces the same fleet.
  uint64_t seed = 1;
  // Broker URL (mqtt://host:port) for `aiot simulate`.
  std::string mqtt_url = "mqtt://127.0.0.1:1883";
  // QoS of telemetry (0 or 1); status messages use QoS 1.
  uint32_t qos = 0;
  // Telemetry topic; status topic prefix (retained, with a last will); control topic prefix.
  std::string topic = "fan/messages";
  std::string status_prefix = "fan/status/";
  std::string control_prefix = "fan/control/";
  // Each machine's failures and repairs, as the maintenance records a crew would file (the
  // datastore's maintenance_topic reads them); empty = not reported.
  std::string maintenance_topic = "fan/maintenance";
  // Devices per MQTT connection: 1 = one client id per device (the default); more multiplexes
  // several devices' telemetry over one connection.
  uint32_t devices_per_connection = 1;
  // Device registry (http://host:port): every device activates itself there before publishing
  // (see DeviceAgentConfig::registry_url). Empty = no activation.
  std::string registry_url;
  // Provisioning credentials (operator token) the devices provision themselves with.
  std::string provision_token;
  // Per-device state (device token, models) under <state_dir>/<id>/; empty = memory only (the
  // tokens of self-provisioned devices are then lost at exit).
  std::string state_dir;
  // Each device's local protection (DeviceAgentConfig::protect_after): after this many
  // consecutive critical scores of its on-device model it eases its machine to half load, which
  // slows wear eightfold. 0 = off (failing machines keep failing at their nominal pace).
  uint32_t protect_after = 3;
  // Changes of the fleet's operating regime, one line each (see RegimeChange):
  //   ["at=10m vibration_scale=1.6", "at=30m ambient_c=35 load=0.7"]
  std::vector<std::string> regime_changes;
  PhysicsConfig physics;
};

void Describe(config::Visitor& v, FleetConfig& c);
// Each regime change parses, in time order.
void Validate(config::Checks& checks, const FleetConfig& c);
// `physics` with the fleet's regime changes parsed into PhysicsConfig::regimes; invalid_argument
// naming the bad line.
Result<PhysicsConfig> PhysicsWithRegimes(const FleetConfig& c);

}  // namespace aiot::sim
