// Device activation against the real device registry HTTP API (src/registry routes on a
// net::HttpServer, loopback) and a real broker (mosquitto): the device asks, the registry confirms,
// and only then does the device publish. Refused devices (decommissioned, unknown, someone else's
// token) stay silent; an unreachable registry is retried until it answers. Once active, a device
// fetches the registry's production model on its own (no rollout needed), verified like OTA.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>

#include "base/errc.h"
#include "base/metrics.h"
#include "datastore/data_routes.h"
#include "datastore/datastore.h"
#include "mqtt/client/client.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "registry/crypto.h"
#include "registry/device_registry.h"
#include "registry/http_api.h"
#include "registry/model_registry.h"
#include "sim/device_agent.h"
#include "sim/fleet.h"
#include "sim/tflite_model.h"
#include "tests/sim/sim_test_util.h"
#include "tests/sim/test_model.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::sim {
namespace {

using aiot::test_support::WaitFor;

constexpr const char* kOperatorToken = "activation-test-operator-token-0123";

// The registry routes on a real HTTP server on 127.0.0.1:<port> (chosen up front, so a test can
// point a device at it before it exists).
class Registry {
 public:
  explicit Registry(uint16_t port) : port_(port), runtime_(1) {
    registry::RegistryConfig rc;
    rc.data_dir = dir_.path();
    rc.password_iterations = 1000;
    models_ = std::make_unique<registry::ModelRegistry>(rc);
    devices = std::make_unique<registry::DeviceRegistry>(rc);
    datastore_ =
        std::make_unique<datastore::TrainingDatastore>(rc.data_dir, datastore::DatastoreConfig{});
    ok_ = models_->Open().ok() && devices->Open().ok() && datastore_->Open().ok();
    registry::RegisterRegistryRoutes(router_, *models_, *devices);
    datastore::RegisterDataRoutes(router_, *datastore_);
  }
  ~Registry() {
    if (server_) server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }
  bool Start() {
    if (!ok_) return false;
    net::HttpServerConfig cfg;
    cfg.listen = "127.0.0.1:" + std::to_string(port_);
    cfg.auth_tokens = {{"olga", kOperatorToken}};
    cfg.auth_roles = {{"olga", "operator"}};
    server_ = std::make_unique<net::HttpServer>(cfg, runtime_, router_, metrics_);
    server_->SetAuthenticator(std::make_shared<registry::PlatformAuthenticator>(
        *devices,
        std::make_shared<net::StaticTokenAuthenticator>(cfg.auth_tokens, cfg.auth_roles)));
    runtime_.Start();
    return server_->Start().ok();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Provision(const std::string& id) {
    registry::DeviceSpec spec;
    spec.id = id;
    auto c = devices->Provision(spec);
    EXPECT_TRUE(c.ok()) << id;
    return c.ok() ? c->token : std::string();
  }
  // Registers `bytes` as a new version of fan-mlp and promotes it to production.
  int64_t PushProduction(const std::string& bytes) {
    registry::PushRequest req;
    req.name = "fan-mlp";
    auto m = models_->Push(bytes, req);
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return 0;
    EXPECT_TRUE(
        models_->SetStage("fan-mlp", m->version, registry::Stage::kProduction, "test").ok());
    return m->version;
  }
  registry::DeviceState State(const std::string& id) {
    auto d = devices->Get(id);
    EXPECT_TRUE(d.ok()) << id;
    return d.ok() ? d->state : registry::DeviceState::kProvisioned;
  }

  std::unique_ptr<registry::DeviceRegistry> devices;

 private:
  test_support::TempDir dir_;
  uint16_t port_;
  net::Runtime runtime_;
  net::Router router_;
  metrics::Registry metrics_;
  std::unique_ptr<registry::ModelRegistry> models_;
  std::unique_ptr<datastore::TrainingDatastore> datastore_;
  std::unique_ptr<net::HttpServer> server_;
  bool ok_ = false;
};

// A model loader that never loads (these tests offer no models).
ModelLoader NoModels() {
  return [](const std::string&) -> Result<std::unique_ptr<DeviceModel>> {
    return Status(errc::invalid_argument, "no models in this test");
  };
}

class DeviceActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveProgram("/usr/sbin/mosquitto"))
      AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    dir_ = std::filesystem::temp_directory_path() /
           ("aiot_activation_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    broker_ = std::make_unique<testing::Mosquitto>(dir_);
    runtime_ = std::make_unique<net::Runtime>(1);
    runtime_->Start();
  }
  void TearDown() override {
    for (auto& [agent, client] : agents_) {
      std::promise<void> done;
      agent->Stop([&, c = client] { c->Stop([&] { done.set_value(); }); });
      done.get_future().wait_for(std::chrono::seconds(30));
    }
    if (runtime_) {
      runtime_->Stop();
      runtime_->Join();
    }
    agents_.clear();
    std::filesystem::remove_all(dir_);
  }

