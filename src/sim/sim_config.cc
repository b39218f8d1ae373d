#include "sim/sim_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/errc.h"

namespace aiot::sim {
namespace {

// "90", "90s", "10m", "2h", "1.5h" -> seconds; false otherwise.
bool ParseSeconds(std::string_view s, double* out) {
  double scale = 1;
  if (!s.empty() && (s.back() == 's' || s.back() == 'm' || s.back() == 'h')) {
    scale = s.back() == 'h' ? 3600 : s.back() == 'm' ? 60 : 1;
    s.remove_suffix(1);
  }
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0) {
    return false;
  }
  *out = v * scale;
  return true;
}

bool ParseNumber(std::string_view s, double* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

Status BadRegime(std::string what) { return {errc::invalid_argument, std::move(what)}; }

Status SetRegimeKey(std::string_view key, std::string_view value, RegimeChange* r) {
  double v = 0;
  if (key == "at") {
    if (!ParseSeconds(value, &r->at_s)) {
      return BadRegime("at=`" + std::string(value) + "` must be a time like 600, 90s, 10m, 2h");
    }
    return Status::Ok();
  }
  constexpr std::string_view kKeys[] = {"load", "duty_cycle", "ambient_c", "vibration_scale",
                                        "sound_db"};
  if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
    return BadRegime("unknown key `" + std::string(key) +
                     "` (at, load, duty_cycle, ambient_c, vibration_scale, sound_db)");
  }
  if (!ParseNumber(value, &v)) {
    return BadRegime(std::string(key) + "=`" + std::string(value) + "` must be a number");
  }
  if (key == "load" || key == "duty_cycle") {
    if (v < 0.1 || v > 1) return BadRegime(std::string(key) + " must be 0.1..1");
    r->load = v;
  } else if (key == "ambient_c") {
    if (v < -40 || v > 80) return BadRegime("ambient_c must be -40..80");
    r->ambient_c = v;
  } else if (key == "vibration_scale") {
    if (v < 0.2 || v > 5) return BadRegime("vibration_scale must be 0.2..5");
    r->vibration_scale = v;
  } else if (key == "sound_db") {
    if (v < -20 || v > 20) return BadRegime("sound_db must be -20..20");
    r->sound_db = v;
  } else {
    return BadRegime("unknown key `" + std::string(key) +
                     "` (at, load, duty_cycle, ambient_c, vibration_scale, sound_db)");
  }
  return Status::Ok();
}

}  // namespace

Result<RegimeChange> ParseRegimeChange(std::string_view text) {
  RegimeChange r;
  bool has_at = false, has_change = false;
  while (!text.empty()) {
    const size_t start = text.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    const size_t end = std::min(text.find_first_of(" \t"), text.size());
    std::string_view item = text.substr(0, end);
    text.remove_prefix(end);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return BadRegime("`" + std::string(item) + "` must be key=value");
    }
    const std::string_view key = item.substr(0, eq);
    if (Status s = SetRegimeKey(key, item.substr(eq + 1), &r); !s.ok()) return s;
    (key == "at" ? has_at : has_change) = true;
  }
  if (!has_at) return BadRegime("a regime change needs at=<time>, e.g. at=10m");
  if (!has_change) {
    return BadRegime(
        "a regime change needs something to change: load, ambient_c, "
        "vibration_scale or sound_db");
  }
  return r;
}

Result<PhysicsConfig> PhysicsWithRegimes(const FleetConfig& c) {
  PhysicsConfig p = c.physics;
  p.regimes.clear();
  for (size_t i = 0; i < c.regime_changes.size(); ++i) {
    auto r = ParseRegimeChange(c.regime_changes[i]);
    if (!r.ok()) {
      return BadRegime("regime change " + std::to_string(i + 1) + ": " + r.status().message());
    }
    if (!p.regimes.empty() && r->at_s < p.regimes.back().at_s) {
      return BadRegime("regime change " + std::to_string(i + 1) +
                       ": changes must be in time order (at= not before the one before)");
    }
    p.regimes.push_back(*r);
  }
  return p;
}

