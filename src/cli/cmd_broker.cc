// `aiot broker`: the embedded MQTT broker alone, like running mosquitto.
#include <csignal>

#include "app/app_config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/command.h"
#include "mqtt/broker/broker_server.h"
#include "net/runtime.h"

namespace aiot::cli {
namespace {

int RunBroker(Context& ctx) {
  // SIGINT/SIGTERM are blocked in every thread (the runtime threads inherit the mask) and taken
  // with sigwait() below.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  app::AppConfig& config = ctx.Config();
  auto log = log::Get("mqtt.broker");
  if (config.broker.listeners.empty()) {
    log->error(
        "broker.listeners is empty: nothing to listen on (e.g. --set "
        "broker.listeners=[127.0.0.1:1883])");
    return kExitUsage;
  }
  net::Runtime runtime(config.threads);
  metrics::Registry registry;
  mqtt::broker::BrokerServer server(config.broker, registry, runtime.contexts());
  if (!server.Start().ok()) return kExitFailure;
  runtime.Start();
  int sig = 0;
  sigwait(&set, &sig);
  log->info("{} received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  server.Stop();
  runtime.Stop();
  runtime.Join();
  return kExitOk;
}

void RegisterBroker(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "broker",
      "Run the MQTT broker alone (MQTT 3.1.1 and 5.0; default listener 127.0.0.1:1883, set "
      "broker.listeners to change it)");
  cmd->callback([&ctx] { ctx.run = [&ctx] { return RunBroker(ctx); }; });
}

}  // namespace

AIOT_COMMAND(broker, 20, RegisterBroker);

}  // namespace aiot::cli
