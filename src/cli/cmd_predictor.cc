// `aiot predictor`: the streaming predictor and the scoring API alone, against an external MQTT
// broker (mosquitto or `aiot broker`), like the reference's predictor + scoring containers. With
// --registry it follows the production model of a model registry on another host over HTTP.
#include <csignal>
#include <iostream>
#include <optional>

#include "app/app_config.h"
#include "base/file.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/command.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "registry/api_client.h"
#include "services/predictor.h"
#include "services/predictor_follow.h"
#include "services/scoring_api.h"
#include "services/tflite_model.h"

namespace aiot::cli {
namespace {

struct PredictorFlags {
  std::string mqtt;
  std::string client_id;
  std::string model;
  std::string model_name;
  std::string http;
  bool actuate = false;
  std::string webhook;
  // Following a remote registry (--registry): token from --token / --token-file / AIOT_TOKEN.
  services::RegistryFollowConfig follow;
  registry::ApiEndpoint endpoint;
  std::string public_key_file;
};

// The predictor's configuration with the flags applied, and the remote registry to follow (url
// empty: none). nullopt after logging a usage error.
struct PredictorSetup {
  services::PredictorServiceConfig pc;
  services::RegistryFollowConfig follow;
};

std::optional<PredictorSetup> SetUpPredictor(Context& ctx, const PredictorFlags& flags,
                                             spdlog::logger& log) {
  app::AppConfig& config = ctx.Config();
  PredictorSetup setup;
  services::PredictorServiceConfig& pc = setup.pc;
  static_cast<services::PredictorConfig&>(pc) = config.predictor;
  if (!flags.mqtt.empty()) pc.mqtt.url = flags.mqtt;
  if (!flags.client_id.empty()) pc.mqtt.client_id = flags.client_id;
  if (!flags.model.empty()) pc.model = flags.model;
  if (!flags.model_name.empty()) pc.model_name = flags.model_name;
  if (flags.actuate) pc.actuation.enabled = true;
  if (!flags.webhook.empty()) pc.webhook.url = flags.webhook;
  services::RegistryFollowConfig& follow = setup.follow;
  follow = flags.follow;
  if (!follow.url.empty()) {
    registry::ApiEndpoint endpoint = flags.endpoint;
    ctx.ResolveTokenFile(endpoint);
    follow.token = endpoint.EffectiveToken();
    if (follow.model.empty()) follow.model = config.model_name;
    if (follow.ttf_model.empty()) follow.ttf_model = config.ttf_model_name;
    if (follow.ttf_model == "none") follow.ttf_model.clear();
    if (follow.token.empty()) {
      log.warn(
          "--registry without a token (--token, --token-file, AIOT_TOKEN): the registry "
          "will refuse");
    }
    if (!flags.public_key_file.empty()) {
      auto pem = ReadWholeFile(flags.public_key_file);
      if (!pem.ok()) {
        log.error("--public-key: {}", pem.status().message());
        return std::nullopt;
      }
      follow.public_key_pem = std::move(*pem);
      if (follow.public_key_pem.find("BEGIN PUBLIC KEY") == std::string::npos) {
        log.error("--public-key {}: not a PEM public key", flags.public_key_file);
        return std::nullopt;
      }
    }
  } else if (pc.model.empty()) {
    log.warn("no model given (--model or predictor.model): waiting for one on {}",
             pc.model_events_topic);
  }
  // The flags may have changed what the loader checked.
  auto problems = config::RunChecks(config::DescriberFor(pc));
  for (const auto& p : problems) log.error("predictor.{}", p.ToString());
  if (!problems.empty()) return std::nullopt;
  return setup;
}

int RunPredictor(Context& ctx, const PredictorFlags& flags) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto log = log::Get("predictor");
  auto setup = SetUpPredictor(ctx, flags, *log);
  if (!setup) return kExitUsage;
  const services::PredictorServiceConfig& pc = setup->pc;
  const services::RegistryFollowConfig& follow = setup->follow;
  app::AppConfig& config = ctx.Config();

