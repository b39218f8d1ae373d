// libFuzzer target for the payloads the registry reads from the network: device status
// (fan/status/<id>), model refs and label selectors. Telemetry rows: src/datastore.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "registry/device_registry.h"
#include "registry/device_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto status = aiot::registry::ParseDeviceStatus(text);
  if (status.ok()) {
    std::string name;
    int64_t version = 0;
    (void)aiot::registry::SplitModelRef(status->model, &name, &version);
  }
  std::map<std::string, std::string> labels;
  (void)aiot::registry::DeviceRegistry::ParseLabelSelector(text, &labels);
  return 0;
}
