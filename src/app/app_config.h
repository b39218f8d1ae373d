#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/log.h"
#include "datastore/datastore_config.h"
#include "kafka/bridge_config.h"
#include "mqtt/broker/broker_config.h"
#include "net/http_server.h"
#include "ota/rollout.h"
#include "pipeline/pipeline_config.h"
#include "registry/registry_config.h"
#include "services/predictor_config.h"
#include "sim/sim_config.h"
#include "store/dashboard_routes.h"
#include "store/store_config.h"
#include "telemetry/field_schema.h"

namespace aiot::app {

// The first model, trained by `aiot up` when the registry has no production model yet.
struct BootstrapConfig {
  // Train a model when the registry has none in production.
  bool enabled = true;
  // Labelled CSV with the field schema's feature columns to train on; empty = simulated fan
  // history (only with the fan's fields).
  std::string data;
  // Label column of `data`; empty = the field schema's label.
  std::string label;
  // Rows of simulated history to train on (when `data` is empty).
  uint64_t rows = 20000;
  // Training epochs (the reference recipe uses 250; fewer is enough for the simulator).
  uint32_t epochs = 40;
  // Hidden layer sizes of the MLP (empty: logistic regression).
  std::vector<int> hidden = {60, 30, 10};
  // Seed for the history and the training.
  uint64_t seed = 7;
};
void Describe(config::Visitor& v, BootstrapConfig& c);

// The root of the configuration file: one section per module. Module owners add their section
// here (struct member + one line in Describe in app_config.cc).
struct AppConfig {
  AppConfig();

  log::LogConfig log;
  // The field schema every consumer uses (ResolveFields).
  telemetry::FieldSchema fields;
  // Worker threads (one io_context each). 0 means one per CPU core.
  uint32_t threads = 0;
  // Name of the model the predictor runs (the registry's production version of it).
  std::string model_name = "fan-mlp";
  net::HttpServerConfig http;
  mqtt::broker::BrokerConfig broker;
  services::PredictorConfig predictor;
  store::StoreConfig store;
  store::DashboardConfig dashboard;
  registry::RegistryConfig registry;
  datastore::DatastoreConfig datastore;
  ota::OtaConfig ota;
  BootstrapConfig bootstrap;
  // The simulated fleet of `aiot up --simulate N` (`devices` is set by the flag).
  sim::FleetConfig fleet;
  // `aiot bridge`: MQTT <-> Kafka.
  kafka::BridgeConfig bridge;
  // The embedded continuous-learning pipeline runner of `aiot up`.
  pipeline::PipelineConfig pipeline;
};

void Describe(config::Visitor& v, AppConfig& c);

// The one field schema, handed to every consumer: validates `config.fields` and makes the
// consumers' own settings follow it — `store.fields` and `predictor.telemetry.default_features`
// when they are at their built-in (fan) defaults, the training datastore's columns and export
// label always. Idempotent; the CLI applies it when it loads the configuration, so `aiot config
// show` prints the result. invalid_argument naming the key when the schema is unusable.
Result<telemetry::FieldSchema> ResolveFields(AppConfig& config);

}  // namespace aiot::app
