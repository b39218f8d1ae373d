// The load generator against a real mosquitto: counts must add up (no timing assertions).
#include "mqtt/client/bench/load_generator.h"

#include <gtest/gtest.h>

#include "base/errc.h"

#include "tests/support/testing.h"

#include "mqtt/client/test_util.h"

namespace aiot::mqtt::bench {
namespace {

using mqtt::testing::Mosquitto;

TEST(LoadGenerator, FanOutQos1DeliversEveryMessageToEverySubscriber) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  LoadOptions o;
  o.url = broker.url();
  o.pubs = 1;
  o.subs = 5;
  o.qos = 1;
  o.mode = Mode::kFanOut;
  o.rate = 200;
  o.duration_s = 1;
  o.threads = 2;
  o.drain_s = 20;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->sent, 0u);
  EXPECT_EQ(r->expected, r->sent * 5);
  EXPECT_EQ(r->received, r->expected);
  EXPECT_EQ(r->loss, 0.0);
  EXPECT_GT(r->p50_ns, 0u);
  EXPECT_LE(r->p50_ns, r->p99_ns);
  EXPECT_NE(FormatTable({*r}).find(broker.url()), std::string::npos);
  EXPECT_NE(FormatJson({*r}).find("\"recv_rate\""), std::string::npos);
}

TEST(LoadGenerator, PairsMaxRateQos0V311) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  LoadOptions o;
  o.url = broker.url();
  o.pubs = 2;
  o.subs = 2;
  o.qos = 0;
  o.protocol = 4;
  o.duration_s = 0.5;
  o.threads = 2;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->sent, 0u);
  EXPECT_EQ(r->expected, r->sent);  // one subscriber per topic
  EXPECT_GT(r->received, 0u);
  EXPECT_LE(r->received, r->expected);
}

TEST(LoadGenerator, UnreachableBrokerFails) {
  LoadOptions o;
  o.url = "tcp://127.0.0.1:" + std::to_string(mqtt::testing::FreePort());
  o.connect_timeout_s = 1;
  o.duration_s = 0.1;
  o.threads = 1;
  auto r = RunLoad(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(errc::unavailable));
  EXPECT_NE(r.status().message().find("subscribers"), std::string::npos) << r.status().ToString();
}

TEST(LoadGenerator, OptionsOutOfRangeSayWhich) {
  LoadOptions o;
  o.qos = 3;
  auto r = RunLoad(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(errc::invalid_argument));
  EXPECT_EQ(r.status().message(), "QoS must be 0, 1 or 2");
}

}  // namespace
}  // namespace aiot::mqtt::bench
