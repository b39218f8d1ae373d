// `aiot bridge`: MQTT <-> Kafka against any MQTT broker (src/kafka/README.md): MQTT messages are
// acknowledged once they are in the durable disk buffer, and leave it once Kafka acknowledged
// them; Kafka records go out to MQTT with loop prevention.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>
#include <thread>

#include "app/app_config.h"
#include "base/errc.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/command.h"
#include "kafka/bridge.h"
#include "net/http_server.h"
#include "net/runtime.h"

namespace aiot::cli {
namespace {

std::atomic<int> bridge_stop_signal{0};
extern "C" void OnBridgeStopSignal(int sig) { bridge_stop_signal.store(sig); }

struct BridgeFlags {
  std::string mqtt;
  std::string kafka;
  std::string client_id;
  std::vector<std::string> mappings;
  std::vector<std::string> to_mqtt;
  std::string buffer_dir;
  std::string http;
};

void ApplyFlags(const BridgeFlags& f, kafka::BridgeConfig& c) {
  if (!f.mqtt.empty()) c.mqtt.url = f.mqtt;
  if (!f.kafka.empty()) c.bootstrap_servers = f.kafka;
  if (!f.client_id.empty()) c.mqtt.client_id = f.client_id;
  if (!f.mappings.empty()) c.mappings = f.mappings;
  if (!f.to_mqtt.empty())
    c.kafka_to_mqtt =
        f.to_mqtt == std::vector<std::string>{"none"} ? std::vector<std::string>{} : f.to_mqtt;
  if (!f.buffer_dir.empty()) c.buffer.dir = f.buffer_dir;
}

// Waits for SIGINT/SIGTERM or a fatal bridge error; the exit code.
int WaitForEnd(kafka::Bridge& bridge, const std::shared_ptr<spdlog::logger>& log) {
  while (bridge_stop_signal.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto f = bridge.fatal()) {
      log->error("stopping: {}", f->message());
      return kExitFailure;
    }
  }
  log->info("{} received, stopping", bridge_stop_signal.load() == SIGINT ? "SIGINT" : "SIGTERM");
  return kExitOk;
}

int RunBridge(Context& ctx, const BridgeFlags& flags) {
  std::signal(SIGINT, OnBridgeStopSignal);
  std::signal(SIGTERM, OnBridgeStopSignal);
  app::AppConfig& config = ctx.Config();
  kafka::BridgeConfig bc = config.bridge;
  ApplyFlags(flags, bc);
  auto log = log::Get("kafka");
  // The flags may have changed what the loader checked.
  auto problems = config::RunChecks(config::DescriberFor(bc));
  for (const auto& p : problems) log->error("bridge.{}", p.ToString());
  if (!problems.empty()) return kExitUsage;

  metrics::Registry registry;
  // The MQTT client has an io_context of its own: while the buffer is full its handler waits
  // (flow control), and /metrics must still answer.
  boost::asio::io_context mqtt_io;
  auto guard = boost::asio::make_work_guard(mqtt_io);
  auto bridge = kafka::Bridge::Create(bc, mqtt_io, registry);
  if (!bridge.ok()) {
    log->error("{}", bridge.status().message());
    return bridge.error() == make_error_code(errc::invalid_argument) ? kExitUsage : kExitFailure;
  }
  net::Runtime runtime(1);
  net::Router router;
  std::unique_ptr<net::HttpServer> http;
  if (!flags.http.empty()) {
    net::HttpServerConfig hc = config.http;
    hc.listen = flags.http;
    http = std::make_unique<net::HttpServer>(hc, runtime, router, registry);
  }
  std::thread mqtt_thread([&mqtt_io] { mqtt_io.run(); });
  runtime.Start();
  if (http) {
    if (Status s = http->Start(); !s.ok()) {
      log->error("--http {}: {}", flags.http, s.message());
      guard.reset();
      mqtt_thread.join();
      runtime.Stop();
      runtime.Join();
      return kExitFailure;
    }
  }
  (*bridge)->Start();
  log->info("bridge: {} -> Kafka {} ({} mapping(s)), Kafka -> MQTT {} mapping(s), buffer {}",
            bc.mqtt.url, bc.bootstrap_servers, bc.mappings.size(), bc.kafka_to_mqtt.size(),
            bc.buffer.dir);
  const int code = WaitForEnd(**bridge, log);
  std::signal(SIGINT, SIG_DFL);  // a second signal while stopping means "now"
  std::signal(SIGTERM, SIG_DFL);
  (*bridge)->Stop();
  if (http) http->Stop();
  guard.reset();
  mqtt_io.stop();
  mqtt_thread.join();
  runtime.Stop();
  runtime.Join();
  return code;
}

void RegisterBridge(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand(
      "bridge",
      "Bridge MQTT and Kafka (bridge.*): MQTT messages are acknowledged once they are in the "
      "durable disk buffer and leave it once Kafka has them (idempotent, acks=all); Kafka "
      "records go out to MQTT topics (control messages)");
  auto flags = std::make_shared<BridgeFlags>();
  cmd->add_option("--mqtt", flags->mqtt,
                  "MQTT broker URL, e.g. tcp://127.0.0.1:1883 "
                  "(bridge.mqtt.url)");
  cmd->add_option("--kafka", flags->kafka,
                  "Kafka bootstrap servers host:port[,...] (bridge.bootstrap_servers)");
  cmd->add_option("--client-id", flags->client_id, "MQTT client id (bridge.mqtt.client_id)");
  cmd->add_option("--map", flags->mappings,
                  "\"<mqtt filter> -> <kafka topic template> [key=...]\", repeatable "
                  "(bridge.mappings)");
  cmd->add_option("--to-mqtt", flags->to_mqtt,
                  "\"<kafka topic> -> <mqtt topic template>\" ({key}), repeatable, or none "
                  "(bridge.kafka_to_mqtt)");
  cmd->add_option("--buffer-dir", flags->buffer_dir, "Disk buffer directory (bridge.buffer.dir)");
  cmd->add_option("--http", flags->http, "Serve /metrics, /healthz on host:port");
  cmd->callback([&ctx, flags] { ctx.run = [&ctx, flags] { return RunBridge(ctx, *flags); }; });
}

}  // namespace

AIOT_COMMAND(bridge, 25, RegisterBridge);

}  // namespace aiot::cli