  DeviceAgentConfig AgentConfig(const std::string& id, const std::string& registry_url,
                                const std::string& token) {
    DeviceAgentConfig ac;
    ac.id = id;
    ac.rate = 20;
    ac.time_scale = 60;
    ac.protect_after = 0;
    ac.registry_url = registry_url;
    ac.token = token;
    ac.activation_retry_min_ms = 50;
    ac.activation_retry_max_ms = 400;
    return ac;
  }

  // Starts an agent (its own MQTT client on the broker, client id = device id unless given);
  // records activation callbacks.
  std::shared_ptr<DeviceAgent> StartAgent(const DeviceAgentConfig& ac,
                                          const std::string& client_id = "",
                                          ModelLoader loader = NoModels()) {
    mqtt::MqttClientConfig cc;
    cc.url = broker_->url();
    cc.client_id = client_id.empty() ? ac.id : client_id;
    DeviceAgent::SetWill(ac, &cc);
    auto client = mqtt::Client::Create(runtime_->context(0), cc);
    PhysicsConfig physics;
    auto device = std::make_unique<SimulatedDevice>(ac.id, physics, 5, false, 0);
    auto agent = DeviceAgent::Create(
        ac, client, std::make_unique<SimulatedSensor>(std::move(device)), std::move(loader));
    agent->SetActivationHandler([this, id = ac.id](bool activated, const std::string& error) {
      std::lock_guard lock(mu_);
      callbacks_.push_back(id + (activated ? " activated" : " refused: " + error));
    });
    client->Start();
    agent->Start();
    agents_.emplace_back(agent, client);
    return agent;
  }

  std::vector<std::string> Callbacks() {
    std::lock_guard lock(mu_);
    return callbacks_;
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::Mosquitto> broker_;
  std::unique_ptr<net::Runtime> runtime_;
  std::vector<std::pair<std::shared_ptr<DeviceAgent>, std::shared_ptr<mqtt::Client>>> agents_;
  std::mutex mu_;
  std::vector<std::string> callbacks_;
};

TEST_F(DeviceActivationTest, RegistryConfirmsThenDevicePublishes) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  const std::string token = registry.Provision("fan-0101");
  EXPECT_EQ(registry.State("fan-0101"), registry::DeviceState::kProvisioned);

  auto agent = StartAgent(AgentConfig("fan-0101", registry.url(), token));
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().registration == "active"; }))
      << agent->snapshot().registration << " " << agent->snapshot().registration_error;
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().published >= 3; }));
  EXPECT_EQ(agent->snapshot().activation_attempts, 1u);
  EXPECT_EQ(Callbacks(), std::vector<std::string>{"fan-0101 activated"});

  // The registry recorded the activation; the device took the signing key URL it answered with.
  EXPECT_EQ(registry.State("fan-0101"), registry::DeviceState::kActive);
  EXPECT_GT(registry.devices->Get("fan-0101")->activated_at, 0);
  EXPECT_EQ(agent->config().public_key_url, registry.url() + "/.well-known/aiot/signing-key");
}

