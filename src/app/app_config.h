#pragma once

#include <string>

#include "base/config.h"
#include "base/log.h"
#include "net/http_server.h"

namespace aiot::app {

// The root of the configuration file: one section per module. Module owners add their section
// here (struct member + one line in Describe in app_config.cc).
struct AppConfig {
  log::LogConfig log;
  // Worker threads (one io_context each). 0 means one per CPU core.
  uint32_t threads = 0;
  // Where aiot keeps its state (SQLite databases, model artifacts, keys).
  std::string data_dir = "var/aiot";
  net::HttpServerConfig http;
};

void Describe(config::Visitor& v, AppConfig& c);

}  // namespace aiot::app
