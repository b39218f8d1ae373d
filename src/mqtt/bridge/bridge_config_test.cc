#include "mqtt/bridge/bridge_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/config_list.h"
#include "mqtt/broker/broker_config.h"
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
  EXPECT_EQ(c.buffer_dir(), "var/aiot/mqtt-bridge/bridge");  // derived from the name
  c.buffer.dir = "/data/b";
  EXPECT_EQ(c.buffer_dir(), "/data/b");
}

// broker.bridges, as `aiot config check` loads it: the real BrokerConfig under `broker`.
struct Root {
  broker::BrokerConfig broker;
};
void Describe(config::Visitor& v, Root& c) { config::Section(v, "broker", c.broker, ""); }

TEST(BridgeConfig, SeveralBridgesLoadAsAListWithTheShorthandFirst) {
  Root r;
  EXPECT_TRUE(LoadProblems("broker:\n"
                           "  bridge:\n"
                           "    url: mqtt://central:1883\n"
                           "    name: central\n"
                           "    topics: [\"d/# out 1\"]\n"
                           "  bridges:\n"
                           "    - name: backup\n"
                           "      url: mqtt://backup:1883\n"
                           "      topics: [\"d/# out 1\", \"cmd/# in 1 \\\"\\\" backup/\"]\n"
                           "    - name: cloud\n"
                           "      url: mqtts://cloud:8883\n"
                           "      topics: [\"d/# out 1 site/\"]\n"
                           "      buffer: {dir: /data/cloud-buffer}\n",
                           "aiot.yaml", config::DescriberFor(r))
                  .empty());
  auto all = r.broker.enabled_bridges();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "central");
  EXPECT_EQ(all[1].name, "backup");
  EXPECT_EQ(all[1].topics.size(), 2u);
  EXPECT_EQ(all[1].buffer_dir(), "var/aiot/mqtt-bridge/backup");
  EXPECT_EQ(all[1].effective_client_id(), "aiot-bridge-backup");
  EXPECT_EQ(all[2].buffer_dir(), "/data/cloud-buffer");
  // The defaults: no bridge at all.
  Root none;
  EXPECT_TRUE(none.broker.enabled_bridges().empty());
  EXPECT_TRUE(config::RunChecks(config::DescriberFor(none)).empty());
}

TEST(BridgeConfig, ProblemsOfSeveralBridgesNameTheItemAndTheLine) {
  Root r;
  EXPECT_EQ(
      LoadProblems("broker:\n"                                           // 1
                   "  bridge:\n"                                         // 2
                   "    url: mqtt://central:1883\n"                      // 3
                   "    name: central\n"                                 // 4
                   "    topics: [\"d/# out 1\"]\n"                       // 5
                   "  bridges:\n"                                        // 6
                   "    - name: central\n"                               // 7: name taken
                   "      url: mqtt://backup:1883\n"                     // 8
                   "      topics: [\"d/# out 1\"]\n"                     // 9
                   "    - name: nourl\n"                                 // 10: no url
                   "      topics: [\"d/# out 1\"]\n"                     // 11
                   "    - name: cloud\n"                                 // 12
                   "      url: mqtt://cloud:1883\n"                      // 13
                   "      topics: [\"d/# out 1\", \"e/# sideways\"]\n"   // 14: bad line
                   "    - name: shared\n"                                // 15
                   "      url: mqtt://shared:1883\n"                     // 16
                   "      topics: [\"d/#\"]\n"                           // 17
                   "      buffer: {dir: var/aiot/mqtt-bridge/cloud/}\n"  // 18: cloud's dir
                   "    - name: nested\n"                                // 19
                   "      url: mqtt://central:1883\n"                    // 20
                   "      client_id: aiot-bridge-central\n"              // 21: central's session
                   "      topics: [\"d/#\"]\n"                           // 22
                   "      buffer:\n"                                     // 23
                   "        dir: var/aiot/mqtt-bridge/central/more\n"    // 24: inside central's
                   "    - name: bad name\n"                              // 25
                   "      url: mqtt://x:1883\n"                          // 26
                   "      topics: [\"d/#\"]\n"                           // 27
                   "      tpoics: [\"x\"]\n",                            // 28: unknown key
                   "aiot.yaml", config::DescriberFor(r)),
      (std::vector<std::string>{
          "broker.bridges[5].tpoics: unknown key; did you mean `topics`? (aiot.yaml:28)",
          "broker.bridges[2].topics: `e/# sideways`: direction `sideways` is not out, in or both "
          "(aiot.yaml:14)",
          "broker.bridges[5].name: `bad name` is not a bridge name: 1 to 64 letters, digits, -, _ "
          "or . (not first); it names the metrics, the client ids and the buffer dir "
          "(aiot.yaml:25)",
          "broker.bridges[1].url: every bridge in broker.bridges needs a url (mqtt://host:port or "
          "mqtts://...) (aiot.yaml:10)",
          "broker.bridges[0].name: `central` is also the name of broker.bridge; each bridge needs "
          "its own (it names its metrics, client ids and default buffer dir) (aiot.yaml:7)",
          "broker.bridges[3].buffer.dir: `var/aiot/mqtt-bridge/cloud/` is the buffer dir of "
          "broker.bridges[2] (`var/aiot/mqtt-bridge/cloud`); each bridge needs its own (default "
          "var/aiot/mqtt-bridge/<name>) (aiot.yaml:18)",
          "broker.bridges[4].buffer.dir: `var/aiot/mqtt-bridge/central/more` overlaps the buffer "
          "dir of broker.bridge (`var/aiot/mqtt-bridge/central`); each bridge needs its own "
          "(default var/aiot/mqtt-bridge/<name>) (aiot.yaml:24)",
          "broker.bridges[4].client_id: `aiot-bridge-central` on mqtt://central:1883 is also "
          "broker.bridge's: the two would take each other's session over (aiot.yaml:21)",
      }));
  // The whole list from --set, as a test or a container would give it.
  Root s;
  config::LoadReport rep = config::Load(
      {.file = "",
       .env = {},
       .sets = {"broker.bridges=[{name: a, url: \"mqtt://a:1883\", topics: [\"x/#\"]}, {name: "
                "a, url: \"mqtt://b:1883\", topics: [\"x/#\"]}]",
                "broker.bridges[2].name=c", "broker.bridges[2].topics=[\"y/# in\"]"}},
      config::DescriberFor(s));
  std::vector<std::string> got;
  for (const auto& p : rep.problems) got.push_back(p.ToString());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "broker.bridges[2].url: every bridge in broker.bridges needs a url "
                     "(mqtt://host:port or mqtts://...) (--set)",
                     "broker.bridges[1].name: `a` is also the name of broker.bridges[0]; each "
                     "bridge needs its own (it names its metrics, client ids and default buffer "
                     "dir) (--set)"}));
}

}  // namespace
}  // namespace aiot::mqtt::bridge