  net::Runtime runtime(config.threads);
  metrics::Registry registry;
  services::ModelHolder models;
  auto predictor = std::make_unique<services::Predictor>(pc, pc.mqtt, runtime.Next(), models,
                                                         services::MakeTfliteLoader(), registry);
  // Model events naming either model load into its slot only.
  predictor->ServeModelNames(follow.url.empty() ? config.model_name : follow.model,
                             follow.url.empty() ? config.ttf_model_name : follow.ttf_model);
  net::Router router;
  std::unique_ptr<net::HttpServer> http;
  if (!flags.http.empty()) {
    services::RegisterScoringRoutes(router, models, pc.thresholds);
    predictor->RegisterRoutes(router);
    net::HttpServerConfig hc = config.http;
    hc.listen = flags.http;
    http = std::make_unique<net::HttpServer>(hc, runtime, router, registry);
    http->AddReadinessCheck("model", [&models] { return models.Get() != nullptr; });
  }
  std::unique_ptr<services::RegistryFollower> follower;
  if (!follow.url.empty()) {
    follower = std::make_unique<services::RegistryFollower>(follow, *predictor, registry);
    // Promotions announced on the broker (when it is the registry's) are checked at once; polling
    // is the fallback and the only path across brokers.
    predictor->OnPromotion([f = follower.get()] { f->Poke(); });
    Status first = follower->CheckNow();
    if (!first.ok()) {
      log->warn("not every model from the registry at {} yet ({}); checking every {} ms",
                follow.url, first.message(), follow.poll_ms);
    }
  }
  // A start that failed: what did not start is not stopped (the follower is only destroyed).
  auto fail = [&](bool predictor_started) {
    follower.reset();
    if (predictor_started) predictor->Stop();
    runtime.Stop();
    runtime.Join();
    return kExitFailure;
  };
  runtime.Start();
  if (Status st = predictor->Start(); !st.ok()) {
    log->error("cannot start: model {}: {}", pc.model, st.message());
    return fail(false);
  }
  if (Status st = http ? http->Start() : Status::Ok(); !st.ok()) {
    log->error("scoring API: {}", st.message());
    return fail(true);
  }
  if (http) log->info("scoring API on http://{}/score", flags.http);
  if (follower) follower->Start();
  int sig = 0;
  sigwait(&set, &sig);
  log->info("{} received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (http) http->Stop();
  if (follower) follower->Stop();
  predictor->Stop();
  runtime.Stop();
  runtime.Join();
  return kExitOk;
}

void RegisterPredictor(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "predictor",
      "Run the streaming predictor (telemetry -> fan/anomaly, alerts, actuator commands) and, "
      "with --http, the scoring API, against an MQTT broker");
  auto flags = std::make_shared<PredictorFlags>();
  flags->follow.model.clear();  // default: the configuration's model_name
  cmd->add_option("--mqtt", flags->mqtt,
                  "Broker URL, e.g. tcp://127.0.0.1:1883 (predictor.mqtt.url)");
  cmd->add_option("--client-id", flags->client_id,
                  "MQTT client id (default aiot-predictor; give another one on a broker that "
                  "already has a predictor, e.g. aiot up's)");
  cmd->add_option("--model", flags->model, "Model file (.tflite) (predictor.model)");
  cmd->add_option("--model-name", flags->model_name,
                  "Name reported with results, e.g. fan-mlp@3 (predictor.model_name)");
  cmd->add_option("--http", flags->http,
                  "Serve POST /score, /metrics and the model endpoint on host:port, e.g. "
                  "127.0.0.1:8081");
  cmd->add_flag("--actuate", flags->actuate,
                "Send set-actuator commands on critical alerts (predictor.actuation.enabled)");
  cmd->add_option("--webhook", flags->webhook, "POST alerts to this http:// URL");
  cmd->add_option("--registry", flags->follow.url,
                  "Follow the production model of this model registry (http://host:port of `aiot "
                  "up`): polled, downloaded, verified (sha256, signature) and hot-swapped");
  cmd->add_option("--registry-model", flags->follow.model,
                  "Model to follow (default: model_name of the configuration)");
  cmd->add_option("--registry-ttf-model", flags->follow.ttf_model,
                  "Time-to-failure model to follow too, served beside it (default: "
                  "ttf_model_name of the configuration; none = not followed)");
  cmd->add_option("--registry-poll-ms", flags->follow.poll_ms,
                  "How often to check the production version (a promoted model event on the "
                  "broker checks at once)")
      ->capture_default_str();
  cmd->add_option("--model-dir", flags->follow.model_dir, "Where downloaded models are kept")
      ->capture_default_str();
  cmd->add_option("--public-key", flags->public_key_file,
                  "The platform's Ed25519 public key (PEM file); default: fetched from the "
                  "registry once");
  flags->endpoint.AddTokenFlags(cmd);  // the registry's token, as for `aiot models`
  cmd->callback([&ctx, flags] { ctx.run = [&ctx, flags] { return RunPredictor(ctx, *flags); }; });
}

}  // namespace

AIOT_COMMAND(predictor, 30, RegisterPredictor);

}  // namespace aiot::cli
