#include "sim/sim_config.h"

namespace aiot::sim {

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
  v.Field("devices_per_connection", c.devices_per_connection,
          "Devices per MQTT connection (1 = a client id per device).");
  v.Field("registry_url", c.registry_url,
          "Device registry (http://host:port) the devices activate with; empty = no activation.");
  v.Field("provision_token", c.provision_token,
          "Operator token the devices provision themselves with (no default).");
  v.Field("state_dir", c.state_dir,
          "Per-device state (token, models) under <state_dir>/<id>/; empty = memory only.");
  config::Section(v, "physics", c.physics, "Machine physics, sensing and wear.");
}

}  // namespace aiot::sim
