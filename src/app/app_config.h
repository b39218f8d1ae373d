#pragma once

#include <string>

#include "base/config.h"
#include "base/log.h"
#include "mqtt/broker/broker_config.h"
#include "net/http_server.h"
#include "services/predictor.h"
#include "store/dashboard_routes.h"
#include "store/store_config.h"

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
  // The embedded MQTT broker (`aiot broker`, and `aiot up`).
  mqtt::broker::BrokerConfig broker;
  // The streaming predictor and scoring API (`aiot predictor`, and `aiot up`).
  services::PredictorServiceConfig predictor;
  // The telemetry store (SQLite), its query API and the optional InfluxDB sink.
  store::StoreConfig store;
  // The web dashboard served at dashboard.path.
  store::DashboardConfig dashboard;
};

void Describe(config::Visitor& v, AppConfig& c);

}  // namespace aiot::app
