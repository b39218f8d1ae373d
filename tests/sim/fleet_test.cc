// A simulated fleet against mosquitto: every device publishes reference telemetry under its own
// client id, keeps a retained status, and obeys its control topic; multiplexed connections work
// the same for telemetry.
#include "sim/fleet.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <future>
#include <map>
#include <mutex>
#include <set>

#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "tests/sim/sim_test_util.h"
#include "tests/support/testing.h"

namespace aiot::sim {
namespace {

using aiot::test_support::WaitFor;

class FleetTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    if (!testing::HaveProgram("/usr/sbin/mosquitto"))
      AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    dir_ = std::filesystem::temp_directory_path() / ("aiot_fleet_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    broker_ = std::make_unique<testing::Mosquitto>(dir_);
    runtime_ = std::make_unique<net::Runtime>(2);
    mqtt::MqttClientConfig oc;
    oc.url = broker_->url();
    oc.client_id = "observer";
    observer_ = mqtt::Client::Create(runtime_->context(0), oc);
    observer_->Subscribe("fan/messages", mqtt::QoS::kAtMostOnce, [this](const mqtt::Message& m) {
      auto j = nlohmann::json::parse(m.payload.view(), nullptr, false);
      std::lock_guard lock(mu_);
      ++telemetry_;
      if (j.is_object() && j.contains("deviceID")) {
        last_[j["deviceID"].get<std::string>()] = j;
      } else {
        ++malformed_;
      }
    });
    runtime_->Start();
    observer_->Start();
  }
  void TearDown() override {
    if (!runtime_) return;
    std::promise<void> done;
    observer_->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
    runtime_->Stop();
    runtime_->Join();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::Mosquitto> broker_;
  std::unique_ptr<net::Runtime> runtime_;
  std::shared_ptr<mqtt::Client> observer_;
  std::mutex mu_;
  uint64_t telemetry_ = 0, malformed_ = 0;
  std::map<std::string, nlohmann::json> last_;
};

TEST_P(FleetTest, DevicesPublishTelemetryAndRetainedStatus) {
  FleetConfig fc;
  fc.devices = 20;
  fc.rate = 5;
  fc.time_scale = 600;
  fc.seed = 11;
  fc.devices_per_connection = GetParam();
  mqtt::MqttClientConfig cc;
  cc.url = broker_->url();
  Fleet fleet(runtime_->contexts(), fc, cc);
  EXPECT_EQ(fleet.stats().clients, fc.devices / GetParam());
  fleet.Start();

  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu_);
    return last_.size() == fc.devices;
  })) << last_.size();
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(malformed_, 0u);
    const auto& j = last_["fan-0001"];
    for (const char* k : {"rotation", "temperature", "vibration", "sound"}) {
      EXPECT_TRUE(j[k].is_number()) << k;
    }
    EXPECT_TRUE(j["spectrum"]["kurtosis"].is_number());
    int64_t ts = 0;
    EXPECT_TRUE(ParseTimestamp(j["timeStamp"].get<std::string>(), &ts));
  }
  EXPECT_TRUE(WaitFor([&] { return fleet.stats().connected_clients == fleet.stats().clients; }));

  // A late subscriber gets every device's retained status.
  std::mutex smu;
  std::map<std::string, nlohmann::json> status;
  mqtt::MqttClientConfig lc;
  lc.url = broker_->url();
  lc.client_id = "late";
  auto late = mqtt::Client::Create(runtime_->context(1), lc);
  late->Subscribe("fan/status/+", mqtt::QoS::kAtLeastOnce, [&](const mqtt::Message& m) {
    std::lock_guard lock(smu);
    status[m.topic] = nlohmann::json::parse(m.payload.view(), nullptr, false);
  });
  late->Start();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(smu);
    return status.size() == fc.devices;
  }));
  {
    std::lock_guard lock(smu);
    EXPECT_EQ(status["fan/status/fan-0007"]["online"], true);
  }

  // Control: ease device 7.
  ASSERT_TRUE(
      observer_
          ->Publish("fan/control/fan-0007",
                    mqtt::SharedBytes(R"({"command":"set-actuator","payload":{"load":0.3}})"),
                    {.qos = mqtt::QoS::kAtLeastOnce})
          .ok());
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard lock(smu);
    auto& s = status["fan/status/fan-0007"];
    return s.is_object() && s.contains("actuator") && s["actuator"]["load"] == 0.3;
  }));
  EXPECT_DOUBLE_EQ(fleet.agent(6).snapshot().load, 0.3);

  // Orderly stop: every device marks itself offline (retained).
  std::promise<void> stopped;
  fleet.Stop([&] { stopped.set_value(); });
  ASSERT_EQ(stopped.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard lock(smu);
    for (auto& [topic, s] : status) {
      if (!s.is_object() || s.value("online", true)) return false;
    }
    return true;
  }));
  std::promise<void> late_done;
  late->Stop([&] { late_done.set_value(); });
  late_done.get_future().wait_for(std::chrono::seconds(10));
  const auto stats = fleet.stats();
  EXPECT_GT(stats.published, fc.devices);
  EXPECT_EQ(stats.publish_failed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Connections, FleetTest, ::testing::Values(1u, 5u), [](const auto& info) {
  return info.param == 1 ? std::string("ClientPerDevice") : std::string("Multiplexed");
});

}  // namespace
}  // namespace aiot::sim
