#include "registry/device_status.h"

#include <cmath>

#include "base/clock.h"
#include "base/errc.h"

namespace aiot::registry {

Result<DeviceStatus> ParseDeviceStatus(std::string_view json, std::string_view device) {
  DeviceStatus s;
  telemetry::Defect defect;
  // The device is known from where the status came; a placeholder stands in when it is not.
  if (!telemetry::ParseDeviceStatus(json, device.empty() ? std::string_view("device") : device, 0,
                                    &s, defect)) {
    return errc::parse_error;
  }
  if (device.empty()) s.device.clear();
  return s;
}

bool SplitModelRef(std::string_view ref, std::string* name, int64_t* version) {
  size_t at = ref.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= ref.size()) return false;
  int64_t v = 0;
  for (char c : ref.substr(at + 1)) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *name = std::string(ref.substr(0, at));
  *version = v;
  return true;
}

Status ParseTelemetry(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
                      telemetry::Defect* defect) {
  thread_local telemetry::ReadingParser parser({"rotation", "temperature", "vibration", "sound"});
  thread_local telemetry::Reading reading;
  telemetry::Defect local;
  if (!parser.Parse(json, arrival_ns, &reading, defect ? *defect : local)) {
    return errc::parse_error;
  }
  row->device = reading.device;
  row->ts = reading.time_ns;
  row->rotation = row->temperature = row->vibration = row->sound = std::nan("");
  for (const auto& [name, value] : reading.fields) {
    if (name == "rotation") {
      row->rotation = value;
    } else if (name == "temperature") {
      row->temperature = value;
    } else if (name == "vibration") {
      row->vibration = value;
    } else if (name == "sound") {
      row->sound = value;
    }
  }
  return Status::Ok();
}

Status ParseTelemetry(std::string_view json, TelemetryRow* row) {
  return ParseTelemetry(json, SystemClock::Instance().NowNanos(), row);
}

}  // namespace aiot::registry
