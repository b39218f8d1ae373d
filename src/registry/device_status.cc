#include "registry/device_status.h"

#include "registry/errc.h"

namespace aiot::registry {

Result<DeviceStatus> ParseDeviceStatus(std::string_view json, std::string_view device) {
  DeviceStatus s;
  telemetry::Defect defect;
  // The device is known from where the status came; a placeholder stands in when it is not.
  if (!telemetry::ParseDeviceStatus(json, device.empty() ? std::string_view("device") : device, 0,
                                    &s, defect)) {
    return {errc::invalid_status, "status: " + defect.Reason()};
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

}  // namespace aiot::registry
