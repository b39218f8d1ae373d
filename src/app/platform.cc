#include "app/platform.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/admin_token.h"
#include "app/bridge_api.h"
#include "app/pipeline_api.h"
#include "base/errc.h"
#include "base/log.h"
#include "base/metrics.h"
#include "datastore/data_routes.h"
#include "datastore/datastore.h"
#include "datastore/ingest_service.h"
#include "kafka/bridge.h"
#include "ml/data/csv.h"
#include "ml/data/dataset.h"
#include "ml/train/pipeline.h"
#include "mqtt/bridge/bridge.h"
#include "mqtt/broker/broker_server.h"
#include "mqtt/broker/inproc_transport.h"
#include "mqtt/client/client.h"
#include "net/http_server.h"
#include "net/router.h"
#include "net/runtime.h"
#include "net/ws_hub.h"
#include "ota/rollout_service.h"
#include "registry/device_registry.h"
#include "registry/http_api.h"
#include "registry/model_events.h"
#include "registry/model_registry.h"
#include "services/model.h"
#include "services/predictor.h"
#include "services/scoring_api.h"
#include "services/tflite_model.h"
#include "sim/device_agent.h"
#include "sim/fleet.h"
#include "sim/history.h"
#include "store/dashboard_routes.h"
#include "store/store_routes.h"
#include "store/store_service.h"

namespace aiot::app {

namespace {

// Simulated fan history (sim::WriteHistoryCsv) as a table; its label column is `faulty`.
Result<ml::CsvTable> SimulatedHistory(const AppConfig& config) {
  auto log = log::Get("app");
  const BootstrapConfig& b = config.bootstrap;
  log->info("bootstrap: no `{}` model in production; simulating {} rows of fleet history",
            config.model_name, b.rows);
  sim::HistoryConfig history;
  history.rows = b.rows;
  history.seed = b.seed;
  std::ostringstream csv;
  auto stats = sim::WriteHistoryCsv(history, csv);
  if (!stats.ok()) return stats.status();
  log->info("bootstrap: {} rows, {} labelled faulty, {} failures", stats->rows, stats->faulty_rows,
            stats->failures);
  return ml::ParseCsv(csv.str());
}

// The first model's training data: the field schema's columns of `bootstrap.data` with its label
// column, or of simulated fan history, which only the fan's schema can use.
Result<ml::Dataset> BootstrapData(const AppConfig& config) {
  const BootstrapConfig& b = config.bootstrap;
  ml::DatasetSchema schema;
  schema.features = config.fields.features;
  Result<ml::CsvTable> table = ml::CsvTable{};
  if (!b.data.empty()) {
    schema.label = b.label.empty() ? config.fields.label : b.label;
    if (schema.label.empty()) {
      return Status(errc::invalid_argument,
                    "bootstrap: bootstrap.data needs a label column: set bootstrap.label or "
                    "fields.label");
    }
    log::Get("app")->info("bootstrap: no `{}` model in production; training on {} (label `{}`)",
                          config.model_name, b.data, schema.label);
    table = ml::ReadCsvFile(b.data);
  } else if (config.fields.IsFan()) {
    schema.label = "faulty";
    table = SimulatedHistory(config);
  } else {
    return Status(errc::invalid_argument,
                  "bootstrap: the simulated history has the fan's fields (rotation, temperature, "
                  "vibration, sound), not fields.features; set bootstrap.data to a labelled CSV "
                  "with those columns, or bootstrap.enabled=false");
  }
  if (!table.ok()) return Status(table.status().code(), "bootstrap: " + table.status().message());
  auto data = ml::BuildDataset(*table, schema);
  if (!data.ok()) return Status(data.status().code(), "bootstrap: " + data.status().message());
  return data;
}

// Trains the first model: data -> train -> int8 -> registry -> production. Prints its progress,
// because a person is watching the terminal on first start.
Result<registry::ModelVersion> BootstrapModel(const AppConfig& config,
                                              registry::ModelRegistry& models) {
  auto log = log::Get("app");
  const BootstrapConfig& b = config.bootstrap;
  auto data = BootstrapData(config);
  if (!data.ok()) {
    log->error("{}", data.status().message());
    return data.status();
  }
  ml::TrainJob job;
  job.name = config.model_name;
  job.int8 = true;
  job.train.epochs = static_cast<int>(b.epochs);
  job.train.seed = b.seed;
  job.train.hidden = b.hidden;
  log->info("bootstrap: training a {}-feature MLP ({}) for {} epochs", data->cols,
            fmt::join(data->feature_names, ", "), b.epochs);
  // One line per tenth of the epochs: training is the slow step of a first start.
  ml::ProgressFn progress = [&log](const ml::EpochStats& e, int total) {
    const int step = std::max(1, total / 10);
    if (e.epoch % step != 0 && e.epoch != total) return;
    log->info("bootstrap: epoch {}/{}: loss {:.4f}, validation accuracy {:.4f} ({:.1f} s)", e.epoch,
              total, e.loss, e.val_accuracy, e.seconds);
  };
  auto out = ml::TrainAndExport(*data, job, progress);
  if (!out.ok()) {
    log->error("bootstrap: training failed: {}", out.status().message());
    return out.status();
  }
  log->info("bootstrap: test accuracy {:.4f} (float) {:.4f} (int8), int8 agreement {:.4f}",
            out->test.accuracy, out->test_int8.accuracy, out->int8_agreement);

  registry::PushRequest push;
  push.name = config.model_name;
  push.metrics_json = out->ToJson();
  push.parameters_json = nlohmann::json{
      {"source", "bootstrap"},
      {"data", b.data.empty() ? "simulated" : b.data},
      {"rows", data->rows},
      {"epochs", b.epochs}}.dump();
  push.actor = "bootstrap";
  const auto& bytes = out->int8_model;
  auto pushed = models.Push(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), push);
  if (!pushed.ok()) return pushed.status();
  auto promoted = models.SetStage(config.model_name, pushed->version, registry::Stage::kProduction,
                                  "bootstrap");
  if (!promoted.ok()) return promoted.status();
  log->info("bootstrap: registered {}@{} (sha256 {}) and promoted it to production", promoted->name,
            promoted->version, promoted->sha256.substr(0, 12));
  return promoted;
}

}  // namespace

