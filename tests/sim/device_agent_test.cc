// The device agent against a real broker (mosquitto) and a real HTTP server: it installs a signed
// model, rejects tampered ones (sha256, signature) and keeps scoring with the old model, rolls back
// a model that fails to load, drives its actuator, and keeps a retained status with a will.
#include "sim/device_agent.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>

#include "base/sha256.h"
#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "sim/tflite_model.h"
#include "tests/sim/sim_test_util.h"
#include "tests/sim/test_model.h"
#include "tests/support/ed25519.h"
#include "tests/support/testing.h"

namespace aiot::sim {
namespace {

using aiot::test_support::WaitFor;

using aiot::test_support::Ed25519;

class DeviceAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveProgram("/usr/sbin/mosquitto"))
      AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    dir_ = std::filesystem::temp_directory_path() / ("aiot_agent_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "www");
    broker_ = std::make_unique<testing::Mosquitto>(dir_);
    http_ = std::make_unique<testing::StaticHttp>(dir_ / "www");
    runtime_ = std::make_unique<net::Runtime>(1);

    DeviceAgentConfig ac;
    ac.id = "fan-0042";
    ac.rate = 20;
    ac.time_scale = 60;
    ac.model_dir = (dir_ / "models").string();
    ac.public_key_pem = key_.PublicPem();
    ac.protect_after = 0;
    mqtt::MqttClientConfig cc;
    cc.url = broker_->url();
    cc.client_id = ac.id;
    DeviceAgent::SetWill(ac, &cc);
    client_ = mqtt::Client::Create(runtime_->context(0), cc);
    PhysicsConfig physics;
    auto device = std::make_unique<SimulatedDevice>(ac.id, physics, 3, false, 0);
    agent_ = DeviceAgent::Create(ac, client_, std::make_unique<SimulatedSensor>(std::move(device)),
                                 TfliteModelLoader());

    mqtt::MqttClientConfig oc;
    oc.url = broker_->url();
    oc.client_id = "observer";
    observer_ = mqtt::Client::Create(runtime_->context(0), oc);
    observer_->Subscribe("fan/status/fan-0042", mqtt::QoS::kAtLeastOnce,
                         [this](const mqtt::Message& m) {
                           std::lock_guard lock(mu_);
                           statuses_.push_back(std::string(m.payload.view()));
                         });
    runtime_->Start();
    observer_->Start();
    client_->Start();
    agent_->Start();
  }