void Validate(config::Checks& checks, const FleetConfig& c) {
  if (auto p = PhysicsWithRegimes(c); !p.ok()) checks.Fail("regime_changes", p.status().message());
}

void Describe(config::Visitor& v, PhysicsConfig& c) {
  v.Field("sample_rate_hz", c.sample_rate_hz, "Accelerometer sample rate (Hz).");
  v.Field("frame_size", c.frame_size, "Samples per reading, analysed as one DSP frame (even).");
  v.Field("window", c.window, "DSP window: hann, hamming or rectangular.");
  v.Field("time_to_failure_s", c.time_to_failure_s,
          "Nominal seconds from fault onset to failure at full load (+-30% per machine).");
  v.Field("fault_onset_max_s", c.fault_onset_max_s,
          "Faults start uniformly within this many seconds after the start.");
  v.Field("repair_time_s", c.repair_time_s, "Seconds a failed machine is down before repair.");
  v.Field("recurring_faults", c.recurring_faults, "Repaired faulty machines fail again later.");
  v.Field("failure_modes", c.failure_modes,
          "Failure modes to draw from: bearing, imbalance, blade.");
  v.Field("degraded_severity", c.degraded_severity,
          "Severity (damage^2) from which a reading is labeled faulty.");
}

void Describe(config::Visitor& v, FleetConfig& c) {
  v.Field("devices", c.devices, "Number of simulated devices.");
  v.Field("id_prefix", c.id_prefix, "Device id prefix; ids are <prefix>0001, <prefix>0002, ...");
  v.Field("rate", c.rate, "Telemetry messages per second per device.");
  v.Field("faulty_fraction", c.faulty_fraction, "Fraction of devices that develop a fault.");
  v.Field("time_scale", c.time_scale, "Simulated seconds per wall-clock second.");
  v.Field("seed", c.seed, "Random seed; the same seed reproduces the same fleet.");
  v.Field("mqtt_url", c.mqtt_url, "Broker URL for `aiot simulate` (mqtt://host:port).");
  v.Field("qos", c.qos, "QoS of telemetry messages (0 or 1).");
  v.Field("topic", c.topic, "Telemetry topic.");
  v.Field("status_prefix", c.status_prefix, "Retained status topic prefix (with a last will).");
  v.Field("control_prefix", c.control_prefix, "Control topic prefix devices subscribe to.");
  v.Field("maintenance_topic", c.maintenance_topic,
          "Failure and repair records of the machines (for the datastore's labels); empty = none.");
  v.Field("devices_per_connection", c.devices_per_connection,
          "Devices per MQTT connection (1 = a client id per device).");
  v.Field("registry_url", c.registry_url,
          "Device registry (http://host:port) the devices activate with; empty = no activation "
          "(`aiot up --simulate`: its own API when not configured).");
  v.Field("provision_token", c.provision_token,
          "Operator token the devices provision themselves with (no default; `aiot up --simulate`: "
          "its admin token when not configured).");
  v.Field("state_dir", c.state_dir,
          "Per-device state (token, models) under <state_dir>/<id>/; empty = memory only (`aiot up "
          "--simulate`: <registry.data_dir>/fleet when not configured).");
  v.Field("protect_after", c.protect_after,
          "Consecutive critical on-device scores after which a device eases its machine to half "
          "load (wear slows eightfold); 0 = off.");
  v.Field("regime_changes", c.regime_changes,
          "Changes of the fleet's operating regime, one line each: \"at=10m load=0.6 "
          "ambient_c=35 vibration_scale=1.5 sound_db=2\" (at = simulated time since start; keys "
          "left out stay as they were).");
  config::Section(v, "physics", c.physics, "Machine physics, sensing and wear.");
}

}  // namespace aiot::sim