// Positive rows since a drift event before the demo's drift run starts: with a 20 % failing
// fleet, enough for validate's class fraction (0.05) and both sides of train's split.
constexpr int64_t kDemoMinNewPositives = 500;

AppConfig SimulateDemoDefaults(AppConfig c, const UpOptions& o) {
  if (o.simulate <= 0) return c;
  auto unset = [&o](const std::string& key) { return !o.configured || !o.configured(key); };
  if (unset("pipeline.enabled")) c.pipeline.enabled = true;
  if (unset("fleet.state_dir") && c.fleet.state_dir.empty()) {
    c.fleet.state_dir = (std::filesystem::path(c.registry.data_dir) / "fleet").string();
  }
  // A fault's length in wall-clock seconds (time_to_failure_s at the fleet's clock).
  const double fault_wall_s =
      c.fleet.physics.time_to_failure_s / std::max(1e-9, c.fleet.time_scale);
  auto whole_s = [](double s) {
    return std::clamp<int64_t>(static_cast<int64_t>(std::llround(s)), 1, 365 * 86400);
  };
  // Labels: the degraded half of a fault, at the load the devices' protection (and the
  // predictor's actuation) eases a degrading machine to: wear goes with load^3, so a protected
  // machine stays degraded 1 / protect_load^3 (8) times longer before it fails.
  const double protected_wear =
      c.fleet.protect_after > 0 ? std::pow(sim::DeviceAgentConfig{}.protect_load, 3) : 1.0;
  if (unset("datastore.label_window_s")) {
    c.datastore.label_window_s = whole_s(fault_wall_s / 2 / protected_wear);
  }
  // The failing machines keep failing (repaired, they fail again): their failures label the data
  // every drift run trains on.
  if (unset("fleet.physics.recurring_faults")) c.fleet.physics.recurring_faults = true;
  // A drift run waits two label windows, then until the new regime has labelled failures; it
  // trains on the data since the event (triggers.drift.since_event) up to a label
  // window before it starts (label_delay: younger rows' labels are not final): a label window
  // of the new regime.
  const int64_t label_s = c.datastore.label_window_s;
  if (unset("pipeline.triggers.drift.delay_s")) {
    c.pipeline.triggers.drift.delay_s = std::min<int64_t>(2 * label_s, 86400);
  }
  if (unset("pipeline.triggers.drift.since_event")) c.pipeline.triggers.drift.since_event = true;
  if (unset("pipeline.triggers.drift.min_new_positives")) {
    c.pipeline.triggers.drift.min_new_positives = kDemoMinNewPositives;
  }
  if (unset("pipeline.params")) {
    c.pipeline.params = {{"label_delay", std::to_string(label_s) + "s"},
                         {"canary_soak_s", std::to_string(whole_s(std::min(30.0, fault_wall_s)))}};
  }
  return c;
}