TEST_F(DeviceActivationTest, RefusedDevicesStaySilent) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  // Decommissioned: its credentials are revoked.
  const std::string old_token = registry.Provision("fan-0102");
  ASSERT_TRUE(registry.devices->Decommission("fan-0102").ok());
  // Unknown: a token the registry never issued.
  const std::string bogus = "dev_" + std::string(64, '7');
  // Someone else's token: fan-0103 presents fan-0104's.
  registry.Provision("fan-0103");
  const std::string other = registry.Provision("fan-0104");

  // A client that sees every retained status and all telemetry.
  mqtt::MqttClientConfig oc;
  oc.url = broker_->url();
  oc.client_id = "observer";
  auto observer = mqtt::Client::Create(runtime_->context(0), oc);
  std::atomic<int> messages{0};
  observer->Subscribe("fan/#", mqtt::QoS::kAtLeastOnce,
                      [&](const mqtt::Message&) { messages.fetch_add(1); });
  observer->Start();

  auto decommissioned = StartAgent(AgentConfig("fan-0102", registry.url(), old_token));
  auto unknown = StartAgent(AgentConfig("fan-0199", registry.url(), bogus));
  auto impostor = StartAgent(AgentConfig("fan-0103", registry.url(), other));
  for (auto* a : {&decommissioned, &unknown, &impostor}) {
    ASSERT_TRUE(WaitFor([&] { return (*a)->snapshot().registration == "refused"; }))
        << (*a)->config().id << ": " << (*a)->snapshot().registration;
  }
  EXPECT_NE(decommissioned->snapshot().registration_error.find("HTTP 401"), std::string::npos)
      << decommissioned->snapshot().registration_error;
  EXPECT_NE(unknown->snapshot().registration_error.find("HTTP 401"), std::string::npos);
  EXPECT_NE(impostor->snapshot().registration_error.find("HTTP 403"), std::string::npos)
      << impostor->snapshot().registration_error;
  ASSERT_TRUE(WaitFor([&] { return Callbacks().size() == 3; }));
  for (const auto& c : Callbacks())
    EXPECT_NE(c.find(" refused: activation refused"), std::string::npos) << c;

  // A refusal is final (no retries) and nothing was read or published.
  for (auto* a : {&decommissioned, &unknown, &impostor}) {
    EXPECT_EQ((*a)->snapshot().activation_attempts, 1u);
    EXPECT_EQ((*a)->snapshot().readings, 0u);
    EXPECT_EQ((*a)->snapshot().published, 0u);
  }
  // A device that is accepted publishes through the same broker and observer; by the time its
  // messages arrive, anything the refused ones had published would have too.
  auto good = StartAgent(AgentConfig("fan-0104", registry.url(), other));
  ASSERT_TRUE(WaitFor([&] { return good->snapshot().published >= 3 && messages.load() >= 3; }));
  EXPECT_EQ(registry.State("fan-0102"), registry::DeviceState::kDecommissioned);
  EXPECT_EQ(registry.State("fan-0103"), registry::DeviceState::kProvisioned);
  EXPECT_EQ(decommissioned->snapshot().published + unknown->snapshot().published +
                impostor->snapshot().published,
            0u);
  std::promise<void> done;
  observer->Stop([&] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(10));
}

TEST_F(DeviceActivationTest, RetriesWhileTheRegistryIsUnreachable) {
  const uint16_t port = testing::FreePort();
  Registry registry(port);  // not started yet: nothing listens on `port`
  const std::string token = registry.Provision("fan-0105");

  auto agent = StartAgent(AgentConfig("fan-0105", registry.url(), token));
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().activation_attempts >= 3; }));
  auto s = agent->snapshot();
  EXPECT_EQ(s.registration, "activating");
  EXPECT_NE(s.registration_error.find("unreachable"), std::string::npos) << s.registration_error;
  EXPECT_EQ(s.readings, 0u);
  EXPECT_EQ(s.published, 0u);
  EXPECT_TRUE(Callbacks().empty());

  // The registry comes up: the next retry activates the device, which starts publishing.
  ASSERT_TRUE(registry.Start());
  ASSERT_TRUE(
      WaitFor([&] { return agent->snapshot().registration == "active"; }, std::chrono::seconds(60)))
      << agent->snapshot().registration_error;
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().published >= 1; }));
  EXPECT_EQ(registry.State("fan-0105"), registry::DeviceState::kActive);
  EXPECT_EQ(Callbacks(), std::vector<std::string>{"fan-0105 activated"});
}

