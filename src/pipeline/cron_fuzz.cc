// libFuzzer target: cron schedules come from configuration and the HTTP API.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = aiot::pipeline::CronSchedule::Parse(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!c.ok()) {
    if (c.status().message().empty()) __builtin_trap();  // every error says what was wrong
    return 0;
  }
  // Parse only accepts schedules that fire: Next finds a later minute that matches.
  using namespace std::chrono;
  const auto after = system_clock::time_point(seconds(1764700000));  // 2025-12-02
  const auto next = c->Next(after);
  if (next == system_clock::time_point::max() || next <= after || !c->Matches(next)) {
    __builtin_trap();
  }
  return 0;
}