struct Platform::Impl {
  Impl(const AppConfig& c, const UpOptions& o)
      : config(WithFields(SimulateDemoDefaults(c, o), &fields)),
        options(o),
        runtime(c.threads),
        http(config.http, runtime, router, registry),
        broker(config.broker, registry, runtime.contexts()),
        models(config.registry),
        devices(config.registry),
        datastore(config.registry.data_dir, config.datastore) {}

  // An MQTT client of the platform's broker `aiot-<name>`: the embedded one over the in-process
  // transport, or with up.broker false the external one (up.mqtt; its client_id is the prefix).
  std::shared_ptr<mqtt::Client> PlatformClient(const std::string& name) {
    if (!config.up.broker) {
      mqtt::MqttClientConfig c = config.up.mqtt;
      c.client_id = (c.client_id.empty() ? std::string("aiot") : c.client_id) + "-" + name;
      return mqtt::Client::Create(runtime.Next(), c);
    }
    mqtt::MqttClientConfig c;
    c.url = "inproc://";
    c.client_id = "aiot-" + name;
    return mqtt::Client::Create(runtime.Next(), c,
                                mqtt::broker::MakeInprocFactory(broker.broker()));
  }

  static void StopClient(const std::shared_ptr<mqtt::Client>& client) {
    if (!client) return;
    std::promise<void> done;
    client->Stop([&done] { done.set_value(); });
    done.get_future().wait();
  }

  // `c` with the field schema resolved (app::ResolveFields), its status in `*fields`.
  static AppConfig WithFields(AppConfig c, Status* fields) {
    auto schema = ResolveFields(c);
    *fields = schema.ok() ? Status::Ok() : schema.status();
    return c;
  }

  // Start() in named steps, in this order.
  Status StartServices();
  Status CheckOptions();
  Status StartBroker();
  Status StartBridge();
  Status OpenRegistries();
  Status SetUpAuth();
  Status StartPredictor();
  Status StartStore();
  Status StartPlatformServices();
  Status StartPipeline();
  Status StartHttp();
  Status StartFleet();

