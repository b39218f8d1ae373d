// Interop with Eclipse Paho for Python (Debian python3-paho-mqtt 1.6), MQTT 3.1.1 and 5.0, against
// the broker started in-process. The scenarios are in paho_scenarios.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/mqtt/test_broker.h"

namespace aiot::mqtt::test {
namespace {

class PahoInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt'").first != 0)
      GTEST_SKIP() << "python3-paho-mqtt not installed";
    ASSERT_TRUE(broker_.ok());
  }
  std::string Scenario(const std::string& name) {
    const char* src = std::getenv("AIOT_SOURCE_DIR");
    std::string dir = src ? std::string(src) + "/tests/mqtt" : std::string(AIOT_TEST_DIR);
    auto [rc, out] = RunCommand("timeout 120 /usr/bin/python3 " + dir + "/paho_scenarios.py " +
                                name + " " + std::to_string(broker_.port()));
    EXPECT_EQ(rc, 0) << out;
    return out;
  }
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

}  // namespace
}  // namespace aiot::mqtt::test
