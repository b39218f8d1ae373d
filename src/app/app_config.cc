#include "app/app_config.h"

namespace aiot::app {

AppConfig::AppConfig() {
  // In one process the predictor's commands go to simulated devices that understand `load`.
  predictor.actuation.enabled = true;
  predictor.actuation.payload = R"({"actuator":"valve","load":0.5})";
  store.path = "var/aiot/telemetry.db";
  registry.data_dir = "var/aiot";
}

void Describe(config::Visitor& v, BootstrapConfig& c) {
  v.Field("enabled", c.enabled, "Train a first model when the registry has none in production.");
  v.Field("data", c.data,
          "Labelled CSV with the `fields.features` columns to train on; empty = simulated fan "
          "history (only with the fan's fields).");
  v.Field("label", c.label, "Label column of `data`; empty = `fields.label`.");
  v.Field("rows", c.rows, config::Range{1, INT64_MAX},
          "Rows of simulated history to train on (when `data` is empty).");
  v.Field("epochs", c.epochs, config::Range{1, 1000000}, "Training epochs.");
  v.Field("hidden", c.hidden, config::Range{1, 4096},
          "Hidden layer sizes of the MLP; [] = logistic regression.");
  v.Field("seed", c.seed, "Seed for the simulated history and the training.");
}

void Describe(config::Visitor& v, UpConfig& c) {
  v.Field("broker", c.broker,
          "Run the embedded MQTT broker (`broker:`; with bridge.enabled the bridge inside it). "
          "false: the services of `aiot up` are clients of `up.mqtt` (bridge.enabled and "
          "--simulate are refused).");
  v.Field("predictor", c.predictor,
          "Run the embedded predictor and POST /score. false: scoring runs elsewhere (`aiot "
          "predictor`); the bootstrap model is still trained and promoted.");
  config::Section(v, "mqtt", c.mqtt,
                  "With broker: false, the external broker the services connect to; client_id "
                  "is the prefix of their client ids (empty: aiot).");
}

void Validate(config::Checks& checks, const UpConfig& c) {
  if (!c.broker && c.mqtt.url.rfind("inproc:", 0) == 0) {
    checks.Fail("mqtt.url",
                "is inproc:// but broker is false: name the external broker, e.g. "
                "tcp://aiot-broker:1883");
  }
}

void Describe(config::Visitor& v, AppConfig& c) {
  v.Field("threads", c.threads, "Worker threads, one io_context each; 0 = one per CPU core.");
  v.Field("model_name", c.model_name,
          "Model the predictor runs: the registry's production version of this name.");
  v.Field("ttf_model_name", c.ttf_model_name,
          "Time-to-failure model the predictor runs beside it (results carry "
          "time_to_failure_h): the registry's production version of this name at start "
          "(unless predictor.ttf_model names a file), then each promotion of it (a pipeline "
          "run with a time_to_failure recipe; a model of another task promoted under this name "
          "is refused). `aiot predictor --registry` follows it too. Empty = none.");
  config::Section(v, "log", c.log, "Logging.");
  config::Section(v, "fields", c.fields,
                  "The telemetry field schema every service, the dashboard and training use.");
  config::Section(v, "http", c.http, "HTTP server: API, dashboard, /healthz, /readyz, /metrics.");
  config::Section(v, "broker", c.broker, "Embedded MQTT broker.");
  config::Section(v, "predictor", c.predictor, "Streaming predictor, alerts and actuation.");
  config::Section(v, "store", c.store, "Embedded telemetry store (SQLite) and InfluxDB sink.");
  config::Section(v, "dashboard", c.dashboard, "Web dashboard.");
  config::Section(v, "registry", c.registry, "Model and device registries.");
  config::Section(v, "datastore", c.datastore, "Training datastore and its ingest.");
  config::Section(v, "ota", c.ota, "Over-the-air model rollouts.");
  config::Section(v, "bootstrap", c.bootstrap, "The first model, when there is none.");
  config::Section(v, "fleet", c.fleet, "Simulated fleet of `aiot up --simulate N`.");
  config::Section(v, "bridge", c.bridge, "`aiot bridge`: MQTT <-> Kafka.");
  config::Section(v, "pipeline", c.pipeline,
                  "The continuous-learning pipeline runner inside `aiot up` (runs, triggers, "
                  "control topic).");
  config::Section(v, "up", c.up,
                  "Which services `aiot up` runs itself (the cluster runs the broker and the "
                  "predictor as processes of their own).");
}

Result<telemetry::FieldSchema> ResolveFields(AppConfig& config) {
  if (Status s = config.fields.Validate(); !s.ok()) return s;
  const std::vector<std::string> fan = telemetry::FieldSchema::FanFeatures();
  const std::vector<std::string>& features = config.fields.features;
  if (config.store.fields == fan) config.store.fields = features;
  auto& predictor_features = config.predictor.telemetry.default_features;
  if (predictor_features == fan) predictor_features = features;
  config.datastore.fields = features;
  config.datastore.label = config.fields.label;
  return config.fields;
}

}  // namespace aiot::app
