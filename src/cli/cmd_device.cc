// `aiot agent --id ID`: one device agent (the code every simulated device runs), reading a
// simulated machine since this host has no accelerometer.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <future>
#include <iostream>

#include "base/clock.h"
#include "base/log.h"
#include "cli/command.h"
#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "sim/device_agent.h"
#include "sim/tflite_model.h"

namespace aiot::cli {
namespace {

namespace asio = boost::asio;

struct DeviceOptions {
  sim::DeviceAgentConfig agent;
  sim::PhysicsConfig physics;
  std::string mqtt_url = "tcp://127.0.0.1:1883";
  std::string username, password;
  bool faulty = false;
  uint64_t seed = 1;
};

int RunDevice(const DeviceOptions& o) {
  if (!sim::ValidatePhysics(o.physics).ok() || o.agent.id.empty()) {
    std::cerr << "invalid device settings\n";
    return kExitUsage;
  }
  net::Runtime runtime(1);
  mqtt::MqttClientConfig cc;
  cc.url = o.mqtt_url;
  cc.client_id = o.agent.id;
  cc.username = o.username;
  cc.password = o.password;
  sim::DeviceAgent::SetWill(o.agent, &cc);
  CheckFlags(cc, "--mqtt");
  auto client = mqtt::Client::Create(runtime.context(0), cc);
  auto device = std::make_unique<sim::SimulatedDevice>(o.agent.id, o.physics, o.seed, o.faulty,
                                                       SystemClock::Instance().NowNanos());
  auto agent = sim::DeviceAgent::Create(o.agent, client,
                                        std::make_unique<sim::SimulatedSensor>(std::move(device)),
                                        sim::TfliteModelLoader());
  std::weak_ptr<sim::DeviceAgent> weak = agent;
  std::promise<void> stopped;
  std::atomic<bool> stopping{false};
  std::atomic<bool> refused{false};
  auto stop = [&] {
    if (stopping.exchange(true)) return;
    agent->Stop([&] { client->Stop([&] { stopped.set_value(); }); });
  };
  // A device the registry refuses (unknown, decommissioned, wrong token) must not run: exit 1.
  agent->SetActivationHandler([&](bool activated, const std::string& error) {
    if (activated) {
      std::cerr << "device " << o.agent.id << " activated by the registry\n";
      return;
    }
    std::cerr << "device " << o.agent.id << ": the registry refused activation: " << error << "\n";
    refused = true;
    stop();
  });
  client->SetConnectionHandler([weak](const mqtt::ConnectionEvent& e) {
    if (e.state != mqtt::ConnectionState::kConnected) return;
    if (auto a = weak.lock()) a->OnConnected();
  });
  client->Start();
  agent->Start();

  asio::signal_set signals(runtime.context(0), SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    stop();
  });
  runtime.Start();
  stopped.get_future().wait();
  runtime.Stop();
  runtime.Join();
  return refused ? kExitFailure : kExitOk;
}

// `name` is `agent`, or the deprecated `device` (hidden; says so on stderr when used).
void AddAgent(CLI::App& root, Context& ctx, const std::string& name) {
  const bool deprecated = name != "agent";
  auto* cmd = root.add_subcommand(
      name, "Run one device agent: telemetry, on-device scoring, OTA models, actuator");
  if (deprecated) {
    cmd->group("");
    cmd->preparse_callback([name](size_t) { DeprecatedName(name, "agent"); });
  }
  auto o = std::make_shared<DeviceOptions>();
  auto& a = o->agent;
  cmd->add_option("--id", a.id, "Device id (also the MQTT client id)")->required();
  cmd->add_option("--mqtt", o->mqtt_url, "Broker URL (tcp://host:port)")->capture_default_str();
  cmd->add_option("--username", o->username, "MQTT user name");
  cmd->add_option("--password", o->password, "MQTT password");
  cmd->add_option("--rate", a.rate, "Readings per second")->capture_default_str();
  cmd->add_option("--time-scale", a.time_scale, "Simulated seconds per second")
      ->capture_default_str();
  cmd->add_option("--qos", a.qos, "Telemetry QoS (0 or 1)")->capture_default_str();
  cmd->add_option("--topic", a.telemetry_topic, "Telemetry topic")->capture_default_str();
  cmd->add_option("--model-dir", a.model_dir, "Keep the active and previous model here");
  cmd->add_option("--public-key", a.public_key_file,
                  "The platform's Ed25519 public key (PEM file)");
  cmd->add_option("--public-key-url", a.public_key_url,
                  "Fetch the platform's public key from this URL at start");
  cmd->add_option("--token", a.token,
                  "The device's registry token (activation, model downloads); default: the one "
                  "saved in --model-dir by self-provisioning");
  cmd->add_option("--registry", a.registry_url,
                  "Device registry (http://host:port): activate there before publishing; refused "
                  "= exit 1, unreachable = retry with backoff");
  cmd->add_option("--model-name", a.model_name,
                  "Model to run: after activation, fetch the registry's production version of it "
                  "(verified like OTA); empty = wait for a rollout")
      ->capture_default_str();
  cmd->add_option("--provision-token", a.provision_token,
                  "Operator token: with no device token, provision this device first");
  cmd->add_flag("--faulty", o->faulty, "The simulated machine develops a fault");
  cmd->add_option("--ttf", o->physics.time_to_failure_s, "Seconds from fault onset to failure")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([&ctx, o] { ctx.run = [o] { return RunDevice(*o); }; });
}

void RegisterAgent(CLI::App& root, Context& ctx) {
  AddAgent(root, ctx, "agent");
  AddAgent(root, ctx, "device");  // until the release after next
}

}  // namespace

AIOT_COMMAND(agent, 45, RegisterAgent);

}  // namespace aiot::cli
