// libFuzzer target: any bytes as one record of a bridge's store-and-forward buffer (the buffer's
// files are hostile input after a crash or tampering). DecodeRecord must never crash nor read out
// of bounds, and what it accepts must re-encode to exactly the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/bridge/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiot::mqtt::bridge;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = DecodeRecord(bytes);
  if (m.ok()) {
    if (m->qos > 2 || m->topic.empty()) std::abort();
    std::string again;
    EncodeRecord(*m, &again);
    if (again != bytes) std::abort();
  }
  return 0;
}