  Status fields;  // of the field schema; Start() refuses an invalid one
  AppConfig config;
  UpOptions options;
  metrics::Registry registry;
  net::Runtime runtime;
  net::Router router;
  net::HttpServer http;
  net::WsHub hub;
  mqtt::broker::BrokerServer broker;
  registry::ModelRegistry models;
  registry::DeviceRegistry devices;
  datastore::TrainingDatastore datastore;
  services::ModelHolder predictor_models;
  services::PredictorConfig predictor_config;  // config.predictor with the model chosen at start
  // broker.bridge and broker.bridges: to remote MQTT brokers.
  std::vector<std::unique_ptr<mqtt::bridge::Bridge>> mqtt_bridges;
  std::unique_ptr<kafka::Bridge> bridge;        // bridge.enabled: MQTT <-> Kafka inside the broker
  std::unique_ptr<BridgeStatus> bridge_status;  // GET /api/v1/bridge (the dashboard's panel)
  std::unique_ptr<services::Predictor> predictor;
  std::unique_ptr<store::StoreService> store;
  std::shared_ptr<mqtt::Client> platform_client;  // ingest and rollouts share it
  std::unique_ptr<datastore::IngestService> ingest;
  std::unique_ptr<ota::RolloutService> rollouts;
  std::unique_ptr<sim::Fleet> fleet;
  std::unique_ptr<pipeline::PipelineService> pipelines;  // runs and their API (src/pipeline)
  std::shared_ptr<mqtt::Client> pipeline_client;         // control topic, drift events
  std::unique_ptr<PipelineTopics> pipeline_topics;
  std::string admin_token;  // generated when http.auth_tokens is empty
  std::string AdminTokenPath() const {
    return (std::filesystem::path(config.registry.data_dir) / kAdminTokenFile).string();
  }
  bool started = false;
  bool stopped = false;
};

// The steps of Start(), in order. Each logs what failed and returns its status.
Status Platform::Impl::StartServices() {
  using Step = Status (Impl::*)();
  for (Step step :
       {&Impl::CheckOptions, &Impl::StartBroker, &Impl::StartBridge, &Impl::OpenRegistries,
        &Impl::SetUpAuth, &Impl::StartPredictor, &Impl::StartStore, &Impl::StartPlatformServices,
        &Impl::StartPipeline, &Impl::StartHttp, &Impl::StartFleet}) {
    if (Status s = (this->*step)(); !s.ok()) return s;
  }
  return Status::Ok();
}

// The field schema is valid, and the simulated fleet (the reference fan) can produce it.
Status Platform::Impl::CheckOptions() {
  auto log = log::Get("app");
  if (!fields.ok()) {
    log->error("{}", fields.message());
    return fields;
  }
  if (options.simulate > 0 && !config.fields.IsFan()) {
    Status s(errc::invalid_argument,
             fmt::format("--simulate runs simulated fans (rotation, temperature, vibration, "
                         "sound), but fields.features is [{}]; publish your devices' telemetry "
                         "instead, or replay a CSV with `aiot simulate --replay`",
                         fmt::join(config.fields.features, ", ")));
    log->error("{}", s.message());
    return s;
  }
  if (!config.up.broker) {
    // The embedded bridge and the simulated fleet live in the embedded broker.
    const char* needs =
        config.bridge.enabled ? "bridge.enabled (the bridge inside the broker)"
        : !config.broker.enabled_bridges().empty()
            ? "broker.bridge / broker.bridges (the MQTT bridges of the embedded broker)"
        : options.simulate > 0 ? "--simulate (the fleet connects in-process)"
                               : nullptr;
    if (needs != nullptr) {
      Status s(errc::invalid_argument,
               fmt::format("{} needs the embedded broker, but up.broker is false: run the bridge "
                           "in `aiot broker` (or `aiot bridge`), the fleet with `aiot simulate`",
                           needs));
      log->error("{}", s.message());
      return s;
    }
  }
  return Status::Ok();
}

// Broker first: every other service reaches the others through it.
Status Platform::Impl::StartBroker() {
  auto log = log::Get("app");
  if (!config.up.broker) {
    log->info("no embedded broker (up.broker: false): services connect to {}", config.up.mqtt.url);
    return Status::Ok();
  }
  if (Status s = broker.Start(); !s.ok()) {
    log->error("MQTT broker could not start: {}", s.message());
    return s;
  }
  auto ports = broker.ports();
  for (size_t i = 0; i < ports.size() && i < config.broker.listeners.size(); ++i) {
    log->info("MQTT broker listening on {} (port {})", config.broker.listeners[i], ports[i]);
  }
  return Status::Ok();
}

