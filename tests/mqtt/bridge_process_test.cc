// broker.bridge across a kill -9 of aiot: `aiot broker` (a child process) buffers what is
// published while the remote mosquitto is down, is killed with SIGKILL, restarted, and delivers
// everything in order once the remote is up.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/client/test_util.h"
#include "tests/kafka/aiot_process.h"
#include "tests/mqtt/bridge_testing.h"
#include "tests/support/testing.h"

namespace aiot::mqtt {
namespace {

namespace fs = std::filesystem;
using bridge_test::ConnectClient;
using bridge_test::Numbered;
using bridge_test::Received;
using bridge_test::StopClient;
using bridge_test::SubscribeInto;
using kafka_test::AiotProcess;
using kafka_test::MetricAt;
using test_support::FreePort;
using test_support::WaitFor;
using namespace std::chrono_literals;

TEST(MqttBridgeProcess, BufferedMessagesSurviveKill9AndArriveInOrder) {
  if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
  char tmpl[] = "/tmp/aiot-mqtt-bridge-proc-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  testing::Mosquitto remote;  // not started yet: the remote is down
  const uint16_t port = FreePort();
  const uint16_t http = FreePort();
  const std::vector<std::string> argv = {
      "--log-level",
      "warn",
      "--set",
      fmt::format("broker.listeners=[127.0.0.1:{}]", port),
      "--set",
      fmt::format("broker.bridge.url=mqtt://127.0.0.1:{}", remote.port()),
      "--set",
      "broker.bridge.name=edge",
      "--set",
      "broker.bridge.reconnect_max_ms=500",
      "--set",
      "broker.bridge.topics=[\"d/# out 1 \\\"\\\" site/\"]",
      "--set",
      "broker.bridge.buffer.dir=" + dir + "/buffer",
      "broker",
      "--http",
      fmt::format("127.0.0.1:{}", http)};
  auto metric = [&](const std::string& name) { return MetricAt(http, name); };
  const std::string buffered =
      "aiot_mqtt_bridge_messages_total{bridge=\"edge\",direction=\"buffered\"";
  testing::IoThread io;
  constexpr int kN = 200;
  {
    AiotProcess aiot(argv);
    ASSERT_TRUE(aiot.Start([&] { return metric("aiot_mqtt_bridge_connected").has_value(); }))
        << "aiot broker did not start";
    auto pub = ConnectClient(io.io(), fmt::format("tcp://127.0.0.1:{}", port));
    ASSERT_TRUE(pub);
    // The bridge's local subscription is in place once a probe is buffered.
    ASSERT_TRUE(WaitFor([&] {
      (void)pub->Publish("d/probe", "probe", {.qos = QoS::kAtLeastOnce});
      return WaitFor([&] { return metric(buffered).value_or(0) >= 1; }, 300ms);
    }));
    const double probes = *metric(buffered);
    for (const auto& p : Numbered("m", kN))
      ASSERT_TRUE(pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
    ASSERT_TRUE(WaitFor([&] { return metric(buffered).value_or(0) >= probes + kN; }))
        << metric(buffered).value_or(-1);
    EXPECT_EQ(metric("aiot_mqtt_bridge_connected").value_or(-1), 0);
    StopClient(pub);
    aiot.Kill9();
  }
  // The remote comes up with a subscriber before aiot is back.
  ASSERT_TRUE(remote.Start());
  auto sub = ConnectClient(io.io(), remote.url());
  ASSERT_TRUE(sub);
  Received got;
  ASSERT_TRUE(SubscribeInto(*sub, "site/d/#", got));
  AiotProcess aiot(argv);
  ASSERT_TRUE(aiot.Start([&] { return metric("aiot_mqtt_bridge_connected").has_value(); }));
  EXPECT_GE(
      metric("aiot_mqtt_bridge_buffer{bridge=\"edge\",value=\"recovered_messages\"").value_or(0),
      kN);
  ASSERT_TRUE(WaitFor([&] { return got.payloads_without("probe").size() >= kN; }, 60s))
      << got.payloads_without("probe").size() << " of " << kN;
  EXPECT_EQ(got.payloads_without("probe"), Numbered("m", kN));
  ASSERT_TRUE(WaitFor([&] {
    return metric("aiot_mqtt_bridge_buffer{bridge=\"edge\",value=\"messages\"").value_or(-1) == 0;
  }));
  EXPECT_EQ(aiot.Terminate(), 0);
  StopClient(sub);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace aiot::mqtt
