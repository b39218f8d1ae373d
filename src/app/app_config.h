#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/log.h"
#include "datastore/datastore_config.h"
#include "kafka/bridge_config.h"
#include "mqtt/broker/broker_config.h"
#include "mqtt/client/client_config.h"
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

// `up:` — which services `aiot up` runs itself. All of them by default (one process, the edge
// box); the cluster (deploy/k8s/cluster) runs the broker and the predictor as processes of their
// own (`aiot broker`, `aiot predictor`) and `aiot up` with both false for the rest.
struct UpConfig {
  // The embedded MQTT broker (`broker:`, and the bridge inside it with bridge.enabled). false: no
  // broker in this process; its services (OTA rollouts, model events, training-data ingest, the
  // store, the pipeline's control topic) are MQTT clients of `mqtt`, and bridge.enabled and
  // `--simulate` are refused.
  bool broker = true;
  // The embedded predictor and POST /score (`predictor:`). false: scoring runs elsewhere (`aiot
  // predictor`); the bootstrap model is still trained, registered and promoted.
  bool predictor = true;
  // With broker false: the external broker (url, credentials, TLS). `client_id` is the prefix of
  // the services' client ids (empty: aiot): <prefix>-store, <prefix>-platform, <prefix>-pipeline.
  mqtt::MqttClientConfig mqtt;
};
void Describe(config::Visitor& v, UpConfig& c);
void Validate(config::Checks& checks, const UpConfig& c);

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
  // The registry name of the time-to-failure model the predictor runs beside it (its production
  // version at start, then each promotion's model event); empty = none.
  std::string ttf_model_name;
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
  // Which services `aiot up` runs itself.
  UpConfig up;
};

void Describe(config::Visitor& v, AppConfig& c);

// The one field schema, handed to every consumer: validates `config.fields` and makes the
// consumers' own settings follow it — `store.fields` and `predictor.telemetry.default_features`
// when they are at their built-in (fan) defaults, the training datastore's columns and export
// label always. Idempotent; the CLI applies it when it loads the configuration, so `aiot config
// show` prints the result. invalid_argument naming the key when the schema is unusable.
Result<telemetry::FieldSchema> ResolveFields(AppConfig& config);

}  // namespace aiot::app
