#pragma once

#include <cstdint>
#include <string_view>

namespace aiot::services {

// The reference's three levels: below `warning` is ok, from `warning` to `critical` is a warning
// ("potential conditions for an imminent failure"), at or above `critical` is critical ("activate
// safety protocols").
enum class Level : uint8_t { kOk = 0, kWarning = 1, kCritical = 2 };

std::string_view LevelName(Level level);

struct Thresholds {
  double warning = 0.5;
  double critical = 0.8;

  Level Classify(double score) const {
    if (score >= critical) return Level::kCritical;
    if (score >= warning) return Level::kWarning;
    return Level::kOk;
  }
  // A score at or above `warning` is reported as a fault ("fault":1), like the reference's
  // rounded model output.
  int Fault(double score) const { return score >= warning ? 1 : 0; }
};

}  // namespace aiot::services
