// `aiot broker`: the embedded MQTT broker alone, like running mosquitto.
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "app/app_config.h"
#include "base/errc.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/command.h"
#include "kafka/bridge.h"
#include "mqtt/bridge/bridge.h"
#include "mqtt/broker/broker_server.h"
#include "net/http_server.h"
#include "net/runtime.h"

namespace aiot::cli {
namespace {

std::atomic<int> stop_signal{0};
std::atomic<bool> reload_signal{false};

extern "C" void OnStopSignal(int sig) { stop_signal.store(sig); }
extern "C" void OnReloadSignal(int) { reload_signal.store(true); }

int RunBroker(Context& ctx, const std::string& http_listen, bool recover) {
  // The handler only records the signal (async-signal-safe); the main thread polls for it. This
  // works whichever thread the kernel delivers the signal to.
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGHUP, OnReloadSignal);  // re-read broker.password_file, acl_file, tls.*

  app::AppConfig& config = ctx.Config();
  auto log = log::Get("mqtt.broker");
  if (config.broker.listeners.empty()) {
    log->error(
        "broker.listeners is empty: nothing to listen on (e.g. --set "
        "broker.listeners=[127.0.0.1:1883])");
    return kExitUsage;
  }
  if (recover) config.broker.persistence.recover = true;  // skip corrupt persistence records
  net::Runtime runtime(config.threads);
  metrics::Registry registry;
  mqtt::broker::BrokerServer server(config.broker, registry, runtime.contexts());
  std::unique_ptr<kafka::Bridge> bridge;  // bridge.enabled: MQTT -> Kafka inside the broker
  if (config.bridge.enabled) {
    auto b =
        kafka::Bridge::CreateInBroker(config.bridge, server.broker(), runtime.Next(), registry);
    if (!b.ok()) {
      log->error("bridge: {}", b.status().message());
      return b.error() == make_error_code(errc::invalid_argument) ? kExitUsage : kExitFailure;
    }
    bridge = std::move(*b);
  }
  // broker.bridge and broker.bridges: to remote MQTT brokers, with store-and-forward.
  const std::vector<mqtt::bridge::BridgeConfig> mqtt_bridge_configs =
      config.broker.enabled_bridges();
  std::vector<std::unique_ptr<mqtt::bridge::Bridge>> mqtt_bridges;
  if (!mqtt_bridge_configs.empty()) {
    auto b = mqtt::bridge::CreateBridges(
        mqtt_bridge_configs, server.broker(),
        [&runtime]() -> boost::asio::io_context& { return runtime.Next(); }, registry);
    if (!b.ok()) {
      log->error("broker.bridges: {}", b.status().message());
      return b.error() == make_error_code(errc::invalid_argument) ? kExitUsage : kExitFailure;
    }
    mqtt_bridges = std::move(*b);
  }
  // --http: /metrics (the broker's and the bridge's), /healthz.
  net::Router router;
  std::unique_ptr<net::HttpServer> http;
  if (!http_listen.empty()) {
    net::HttpServerConfig hc = config.http;
    hc.listen = http_listen;
    http = std::make_unique<net::HttpServer>(hc, runtime, router, registry);
  }
  if (Status s = server.Start(); !s.ok()) {
    log->error("{}", s.message());
    return kExitFailure;
  }
  if (http) {
    if (Status s = http->Start(); !s.ok()) {
      log->error("--http {}: {}", http_listen, s.message());
      server.Stop();
      return kExitFailure;
    }
  }
  if (bridge) {
    bridge->Start();
    log->info("bridge: MQTT -> Kafka {} ({} mapping(s)), buffer {}",
              config.bridge.bootstrap_servers, config.bridge.mappings.size(),
              config.bridge.buffer.dir);
  }
  runtime.Start();
  for (auto& b : mqtt_bridges) {
    b->Start();
    const mqtt::bridge::BridgeConfig& c = b->config();
    log->info("bridge {}: {} ({} topic line(s)), buffer {}", c.name, c.url, c.topics.size(),
              c.buffer_dir());
  }
  int code = kExitOk;
  while (stop_signal.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto f = bridge ? bridge->fatal() : std::nullopt) {
      log->error("bridge: {}; stopping", f->message());  // undelivered records stay buffered
      code = kExitFailure;
      break;
    }
    if (!reload_signal.exchange(false)) continue;
    if (Status s = server.broker().LoadAuth(); s.ok()) {
      log->info("SIGHUP: password and ACL files reloaded (for new connections)");
    } else {
      log->error("SIGHUP: {}; the previous policy stays", s.message());
    }
    if (Status s = server.ReloadTls(); s.ok()) {
      if (!config.broker.tls.cert.empty())
        log->info("SIGHUP: TLS certificate, key and CA files reloaded (for new handshakes)");
    } else {
      log->error("SIGHUP: {}; the previous TLS certificates stay", s.message());
    }
  }
  if (code == kExitOk) {
    log->info("{} received, stopping", stop_signal.load() == SIGINT ? "SIGINT" : "SIGTERM");
  }
  // A second signal while stopping means "now".
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  for (auto& b : mqtt_bridges) b->Stop();  // before the broker: their local clients are in process
  if (bridge) bridge->Stop();              // before the broker: its acks are posted to the cores
  if (http) http->Stop();
  server.Stop();
  runtime.Stop();
  runtime.Join();
  return code;
}

void RegisterBroker(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "broker",
      "Run the MQTT broker alone (MQTT 3.1.1 and 5.0; default listener 127.0.0.1:1883, set "
      "broker.listeners to change it: mqtt://, mqtts://, ws://, wss://; broker.password_file / "
      "broker.acl_file in Mosquitto's formats and broker.tls certificates reloaded on SIGHUP; "
      "with bridge.enabled, mapped telemetry goes to Kafka and QoS 1/2 is acknowledged after "
      "Kafka has it; broker.persistence keeps sessions and retained messages across restarts)");
  auto http = std::make_shared<std::string>();
  cmd->add_option("--http", *http, "Serve /metrics (broker and bridge), /healthz on host:port");
  auto recover = std::make_shared<bool>(false);
  cmd->add_flag("--recover", *recover,
                "start even if the persistence log has corrupt records: skip and count them "
                "(same as broker.persistence.recover)");
  cmd->callback([&ctx, http, recover] {
    ctx.run = [&ctx, http, recover] { return RunBroker(ctx, *http, *recover); };
  });
}

}  // namespace

AIOT_COMMAND(broker, 20, RegisterBroker);

}  // namespace aiot::cli
