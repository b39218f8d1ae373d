// Interop with Eclipse Paho for Python (Debian python3-paho-mqtt 1.6), MQTT 3.1.1 and 5.0, against
// the broker started in-process. The scenarios are in paho_scenarios.py.
#include <gtest/gtest.h>

#include "tests/support/run.h"
#include "tests/support/testing.h"

#include <cstdlib>
#include <string>

#include "base/metrics.h"
#include "tests/mqtt/test_broker.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::RunCommand;
// Runs paho_scenarios.py `name` against the broker on `port`; returns what it printed.
std::string RunScenario(const std::string& name, uint16_t port) {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  std::string dir = src ? std::string(src) + "/tests/mqtt" : std::string(AIOT_TEST_DIR);
  auto [rc, out] = RunCommand("timeout 120 /usr/bin/python3 " + dir + "/paho_scenarios.py " + name +
                              " " + std::to_string(port));
  EXPECT_EQ(rc, 0) << out;
  return out;
}

double DroppedMessages(const metrics::Registry& registry, const std::string& reason) {
  std::string series = "aiot_mqtt_broker_messages_dropped_total{reason=\"" + reason + "\"} ";
  std::string text = metrics::SerializeText(registry);
  size_t p = text.find(series);
  return p == std::string::npos ? -1 : std::stod(text.substr(p + series.size()));
}

class PahoInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt'").exit_code != 0)
      AIOT_SKIP_WITHOUT_PEER("python3-paho-mqtt not installed");
    ASSERT_TRUE(broker_.ok());
  }
  std::string Scenario(const std::string& name) { return RunScenario(name, broker_.port()); }
  TestBroker broker_;
};

TEST_F(PahoInterop, Qos012RoundTripV311) {
  EXPECT_EQ(Scenario("roundtrip311"), "pr/q0 0 m0\npr/q1 1 m1\npr/q2 2 m2\n");
}

TEST_F(PahoInterop, Qos012RoundTripV5) {
  EXPECT_EQ(Scenario("roundtrip5"), "pr/q0 0 m0\npr/q1 1 m1\npr/q2 2 m2\n");
}

TEST_F(PahoInterop, TopicAliasesBothWays) {
  // Client -> broker: paho sends the alias alone after the first message and the broker resolves
  // it. Broker -> client: the broker assigns alias 1 and then sends it without the topic.
  EXPECT_EQ(Scenario("topic_alias"), "'al/x' 1 a0\n'' 1 a1\n'' 1 a2\n");
}

TEST_F(PahoInterop, WillWithDelay) {
  EXPECT_EQ(Scenario("will_delay"), "wd/will gone after-delay\n");
}

TEST_F(PahoInterop, SessionResumeWithQueuedMessagesV311) {
  EXPECT_EQ(Scenario("resume311"), "session_present 1\nsr/t q0\nsr/t q1\nsr/t q2\n");
}

TEST_F(PahoInterop, SessionResumeWithQueuedMessagesV5) {
  EXPECT_EQ(Scenario("resume5"), "session_present 1\nsr/t q0\nsr/t q1\nsr/t q2\n");
}

TEST_F(PahoInterop, SharedSubscription) { EXPECT_EQ(Scenario("shared"), "total 10 both True\n"); }

TEST_F(PahoInterop, RetainedSetDeliveredOnSubscribeAndCleared_MQTT_3_3_1_6_MQTT_3_3_1_7) {
  EXPECT_EQ(Scenario("retained"),
            "on subscribe: pret/a kept retain 1\n"
            "after clear: pret/marker live retain 0\n");
}

TEST_F(PahoInterop, QueuedMessageExpiresAndRemainingIntervalSent_MQTT_3_3_2_5_MQTT_3_3_2_6) {
  // "short" (1 s) expires in the offline session; "long" (600 s) arrives with less than 600 left.
  EXPECT_EQ(Scenario("message_expiry"), "session_present 1\npexp/t long expiry decremented\n");
  EXPECT_EQ(DroppedMessages(broker_.registry(), "expired"), 1);
}

// A paho subscriber with Receive Maximum 2 that holds each PUBACK back for 0.3 s, resuming a
// session with 10 queued QoS 1 messages: the broker never has more than 2 unacknowledged
// PUBLISH packets out to it, and every message arrives, in order.
TEST_F(PahoInterop, ClientReceiveMaximumRespected_MQTT_3_3_4_9) {
  EXPECT_EQ(Scenario("receive_maximum"),
            "session_present 1\nm0 m1 m2 m3 m4 m5 m6 m7 m8 m9\nmax_unacked 2\n");
}

// The broker's own Receive Maximum, with paho publishers bursting 20 QoS 2 messages.
class PahoServerReceiveMaximum : public ::testing::Test {
 protected:
  static broker::BrokerConfig Config() {
    broker::BrokerConfig cfg;
    cfg.receive_maximum = 3;
    return cfg;
  }
  void SetUp() override {
    if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt'").exit_code != 0)
      AIOT_SKIP_WITHOUT_PEER("python3-paho-mqtt not installed");
    ASSERT_TRUE(broker_.ok());
  }
  TestBroker broker_{Config()};
};

// Reported in CONNACK; a publisher that keeps its window to it gets every message through.
TEST_F(PahoServerReceiveMaximum, ReportedInConnackAndHonouredWindowSucceeds_MQTT_3_3_4_7) {
  EXPECT_EQ(RunScenario("server_receive_maximum", broker_.port()),
            "receive_maximum 3\ncompleted 20\ndelivered 20\n");
}

// A publisher with more unacknowledged QoS 2 PUBLISH packets than that is disconnected with
// 0x93 Receive Maximum exceeded; the messages within the window were delivered, the one beyond
// it was not.
TEST_F(PahoServerReceiveMaximum, ExceededByPublisherIsDisconnect0x93_MQTT_3_3_4_7) {
  EXPECT_EQ(RunScenario("server_receive_maximum_ignored", broker_.port()),
            "receive_maximum 3\ndisconnected 0x93\ndelivered 3\n");
}

}  // namespace
}  // namespace aiot::mqtt::test