// bridge.enabled: the MQTT <-> Kafka bridge inside the broker (src/kafka/README.md): mapped
// QoS 1/2 PUBLISHes are acknowledged after Kafka's delivery report (bridge.ack).
Status Platform::Impl::StartBridge() {
  bridge_status = std::make_unique<BridgeStatus>(
      registry, config.bridge, [this]() -> std::optional<BridgeProbe> {
        if (!bridge) return std::nullopt;
        return BridgeProbe{bridge->fatal(), bridge->buffer_stats(), bridge->kafka_reachable()};
      });
  RegisterBridgeRoutes(router, *bridge_status);
  // broker.bridge and broker.bridges: to remote MQTT brokers (in the embedded broker).
  if (const auto configs = config.broker.enabled_bridges(); !configs.empty()) {
    auto mb = mqtt::bridge::CreateBridges(
        configs, broker.broker(), [this]() -> boost::asio::io_context& { return runtime.Next(); },
        registry);
    if (!mb.ok()) {
      log::Get("app")->error("broker.bridges: {}", mb.status().message());
      return mb.status();
    }
    mqtt_bridges = std::move(*mb);
    for (auto& b : mqtt_bridges) {
      b->Start();
      const mqtt::bridge::BridgeConfig& c = b->config();
      log::Get("app")->info("bridge {}: {} ({} topic line(s)), buffer {}", c.name, c.url,
                            c.topics.size(), c.buffer_dir());
    }
  }
  if (!config.bridge.enabled) return Status::Ok();
  auto b = kafka::Bridge::CreateInBroker(config.bridge, broker.broker(), runtime.Next(), registry);
  if (!b.ok()) {
    log::Get("app")->error("bridge: {}", b.status().message());
    return b.status();
  }
  bridge = std::move(*b);
  bridge->Start();
  log::Get("app")->info("bridge: MQTT -> Kafka {} ({} mapping(s), ack {}), buffer {}",
                        config.bridge.bootstrap_servers, config.bridge.mappings.size(),
                        config.bridge.ack == kafka::AckPolicy::kDelivered ? "delivered" : "durable",
                        config.bridge.buffer.dir);
  return Status::Ok();
}

// Registries and the training datastore (SQLite), with their HTTP API.
Status Platform::Impl::OpenRegistries() {
  for (Status s : {models.Open(), devices.Open(), datastore.Open()}) {
    if (!s.ok()) {
      log::Get("app")->error("registry under {}: {}", config.registry.data_dir, s.message());
      return s;
    }
  }
  registry::RegisterRegistryRoutes(router, models, devices);
  datastore::RegisterDataRoutes(router, datastore);
  return Status::Ok();
}

// Who may log in to the broker and call the HTTP API.
Status Platform::Impl::SetUpAuth() {
  auto log = log::Get("app");
  // Devices provisioned in the registry log in to the broker with their MQTT credentials (users
  // of broker.password_file too); the platform's own in-process clients are trusted.
  if (config.up.broker) {
    broker.broker().SetAuthenticator([this](const mqtt::broker::AuthRequest& r) {
      return devices.CheckMqttCredentials(r.username.value_or(""), r.password.value_or(""))
                 ? mqtt::broker::AuthResult::kAllow
                 : mqtt::broker::AuthResult::kBadCredentials;
    });
    if (Status s = broker.broker().LoadAuth(); !s.ok()) {
      log->error("MQTT broker: {}", s.message());
      return s;
    }
  }
  // With no operator tokens configured, one admin token is generated under the data directory
  // (never a default password): the CLI reads it from there, the dashboard signs in with it.
  auto auth_tokens = config.http.auth_tokens;
  auto auth_roles = config.http.auth_roles;
  if (auth_tokens.empty()) {
    auto token = LoadOrCreateAdminToken(config.registry.data_dir);
    if (!token.ok()) {
      log->error("admin token {}: {}", AdminTokenPath(), token.status().message());
      return token.status();
    }
    auth_tokens["admin"] = *token;
    auth_roles["admin"] = "admin";
    admin_token = *token;
  }
  http.SetAuthenticator(std::make_shared<registry::PlatformAuthenticator>(
      devices, std::make_shared<net::StaticTokenAuthenticator>(auth_tokens, auth_roles)));
  return Status::Ok();
}

