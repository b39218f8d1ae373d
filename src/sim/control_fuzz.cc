// libFuzzer target: control messages arrive from the network (fan/control/<id>).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/control.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c =
      aiot::sim::ParseControlCommand(std::string_view(reinterpret_cast<const char*>(data), size));
  if (c.ok() && c->command.empty()) __builtin_trap();  // a parsed command always has a name
  return 0;
}
