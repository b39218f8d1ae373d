#include "mqtt/bridge/bridge_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/config.h"

namespace aiot::mqtt::bridge {
namespace {

using test_support::LoadProblems;

TEST(BridgeTopicSpec, ParsesMosquittoTopicLines) {
  auto t = ParseTopicSpec("sensors/# both 2 site1/ plant/");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->pattern, "sensors/#");
  EXPECT_EQ(t->direction, Direction::kBoth);
  EXPECT_EQ(t->qos, 2);
  EXPECT_EQ(t->local_filter(), "site1/sensors/#");
  EXPECT_EQ(t->remote_filter(), "plant/sensors/#");
  t = ParseTopicSpec("a/+");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->direction, Direction::kOut);
  EXPECT_EQ(t->qos, 0);
  EXPECT_EQ(t->local_filter(), "a/+");
  t = ParseTopicSpec("x in 1 \"\" remote/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->local_prefix, "");
  EXPECT_EQ(t->remote_filter(), "remote/x");
  for (const char* bad :
       {"", "a sideways", "a out 3", "a/#/b", "a out 1 l/+ r/", "a out 1 l r x y", "$share/g/a"}) {
    EXPECT_FALSE(ParseTopicSpec(bad).ok()) << bad;
  }
}

TEST(BridgeConfig, NoUrlMeansNoBridgeAndNoChecks) {
  BridgeConfig c;
  EXPECT_TRUE(LoadProblems("name: x\n", "b.yaml", config::DescriberFor(c)).empty());
  EXPECT_FALSE(c.enabled());
}

TEST(BridgeConfig, ProblemsAreReportedWithTheirLine) {
  BridgeConfig c;
  EXPECT_EQ(LoadProblems("url: ftp://central:1883\n"
                         "protocol_version: 4\n"
                         "topics: [\"a/# both 1\", \"b sideways\"]\n"
                         "password_file: /nonexistent/pw\n"
                         "buffer:\n  dir: \"\"\n",
                         "b.yaml", config::DescriberFor(c)),
            (std::vector<std::string>{
                "buffer.dir: a bridge needs a buffer directory (b.yaml:6)",
                "url: `ftp://central:1883`: the scheme must be mqtt, tcp, mqtts or ssl (b.yaml:1)",
                "topics: `a/# both 1`: direction both needs protocol_version 5 (no-local "
                "subscriptions keep messages from looping) (b.yaml:3)",
                "topics: `b sideways`: direction `sideways` is not out, in or both (b.yaml:3)",
                "password_file: cannot read `/nonexistent/pw` (b.yaml:4)"}));
  c = BridgeConfig{};
  EXPECT_EQ(LoadProblems("url: mqtts://central:8883\n", "b.yaml", config::DescriberFor(c)),
            (std::vector<std::string>{"topics: a bridge needs at least one topic line"}));
  c = BridgeConfig{};
  EXPECT_TRUE(LoadProblems("url: mqtt://central:1883\ntopics: [\"t/# out 1 site/ central/\"]\n",
                           "b.yaml", config::DescriberFor(c))
                  .empty());
  EXPECT_EQ(c.effective_client_id(), "aiot-bridge-bridge");
}

}  // namespace
}  // namespace aiot::mqtt::bridge