// The predictor runs the registry's production model, or a bootstrapped one.
Status Platform::Impl::StartPredictor() {
  auto log = log::Get("app");
  auto production = models.Production(config.model_name);
  if (!production.ok() && config.bootstrap.enabled) production = BootstrapModel(config, models);
  predictor_config = config.predictor;
  services::PredictorConfig& pc = predictor_config;
  if (production.ok()) {
    pc.model = models.ArtifactPath(production->sha256);
    pc.model_name = production->name + "@" + std::to_string(production->version);
  } else {
    log->warn("no production model `{}` ({}); telemetry is dead-lettered until one is promoted",
              config.model_name, production.status().message());
  }
  if (!config.ttf_model_name.empty() && pc.ttf_model.empty()) {
    auto ttf = models.Production(config.ttf_model_name);
    if (ttf.ok()) {
      pc.ttf_model = models.ArtifactPath(ttf->sha256);
    } else {
      log->info("no production time-to-failure model `{}` yet ({}); one arrives with its promotion",
                config.ttf_model_name, ttf.status().message());
    }
  }
  if (!config.up.predictor) {
    log->info("no embedded predictor (up.predictor: false): no POST /score here");
    return Status::Ok();
  }
  predictor = std::make_unique<services::Predictor>(
      pc, mqtt::MqttClientConfig{}, runtime.Next(), predictor_models, services::MakeTfliteLoader(),
      registry, SystemClock::Instance(), mqtt::broker::MakeInprocFactory(broker.broker()),
      services::MakeTfliteDriftWatch(pc.drift));
  // Promotions of either name load into that model's slot only (a classifier promoted as the
  // time-to-failure model is refused, not served as the fault model).
  predictor->ServeModelNames(config.model_name, config.ttf_model_name);
  if (Status s = predictor->Start(); !s.ok()) {
    log->error("predictor: {}", s.message());
    return s;
  }
  services::RegisterScoringRoutes(router, predictor_models, pc.thresholds);
  predictor->RegisterRoutes(router);
  return Status::Ok();
}

// Telemetry store, its query API, live WebSocket feed and the dashboard.
Status Platform::Impl::StartStore() {
  auto log = log::Get("app");
  store = std::make_unique<store::StoreService>(
      config.store, [this] { return PlatformClient("store"); }, &hub, registry);
  if (Status s = store->Open(); !s.ok()) {
    log->error("telemetry store {}: {}", config.store.path, s.ToString());
    return s;
  }
  store::RegisterStoreRoutes(router, *store->store());
  router.WebSocket(config.dashboard.ws_path, hub);
  if (config.dashboard.enabled) {
    if (Status s = store::RegisterDashboardRoutes(router, config.dashboard, config.fields.features);
        !s.ok()) {
      log->warn("dashboard not served: {}", s.message());
    }
  }
  if (Status s = store->Start(); !s.ok()) {
    log->error("telemetry store: {}", s.message());
    return s;
  }
  return Status::Ok();
}

