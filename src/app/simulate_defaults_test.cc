// app::SimulateDemoDefaults: what `aiot up --simulate` fills in when it was not configured, and
// that configured keys win.
#include <gtest/gtest.h>

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
  EXPECT_EQ(d.datastore.label_window_s, 180);  // 3 simulated hours at 60x
  c.fleet.time_scale = 1e7;                    // at least one second
  EXPECT_EQ(SimulateDemoDefaults(c, o).datastore.label_window_s, 1);
}

TEST(SimulateDemoDefaults, ConfiguredKeysWin) {
  AppConfig c;
  c.pipeline.enabled = false;
  c.fleet.state_dir = "";
  c.datastore.label_window_s = 3600;
  UpOptions o;
  o.simulate = 5;
  const std::set<std::string> set = {"pipeline.enabled", "fleet.state_dir",
                                     "datastore.label_window_s"};
  o.configured = [&set](const std::string& key) { return set.count(key) > 0; };
  const AppConfig d = SimulateDemoDefaults(c, o);
  EXPECT_FALSE(d.pipeline.enabled);
  EXPECT_EQ(d.fleet.state_dir, "");
  EXPECT_EQ(d.datastore.label_window_s, 3600);
}

TEST(SimulateDemoDefaults, NothingWithoutASimulatedFleet) {
  AppConfig c;
  const AppConfig d = SimulateDemoDefaults(c, UpOptions{});
  EXPECT_FALSE(d.pipeline.enabled);
  EXPECT_EQ(d.fleet.state_dir, c.fleet.state_dir);
  EXPECT_EQ(d.datastore.label_window_s, c.datastore.label_window_s);
}

}  // namespace
}  // namespace aiot::app
