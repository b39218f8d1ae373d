// libFuzzer target: control messages come from any MQTT client of the control topic.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/control_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = aiot::pipeline::ParseControlMessage(text, 64 * 1024);
  if (!m.ok()) {
    // Every refusal says why and has a metric label.
    if (m.status().message().empty()) __builtin_trap();
    if (aiot::pipeline::ControlRejectLabel(m.status()).empty()) __builtin_trap();
    return 0;
  }
  // What is accepted stays within the limits.
  if (m->request.params.size() > aiot::pipeline::kMaxParams) __builtin_trap();
  if (m->request.model.size() > aiot::pipeline::kMaxModelNameBytes) __builtin_trap();
  for (const auto& [name, value] : m->request.params) {
    if (name.empty() || value.size() > 32 + aiot::pipeline::kMaxParamValueBytes) __builtin_trap();
  }
  return 0;
}