// Training data ingest, OTA rollouts and model events share one platform client.
Status Platform::Impl::StartPlatformServices() {
  platform_client = PlatformClient("platform");
  rollouts = std::make_unique<ota::RolloutService>(config.ota, models, devices, platform_client);
  if (Status s = rollouts->Open(); !s.ok()) {  // rollouts of an earlier run resume
    log::Get("app")->error("OTA rollouts: {}", s.message());
    rollouts.reset();
    return s;
  }
  ingest = std::make_unique<datastore::IngestService>(config.datastore, datastore, platform_client,
                                                      &registry);
  ota::RegisterRolloutRoutes(router, rollouts->manager());
  // A promotion (HTTP API, CLI, registry rollback) reaches the predictor as a model event.
  // The time-to-failure model's promotions too: the predictor loads each name into its own slot
  // and refuses a model whose metadata task does not fit it.
  std::vector<std::string> served = {config.model_name};
  if (!config.ttf_model_name.empty()) served.push_back(config.ttf_model_name);
  registry::PublishModelEvents(models, platform_client, predictor_config.model_events_topic,
                               served);
  if (Status s = ingest->Start(); !s.ok()) {  // source: kafka: the consumer group
    log::Get("app")->error("datastore ingest: {}", s.message());
    return s;
  }
  rollouts->Start();
  platform_client->Start();
  return Status::Ok();
}

// The continuous-learning pipeline (src/pipeline/README.md, "The embedded runner"): its runs'
// API always; with pipeline.enabled the runner, its triggers and the control topic. Before the
// HTTP server starts (routes are fixed then); queued runs wait for its port.
Status Platform::Impl::StartPipeline() {
  auto log = log::Get("app");
  auto options = EmbeddedRunnerOptions(
      config, [this] { return http.port(); }, admin_token,
      [this](int64_t since_ns) { return datastore.CountRowsSince(since_ns); });
  if (!options.ok()) {
    log->error("pipeline: {}", options.status().message());
    return options.status();
  }
  options->count_positives = [this](int64_t since_ns) {
    return datastore.CountPositivesSince(since_ns);
  };
  pipelines = std::make_unique<pipeline::PipelineService>(config.pipeline, *options);
  if (Status s = pipelines->Open(); !s.ok()) {
    log->error("pipeline runs under {}: {}", config.registry.data_dir, s.message());
    return s;
  }
  RegisterPipelineRoutes(router, *pipelines);
  if (!config.pipeline.enabled) return Status::Ok();
  if (Status s = pipelines->Start(); !s.ok()) {
    log->error("pipeline runner: {}", s.message());
    return s;
  }
  pipeline_client = PlatformClient("pipeline");
  pipeline_topics = std::make_unique<PipelineTopics>(*pipelines, pipeline_client,
                                                     predictor_config.drift_topic, registry);
  pipeline_topics->Start();
  pipeline_client->Start();
  return Status::Ok();
}

Status Platform::Impl::StartHttp() {
  auto log = log::Get("app");
  if (Status s = http.Start(); !s.ok()) {
    log->error("HTTP server: {}", s.message());
    return s;
  }
  std::string host = config.http.listen.substr(0, config.http.listen.rfind(':'));
  log->info("HTTP on http://{}:{}{} (dashboard), /api/v1, /score, /metrics; {} threads", host,
            http.port(), config.dashboard.path, runtime.size());
  if (!admin_token.empty()) {
    log->info(
        "admin token in {} (used by `aiot models|devices|rollout|data`); dashboard sign-in: "
        "http://{}:{}{}#token={}",
        AdminTokenPath(), host, http.port(), config.dashboard.path, admin_token);
  }
  return Status::Ok();
}

