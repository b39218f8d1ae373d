#pragma once

#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/config.h"

namespace aiot::log {

struct LogConfig {
  // Default level for every module: trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // Output format: "auto" (text on a terminal, JSON lines otherwise), "text" or "json".
  std::string format = "text";
  // Per-module levels, e.g. {mqtt: debug, http: warn}.
  std::map<std::string, std::string> modules;
};

void Describe(config::Visitor& v, LogConfig& c);

// Configures the sink, the format and the levels. Throws config::Error on an unknown level or
// format. Safe to call again (tests, reloads); loggers already handed out follow the new levels.
void Init(const LogConfig& c);

// Rate limiting for messages a peer can trigger at will (one log line per rejected network
// message would let any client flood the log): at most `burst` events per `interval_ns`, and the
// first event let through after a quiet spell reports how many were suppressed before it.
// Time is passed in (monotonic nanoseconds), so tests control it. Thread-safe.
//
//   static log::RateLimiter limiter;
//   uint64_t suppressed = 0;
//   if (limiter.Allow(clock.MonotonicNanos(), &suppressed))
//     log::Get("store")->warn("rejected ... ({} similar messages suppressed)", suppressed);
class RateLimiter {
 public:
  explicit RateLimiter(int64_t interval_ns = 10'000'000'000, uint32_t burst = 5)
      : interval_ns_(interval_ns), burst_(burst) {}
  bool Allow(int64_t now_ns, uint64_t* suppressed);

 private:
  std::mutex mu_;
  const int64_t interval_ns_;
  const uint32_t burst_;
  int64_t window_start_ = 0;
  bool started_ = false;
  uint32_t in_window_ = 0;
  uint64_t suppressed_ = 0;
};

// The logger of a module ("http", "mqtt.broker", ...), created on first use. The module's level is
// the longest configured prefix of its name ("mqtt" covers "mqtt.broker"), else the default.
// Thread-safe.
std::shared_ptr<spdlog::logger> Get(std::string_view module);

}  // namespace aiot::log
