#include "services/alert_tracker.h"

#include <gtest/gtest.h>

#include <vector>

namespace aiot::services {
namespace {

const Thresholds kT{0.5, 0.8};

// Feeds scores and returns the alert state after each.
std::vector<Level> Feed(AlertTracker& tracker, const std::vector<double>& scores,
                        std::string_view device = "fan-1") {
  std::vector<Level> states;
  for (double s : scores) {
    (void)tracker.Observe(device, s, kT);
    states.push_back(tracker.StateOf(device));
  }
  return states;
}

constexpr Level O = Level::kOk, W = Level::kWarning, C = Level::kCritical;

TEST(AlertTrackerTest, EntersCriticalOnlyAfterConsecutiveCriticalReadings) {
  AlertConfig config;
  config.enter_critical_after = 3;
  config.enter_warning_after = 10;  // keep warning out of the way
  AlertTracker tracker(config);
  // Two critical readings, then a dip: the run restarts.
  EXPECT_EQ(Feed(tracker, {0.9, 0.95, 0.3, 0.9, 0.9}), (std::vector<Level>{O, O, O, O, O}));
  auto t = tracker.Observe("fan-1", 0.85, kT);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, O);
  EXPECT_EQ(t->to, C);
  EXPECT_EQ(tracker.StateOf("fan-1"), C);
  // Further critical readings raise nothing new.
  EXPECT_FALSE(tracker.Observe("fan-1", 0.99, kT).has_value());
}

TEST(AlertTrackerTest, SingleSpikeDoesNotAlert) {
  AlertTracker tracker(AlertConfig{});
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(tracker.Observe("fan-1", i % 3 == 0 ? 0.99 : 0.1, kT).has_value()) << i;
  }
}

TEST(AlertTrackerTest, LeavesCriticalOnlyBelowExitThresholdAfterMReadings) {
  AlertConfig config;
  config.enter_critical_after = 1;
  config.exit_critical_after = 3;
  config.critical_exit_margin = 0.1;  // exit below 0.7
  AlertTracker tracker(config);
  ASSERT_EQ(Feed(tracker, {0.9}), std::vector<Level>{C});
  // 0.75 is below critical (0.8) but above the exit threshold (0.7): hysteresis holds critical.
  EXPECT_EQ(Feed(tracker, {0.75, 0.75, 0.75, 0.75, 0.75}), (std::vector<Level>(5, C)));
  // Below 0.7 but interrupted: the run restarts.
  EXPECT_EQ(Feed(tracker, {0.6, 0.6, 0.72, 0.6, 0.6}), (std::vector<Level>(5, C)));
  // The third consecutive reading below exit leaves critical, to warning (0.6 >= 0.45).
  auto t = tracker.Observe("fan-1", 0.6, kT);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, C);
  EXPECT_EQ(t->to, W);
}

TEST(AlertTrackerTest, LeavesCriticalStraightToOkWhenScoresAreLow) {
  AlertConfig config;
  config.enter_critical_after = 2;
  config.exit_critical_after = 2;
  AlertTracker tracker(config);
  EXPECT_EQ(Feed(tracker, {0.9, 0.9, 0.1, 0.1}), (std::vector<Level>{O, C, C, O}));
}

TEST(AlertTrackerTest, OscillationAroundCriticalAlertsOnce) {
  AlertConfig config;
  config.enter_critical_after = 1;
  config.exit_critical_after = 3;
  AlertTracker tracker(config);
  int alerts = 0;
  for (int i = 0; i < 200; ++i) {
    double s = i % 2 ? 0.82 : 0.78;  // flickers across 0.8, never below the 0.7 exit
    if (auto t = tracker.Observe("fan-1", s, kT); t && t->to == C) ++alerts;
  }
  EXPECT_EQ(alerts, 1);
}

TEST(AlertTrackerTest, WarningDebounceAndExit) {
  AlertConfig config;
  config.enter_warning_after = 2;
  config.exit_warning_after = 2;
  config.warning_exit_margin = 0.05;  // exit below 0.45
  AlertTracker tracker(config);
  EXPECT_EQ(Feed(tracker, {0.6, 0.1, 0.6, 0.6, 0.47, 0.47, 0.4, 0.4}),
            (std::vector<Level>{O, O, O, W, W, W, W, O}));
}

TEST(AlertTrackerTest, CriticalReadingsCountTowardsWarningToo) {
  AlertConfig config;
  config.enter_warning_after = 2;
  config.enter_critical_after = 3;
  AlertTracker tracker(config);
  EXPECT_EQ(Feed(tracker, {0.9, 0.9, 0.9}), (std::vector<Level>{O, W, C}));
}

TEST(AlertTrackerTest, DevicesAreIndependent) {
  AlertConfig config;
  config.enter_critical_after = 2;
  AlertTracker tracker(config);
  (void)tracker.Observe("a", 0.9, kT);
  (void)tracker.Observe("b", 0.9, kT);
  (void)tracker.Observe("a", 0.1, kT);
  (void)tracker.Observe("b", 0.9, kT);
  EXPECT_EQ(tracker.StateOf("a"), O);
  EXPECT_EQ(tracker.StateOf("b"), C);
  EXPECT_EQ(tracker.device_count(), 2u);
}

TEST(AlertTrackerTest, MaxDevicesBoundsMemory) {
  AlertConfig config;
  config.max_devices = 2;
  config.enter_critical_after = 1;
  AlertTracker tracker(config);
  EXPECT_TRUE(tracker.Observe("a", 0.9, kT).has_value());
  EXPECT_TRUE(tracker.Observe("b", 0.9, kT).has_value());
  EXPECT_FALSE(tracker.Observe("c", 0.9, kT).has_value());
  EXPECT_EQ(tracker.device_count(), 2u);
  EXPECT_EQ(tracker.untracked(), 1u);
}

TEST(AlertTrackerTest, ModelThresholdsApply) {
  AlertConfig config;
  config.enter_critical_after = 1;
  AlertTracker tracker(config);
  const Thresholds strict{0.3, 0.6};
  auto t = tracker.Observe("a", 0.65, strict);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, C);
}

}  // namespace
}  // namespace aiot::services
