// libFuzzer target for the rollout records read back from rollouts.db (RolloutFromRecord): a
// record that parses must survive a round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "ota/rollout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto r = aiot::ota::RolloutFromRecord(j);
  if (!r.ok()) return 0;
  auto again = aiot::ota::RolloutFromRecord(aiot::ota::RolloutRecord(*r));
  if (!again.ok() || aiot::ota::RolloutRecord(*again) != aiot::ota::RolloutRecord(*r)) {
    std::abort();
  }
  return 0;
}
