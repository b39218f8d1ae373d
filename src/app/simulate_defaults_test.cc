// app::SimulateDemoDefaults: what `aiot up --simulate` fills in when it was not configured, and
// that configured keys win.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "app/platform.h"

namespace aiot::app {
namespace {

TEST(SimulateDemoDefaults, FillsTheDemoKeysThatWereNotConfigured) {
  AppConfig c;
  c.registry.data_dir = "/var/x";
  c.fleet.time_scale = 60;
  c.fleet.physics.time_to_failure_s = 6 * 3600;
  UpOptions o;
  o.simulate = 5;
  const AppConfig d = SimulateDemoDefaults(c, o);
  EXPECT_TRUE(d.pipeline.enabled);
  EXPECT_EQ(d.fleet.state_dir, "/var/x/fleet");
  // 3 simulated hours at 60x, eight times longer at the protected half load.
  EXPECT_EQ(d.datastore.label_window_s, 1440);
  EXPECT_TRUE(d.fleet.physics.recurring_faults);
  EXPECT_EQ(d.fleet.protect_after, 3u);  // the devices still protect their machines
  EXPECT_EQ(d.pipeline.triggers.drift.delay_s, 2880);
  EXPECT_GT(d.pipeline.triggers.drift.min_new_positives, 0);
  EXPECT_TRUE(d.pipeline.triggers.drift.since_event);
  const std::map<std::string, std::string> params = {{"label_delay", "1440s"},
                                                     {"canary_soak_s", "30"}};
  EXPECT_EQ(d.pipeline.params, params);
  c.fleet.time_scale = 1200;  // scripts/run.sh: a fault of 18 s at full load
  const AppConfig fast = SimulateDemoDefaults(c, o);
  EXPECT_EQ(fast.datastore.label_window_s, 72);
  EXPECT_EQ(fast.pipeline.triggers.drift.delay_s, 144);
  EXPECT_EQ(fast.pipeline.params.at("label_delay"), "72s");
  EXPECT_EQ(fast.pipeline.params.at("canary_soak_s"), "18");
  c.fleet.protect_after = 0;  // no protection: the nominal degraded half
  EXPECT_EQ(SimulateDemoDefaults(c, o).datastore.label_window_s, 9);
  c.fleet.time_scale = 1e7;  // at least one second
  EXPECT_EQ(SimulateDemoDefaults(c, o).datastore.label_window_s, 1);
}

TEST(SimulateDemoDefaults, ConfiguredKeysWin) {
  AppConfig c;
  c.pipeline.enabled = false;
  c.fleet.state_dir = "";
  c.datastore.label_window_s = 3600;
  UpOptions o;
  o.simulate = 5;
  c.fleet.physics.recurring_faults = false;
  c.pipeline.triggers.drift.delay_s = 0;
  c.pipeline.triggers.drift.min_new_positives = 0;
  c.pipeline.params = {{"recipe", "fast"}};
  const std::set<std::string> set = {"pipeline.enabled",
                                     "fleet.state_dir",
                                     "datastore.label_window_s",
                                     "fleet.physics.recurring_faults",
                                     "pipeline.triggers.drift.delay_s",
                                     "pipeline.triggers.drift.min_new_positives",
                                     "pipeline.params"};
  o.configured = [&set](const std::string& key) { return set.count(key) > 0; };
  const AppConfig d = SimulateDemoDefaults(c, o);
  EXPECT_FALSE(d.pipeline.enabled);
  EXPECT_EQ(d.fleet.state_dir, "");
  EXPECT_EQ(d.datastore.label_window_s, 3600);
  EXPECT_FALSE(d.fleet.physics.recurring_faults);
  EXPECT_EQ(d.pipeline.triggers.drift.delay_s, 0);
  EXPECT_EQ(d.pipeline.triggers.drift.min_new_positives, 0);
  const std::map<std::string, std::string> params = {{"recipe", "fast"}};
  EXPECT_EQ(d.pipeline.params, params);
}

TEST(SimulateDemoDefaults, NothingWithoutASimulatedFleet) {
  AppConfig c;
  const AppConfig d = SimulateDemoDefaults(c, UpOptions{});
  EXPECT_FALSE(d.pipeline.enabled);
  EXPECT_EQ(d.fleet.state_dir, c.fleet.state_dir);
  EXPECT_EQ(d.datastore.label_window_s, c.datastore.label_window_s);
  EXPECT_FALSE(d.fleet.physics.recurring_faults);
  EXPECT_TRUE(d.pipeline.params.empty());
}

}  // namespace
}  // namespace aiot::app
