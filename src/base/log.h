#pragma once

#include <spdlog/spdlog.h>

#include <map>
#include <memory>
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

// The logger of a module ("http", "mqtt.broker", ...), created on first use. The module's level is
// the longest configured prefix of its name ("mqtt" covers "mqtt.broker"), else the default.
// Thread-safe.
std::shared_ptr<spdlog::logger> Get(std::string_view module);

}  // namespace aiot::log