TEST_F(DeviceActivationTest, ProvisionsItselfAndKeepsItsToken) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  const auto state = dir_ / "fan-0106";

  auto ac = AgentConfig("fan-0106", registry.url(), "");
  ac.provision_token = kOperatorToken;
  ac.model_dir = state.string();
  auto first = StartAgent(ac);
  ASSERT_TRUE(WaitFor([&] { return first->snapshot().registration == "active"; }))
      << first->snapshot().registration_error;
  EXPECT_EQ(registry.State("fan-0106"), registry::DeviceState::kActive);
  std::string saved;
  std::getline(std::ifstream(state / "device_token"), saved);
  EXPECT_EQ(saved.rfind("dev_", 0), 0u);
  EXPECT_EQ(first->config().token, saved);
  EXPECT_EQ(std::filesystem::status(state / "device_token").permissions() &
                std::filesystem::perms::group_all,
            std::filesystem::perms::none);

  // Provisioning again is refused (credentials are shown once)...
  auto again = AgentConfig("fan-0106", registry.url(), "");
  again.provision_token = kOperatorToken;
  auto second = StartAgent(again, "fan-0106-second");
  ASSERT_TRUE(WaitFor([&] { return second->snapshot().registration == "refused"; }));
  EXPECT_NE(second->snapshot().registration_error.find("HTTP 409"), std::string::npos)
      << second->snapshot().registration_error;
  // ...but a restart with the same state directory activates with the saved token.
  auto restart = AgentConfig("fan-0106", registry.url(), "");
  restart.model_dir = state.string();
  auto third = StartAgent(restart, "fan-0106-restarted");
  ASSERT_TRUE(WaitFor([&] { return third->snapshot().registration == "active"; }))
      << third->snapshot().registration_error;
}

TEST_F(DeviceActivationTest, FleetDevicesActivateBeforePublishing) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  // fan-0004 was provisioned and decommissioned by an operator; the others are new and provision
  // themselves with the operator token.
  FleetConfig fc;
  fc.devices = 4;
  fc.rate = 10;
  fc.time_scale = 60;
  fc.registry_url = registry.url();
  fc.provision_token = kOperatorToken;
  fc.state_dir = (dir_ / "fleet").string();
  registry.Provision("fan-0004");
  ASSERT_TRUE(registry.devices->Decommission("fan-0004").ok());
  mqtt::MqttClientConfig cc;
  cc.url = broker_->url();
  Fleet fleet(runtime_->contexts(), fc, cc, {}, NoModels());
  fleet.Start();
  ASSERT_TRUE(WaitFor([&] { return fleet.stats().activated == 3 && fleet.stats().refused == 1; }))
      << fleet.stats().activated << " activated, " << fleet.stats().refused << " refused";
  ASSERT_TRUE(WaitFor([&] { return fleet.stats().published >= 9; }));
  for (const char* id : {"fan-0001", "fan-0002", "fan-0003"}) {
    EXPECT_EQ(registry.State(id), registry::DeviceState::kActive) << id;
  }
  EXPECT_EQ(fleet.agent(3).snapshot().published, 0u);  // fan-0004: refused, silent
  std::promise<void> done;
  fleet.Stop([&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

// Retained status messages of every device, by device id (the last one wins).
class StatusWatcher {
 public:
  StatusWatcher(net::Runtime& runtime, const std::string& url) {
    mqtt::MqttClientConfig oc;
    oc.url = url;
    oc.client_id = "status-watcher";
    client_ = mqtt::Client::Create(runtime.context(0), oc);
    client_->Subscribe("fan/status/+", mqtt::QoS::kAtLeastOnce, [this](const mqtt::Message& m) {
      std::lock_guard lock(mu_);
      last_[m.topic.substr(m.topic.rfind('/') + 1)] =
          nlohmann::json::parse(m.payload.view(), nullptr, false);
    });
    client_->Start();
  }
  ~StatusWatcher() {
    std::promise<void> done;
    client_->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
  }
  nlohmann::json Last(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = last_.find(id);
    return it == last_.end() ? nlohmann::json() : it->second;
  }

 private:
  std::shared_ptr<mqtt::Client> client_;
  std::mutex mu_;
  std::map<std::string, nlohmann::json> last_;
};

// A device fresh out of provisioning, with no rollout aimed at it, fetches the production model
// after activation, verifies it (signature from the registry's key), scores with it and reports
// it in its retained status.
TEST_F(DeviceActivationTest, FetchesTheProductionModelAfterActivation) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  ASSERT_EQ(registry.PushProduction(testing::MakeModel("fan-mlp", -3.0f)), 1);
  const std::string token = registry.Provision("fan-0108");
  StatusWatcher statuses(*runtime_, broker_->url());

  auto ac = AgentConfig("fan-0108", registry.url(), token);
  ac.model_dir = (dir_ / "fan-0108").string();
  auto agent = StartAgent(ac, "", TfliteModelLoader());
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().model == "fan-mlp@1"; }))
      << "model '" << agent->snapshot().model << "' ota " << agent->snapshot().ota_state << " "
      << agent->snapshot().ota_error;
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().scored >= 3; }));
  ASSERT_TRUE(WaitFor([&] { return statuses.Last("fan-0108").value("model", "") == "fan-mlp@1"; }))
      << statuses.Last("fan-0108").dump();
  EXPECT_TRUE(statuses.Last("fan-0108")["online"].get<bool>());
  // Kept for restarts like an OTA model.
  EXPECT_TRUE(std::filesystem::exists(dir_ / "fan-0108" / "active.model"));
}