// `aiot up --simulate N`: N simulated fans on the embedded broker.
Status Platform::Impl::StartFleet() {
  if (options.simulate <= 0) return Status::Ok();
  sim::FleetConfig fc = config.fleet;
  fc.devices = static_cast<uint32_t>(options.simulate);
  // The demo's devices activate with this process's registry and download from its API
  // (SimulateDemoDefaults), unless configured otherwise.
  auto unset = [this](const std::string& key) {
    return !options.configured || !options.configured(key);
  };
  const std::string api = fmt::format("{}://{}:{}", http.tls() ? "https" : "http",
                                      ClientHost(config.http.listen), http.port());
  const std::string token = StepToken(config, admin_token);
  if (unset("fleet.registry_url") && fc.registry_url.empty()) {
    if (http.tls()) {
      log::Get("app")->info(
          "simulated fleet: HTTPS API, so the devices do not activate themselves; set "
          "fleet.registry_url and a CA they trust to have them");
    } else if (token.empty()) {
      log::Get("app")->info(
          "simulated fleet: no admin token (http.auth_roles has no admin), so the devices do not "
          "activate themselves; set fleet.registry_url and fleet.provision_token to have them");
    } else {
      fc.registry_url = api;
      if (unset("fleet.provision_token") && fc.provision_token.empty()) fc.provision_token = token;
    }
  }
  if (unset("ota.public_url") && rollouts) rollouts->manager().set_public_url(api);
  mqtt::MqttClientConfig client_template;
  client_template.url = "inproc://";
  fleet = std::make_unique<sim::Fleet>(runtime.contexts(), fc, client_template,
                                       mqtt::broker::MakeInprocFactory(broker.broker()));
  fleet->Start();
  log::Get("app")->info("simulated fleet: {} devices ({}% developing faults) at {} readings/s each",
                        fc.devices, static_cast<int>(fc.faulty_fraction * 100), fc.rate);
  return Status::Ok();
}

Platform::Platform(const AppConfig& config, const UpOptions& options)
    : impl_(std::make_unique<Impl>(config, options)) {}

Platform::~Platform() { Stop(); }

Status Platform::Start() {
  impl_->runtime.Start();
  impl_->started = true;
  Status s = impl_->StartServices();
  if (!s.ok()) Stop();
  return s;
}

void Platform::Stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  auto log = log::Get("app");
  log->info("stopping: draining in-flight work");
  Impl& i = *impl_;
  if (i.pipelines) i.pipelines->Stop();  // a running step is interrupted, resumed at next start
  Impl::StopClient(i.pipeline_client);
  if (i.fleet) {
    std::promise<void> done;
    i.fleet->Stop([&done] { done.set_value(); });
    done.get_future().wait();
  }
  i.http.BeginStop();
  if (i.predictor) i.predictor->Stop();
  if (i.store) i.store->Stop();
  if (i.rollouts) i.rollouts->Stop();
  if (i.ingest) i.ingest->Stop();
  Impl::StopClient(i.platform_client);
  for (auto& b : i.mqtt_bridges)
    b->Stop();                     // before the broker: their local clients are in process
  if (i.bridge) i.bridge->Stop();  // before the broker: its acks are posted to the cores
  i.http.Stop();
  if (i.config.up.broker) i.broker.Stop();
  i.runtime.Stop();
  i.runtime.Join();
  log->info("stopped");
}

uint16_t Platform::http_port() const { return impl_->http.port(); }

Status Platform::Reload() {
  Impl& i = *impl_;
  if (!i.started || i.stopped) return Status::Ok();
  auto log = log::Get("app");
  Status first;
  auto report = [&](const char* what, Status s) {
    if (s.ok()) {
      log->info("SIGHUP: {} reloaded (for new connections)", what);
    } else {
      log->error("SIGHUP: {}; the previous ones stay", s.message());
      if (first.ok()) first = std::move(s);
    }
  };
  if (i.config.up.broker) {
    report("broker password and ACL files", i.broker.broker().LoadAuth());
    if (!i.config.broker.tls.cert.empty()) report("broker TLS certificates", i.broker.ReloadTls());
  }
  if (i.http.tls()) report("HTTPS certificate", i.http.ReloadTls());
  return first;
}

}  // namespace aiot::app