  void TearDown() override {
    if (!agent_) return;
    std::promise<void> done;
    agent_->Stop([&] { client_->Stop([&] { observer_->Stop([&] { done.set_value(); }); }); });
    done.get_future().wait_for(std::chrono::seconds(20));
    runtime_->Stop();
    runtime_->Join();
    agent_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Serves `bytes` as `file` and sends a download-model command claiming `sha` and `signature`.
  void Offer(const std::string& file, const std::string& bytes, int version, const std::string& sha,
             const std::string& signature) {
    std::ofstream(dir_ / "www" / file, std::ios::binary) << bytes;
    nlohmann::json cmd = {{"command", "download-model"},
                          {"payload",
                           {{"name", "fan-mlp"},
                            {"version", version},
                            {"url", http_->url(file)},
                            {"sha256", sha},
                            {"signature", signature},
                            {"size", bytes.size()},
                            {"rollout", "r-" + std::to_string(version)}}}};
    Control(cmd.dump());
  }
  void Control(const std::string& body) {
    ASSERT_TRUE(observer_
                    ->Publish("fan/control/fan-0042", mqtt::SharedBytes(body),
                              {.qos = mqtt::QoS::kAtLeastOnce})
                    .ok());
  }
  bool WaitOta(int version, const std::string& state) {
    return WaitFor([&] {
      std::lock_guard lock(mu_);
      if (statuses_.empty()) return false;
      auto j = nlohmann::json::parse(statuses_.back(), nullptr, false);
      return j.contains("ota") && j["ota"]["version"] == version && j["ota"]["state"] == state;
    });
  }
  bool Online() {
    auto s = LastStatus();
    return s.is_object() && s.value("online", false);
  }
  nlohmann::json LastStatus() {
    std::lock_guard lock(mu_);
    return statuses_.empty() ? nlohmann::json::object() : nlohmann::json::parse(statuses_.back());
  }
  void ExpectKeepsScoringWith(const std::string& model) {
    const uint64_t before = agent_->snapshot().scored;
    EXPECT_TRUE(WaitFor([&] { return agent_->snapshot().scored >= before + 5; }));
    EXPECT_EQ(agent_->snapshot().model, model);
    EXPECT_EQ(LastStatus()["model"], model);
  }

  std::filesystem::path dir_;
  Ed25519 key_;
  std::unique_ptr<testing::Mosquitto> broker_;
  std::unique_ptr<testing::StaticHttp> http_;
  std::unique_ptr<net::Runtime> runtime_;
  std::shared_ptr<mqtt::Client> client_, observer_;
  std::shared_ptr<DeviceAgent> agent_;
  std::mutex mu_;
  std::vector<std::string> statuses_;
};

TEST_F(DeviceAgentTest, InstallsSignedModelAndRejectsTamperedOnes) {
  // Online, no model yet: readings are published but not scored.
  ASSERT_TRUE(WaitFor([&] { return Online(); }));
  EXPECT_TRUE(LastStatus()["model"].is_null());
  ASSERT_TRUE(WaitFor([&] { return agent_->snapshot().published >= 3; }));
  EXPECT_EQ(agent_->snapshot().scored, 0u);

  // v1: valid and signed -> active, readings scored on the device.
  const std::string v1 = testing::MakeModel("fan-mlp", -3.0f);
  const std::string v1_sha = Sha256Hex(v1);
  Offer("v1.tflite", v1, 1, v1_sha, key_.SignDigest(v1_sha));
  ASSERT_TRUE(WaitOta(1, "ok")) << LastStatus().dump();
  ExpectKeepsScoringWith("fan-mlp@1");
  const double score = agent_->snapshot().last_score;
  EXPECT_GE(score, 0.0);
  EXPECT_LT(score, 0.5);  // a healthy machine

  // v2 with its bytes tampered in transit: sha256 mismatch.
  const std::string v2 = testing::MakeModel("fan-mlp", -2.0f);
  const std::string v2_sha = Sha256Hex(v2);
  std::string tampered = v2;
  tampered[tampered.size() / 2] ^= 0x55;
  Offer("v2.tflite", tampered, 2, v2_sha, key_.SignDigest(v2_sha));
  ASSERT_TRUE(WaitOta(2, "failed"));
  EXPECT_EQ(LastStatus()["ota"]["error"], "sha256 mismatch");
  ExpectKeepsScoringWith("fan-mlp@1");

  // v3 signed by someone else: bad signature.
  Ed25519 other;
  Offer("v3.tflite", v2, 3, v2_sha, other.SignDigest(v2_sha));
  ASSERT_TRUE(WaitOta(3, "failed"));
  EXPECT_EQ(LastStatus()["ota"]["error"], "bad signature");
  ExpectKeepsScoringWith("fan-mlp@1");

  // v4: correctly signed, but not a model this device can load (garbage bytes) -> rolled back.
  const std::string junk(600, 'x');
  Offer("v4.tflite", junk, 4, Sha256Hex(junk), key_.SignDigest(Sha256Hex(junk)));
  ASSERT_TRUE(WaitOta(4, "failed"));
  EXPECT_EQ(LastStatus()["ota"]["error"].get<std::string>().rfind("invalid model", 0), 0u);
  ExpectKeepsScoringWith("fan-mlp@1");

  // v5: a valid model wanting a feature the device does not measure -> fails to load, rolled back.
  const std::string v5 = testing::MakeModel("fan-mlp", -3.0f, "pressure");
  Offer("v5.tflite", v5, 5, Sha256Hex(v5), key_.SignDigest(Sha256Hex(v5)));
  ASSERT_TRUE(WaitOta(5, "failed"));
  EXPECT_NE(LastStatus()["ota"]["error"].get<std::string>().find("pressure"), std::string::npos);
  ExpectKeepsScoringWith("fan-mlp@1");

  // v6: valid -> active; v1 becomes the previous model, and rollback-model returns to it.
  const std::string v6 = testing::MakeModel("fan-mlp", -1.0f);
  Offer("v6.tflite", v6, 6, Sha256Hex(v6), key_.SignDigest(Sha256Hex(v6)));
  ASSERT_TRUE(WaitOta(6, "ok"));
  ExpectKeepsScoringWith("fan-mlp@6");
  Control(R"({"command":"rollback-model","payload":{"rollout":"r-6-rollback"}})");
  ASSERT_TRUE(WaitFor([&] { return LastStatus()["model"] == "fan-mlp@1"; }));
  ExpectKeepsScoringWith("fan-mlp@1");
  // The model directory holds what is active, verified, for a restart.
  EXPECT_TRUE(std::filesystem::exists(dir_ / "models" / "active.model"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "models" / "previous.model"));
}

TEST_F(DeviceAgentTest, SetActuatorChangesLoadAndStatus) {
  ASSERT_TRUE(WaitFor([&] { return Online(); }));
  Control(R"({"command":"set-actuator","payload":{"load":0.4}})");
  ASSERT_TRUE(WaitFor([&] {
    auto s = LastStatus();
    return s.contains("actuator") && s["actuator"]["load"] == 0.4;
  }));
  EXPECT_DOUBLE_EQ(agent_->snapshot().load, 0.4);
  Control(R"({"command":"set-actuator","payload":{"angle":90}})");
  ASSERT_TRUE(WaitFor([&] { return agent_->snapshot().load == 0.5; }));
  Control("not json");
  Control(R"({"command":"self-destruct"})");
  Control(R"({"command":"set-actuator","payload":{"load":1.0}})");
  ASSERT_TRUE(WaitFor([&] { return agent_->snapshot().load == 1.0; }));  // still alive
}

TEST_F(DeviceAgentTest, WillMarksACrashedDeviceOffline) {
  ASSERT_TRUE(WaitFor([&] { return Online(); }));
  // A second client with the same id takes the session over: the broker drops the agent's
  // connection without a DISCONNECT, so the will ({"online":false}, retained) is published.
  mqtt::MqttClientConfig cc;
  cc.url = broker_->url();
  cc.client_id = "fan-0042";
  cc.reconnect_min_ms = 60000;
  cc.reconnect_max_ms = 60000;
  auto thief = mqtt::Client::Create(runtime_->context(0), cc);
  thief->Start();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu_);
    for (const auto& s : statuses_) {
      if (s == R"({"online":false})") return true;
    }
    return false;
  }));
  std::promise<void> done;
  thief->Stop([&] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(10));
}

}  // namespace
}  // namespace aiot::sim