// The production fetch verifies like OTA: a device holding another key than the one the registry
// signs with refuses the model, counts it, reports why and keeps running without it. A device
// that finds no production version waits for a rollout.
TEST_F(DeviceActivationTest, ProductionModelWithABadSignatureIsRefused) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  auto other_key = registry::SigningKey::Generate();
  ASSERT_TRUE(other_key.ok());
  const std::string token = registry.Provision("fan-0109");
  const std::string lonely = registry.Provision("fan-0110");
  StatusWatcher statuses(*runtime_, broker_->url());

  // No production version yet: nothing to fetch.
  auto waiting =
      StartAgent(AgentConfig("fan-0110", registry.url(), lonely), "", TfliteModelLoader());
  ASSERT_TRUE(WaitFor([&] { return waiting->snapshot().production_fetch == "none"; }))
      << waiting->snapshot().production_fetch;
  EXPECT_EQ(waiting->snapshot().model, "");

  ASSERT_EQ(registry.PushProduction(testing::MakeModel("fan-mlp", -3.0f)), 1);
  auto ac = AgentConfig("fan-0109", registry.url(), token);
  ac.public_key_pem = other_key->PublicKeyPem();
  auto agent = StartAgent(ac, "", TfliteModelLoader());
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().production_fetch == "failed"; }))
      << agent->snapshot().production_fetch;
  auto s = agent->snapshot();
  EXPECT_EQ(s.models_rejected, 1u);
  EXPECT_EQ(s.ota_error, "bad signature");
  EXPECT_EQ(s.model, "");
  ASSERT_TRUE(WaitFor([&] {
    auto st = statuses.Last("fan-0109");
    return st.is_object() && st.contains("ota") && st["ota"].value("state", "") == "failed";
  })) << statuses.Last("fan-0109").dump();
  auto st = statuses.Last("fan-0109");
  EXPECT_EQ(st["ota"]["error"], "bad signature");
  EXPECT_EQ(st["ota"]["rollout"], "production");
  EXPECT_TRUE(st["model"].is_null());
  // It keeps publishing (unscored) telemetry.
  const uint64_t published = agent->snapshot().published;
  ASSERT_TRUE(WaitFor([&] { return agent->snapshot().published > published; }));
  EXPECT_EQ(agent->snapshot().scored, 0u);
}

#ifdef AIOT_BIN
// `aiot agent` exits 1 with a clear message when the registry refuses it.
TEST_F(DeviceActivationTest, CliDeviceExitsWhenRefused) {
  Registry registry(testing::FreePort());
  ASSERT_TRUE(registry.Start());
  const std::string token = registry.Provision("fan-0107");
  ASSERT_TRUE(registry.devices->Decommission("fan-0107").ok());
  const auto err = dir_ / "stderr.txt";
  const std::string cmd = "timeout 120 " + std::string(AIOT_BIN) + " agent --id fan-0107 --mqtt " +
                          broker_->url() + " --registry " + registry.url() + " --token " + token +
                          " 2> " + err.string();
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  std::stringstream text;
  text << std::ifstream(err).rdbuf();
  EXPECT_NE(text.str().find("the registry refused activation"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("HTTP 401"), std::string::npos) << text.str();
}
#endif

}  // namespace
}  // namespace aiot::sim
