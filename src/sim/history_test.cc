#include "sim/history.h"

#include <gtest/gtest.h>

#include <sstream>

namespace aiot::sim {
namespace {

TEST(History, WritesLabeledRows) {
  HistoryConfig c;
  c.rows = 3000;
  c.devices = 10;
  c.interval_s = 120;
  c.physics.time_to_failure_s = 4 * 3600;
  c.physics.fault_onset_max_s = 3600;
  std::ostringstream out;
  auto stats = WriteHistoryCsv(c, out);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->rows, 3000u);
  EXPECT_GT(stats->faulty_rows, 100u);
  EXPECT_LT(stats->faulty_rows, 1500u);
  EXPECT_GE(stats->failures, 1u);
  std::istringstream in(out.str());
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("rotation,temperature,vibration,sound,timeStamp,deviceID,", 0), 0u);
  size_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 19) << line;
  }
  EXPECT_EQ(lines, 3000u);
}

TEST(History, SameSeedSameFile) {
  HistoryConfig c;
  c.rows = 200;
  c.devices = 4;
  std::ostringstream a, b;
  ASSERT_TRUE(WriteHistoryCsv(c, a).ok());
  ASSERT_TRUE(WriteHistoryCsv(c, b).ok());
  EXPECT_EQ(a.str(), b.str());
  c.seed = 2;
  std::ostringstream d;
  ASSERT_TRUE(WriteHistoryCsv(c, d).ok());
  EXPECT_NE(a.str(), d.str());
}

TEST(History, PickFaultyTakesTheFraction) {
  auto f = PickFaulty(1000, 0.1, 3);
  EXPECT_EQ(std::count(f.begin(), f.end(), true), 100);
  EXPECT_EQ(DeviceId("fan-", 0), "fan-0001");
}

// The oracle detector (it reads the ground truth) catches every failure with the lead time the
// label implies; a detector that never fires catches nothing and never false-alarms.
TEST(Detection, OracleAndSilentDetectors) {
  DetectionConfig c;
  c.faulty_devices = 6;
  c.healthy_devices = 4;
  c.interval_s = 120;
  auto oracle = EvaluateDetection(c, [](const Reading& r) { return r.faulty ? 1.0 : 0.0; });
  EXPECT_EQ(oracle.failures, 6u);
  EXPECT_EQ(oracle.caught, 6u);
  EXPECT_EQ(oracle.healthy_critical, 0u);
  // Severity 0.25 = damage 0.5: about half the onset-to-failure time remains.
  EXPECT_NEAR(oracle.median_lead_s / oracle.median_time_to_failure_s, 0.5, 0.15);
  auto silent = EvaluateDetection(c, [](const Reading&) { return 0.0; });
  EXPECT_EQ(silent.caught, 0u);
  EXPECT_EQ(silent.false_alarm_rate(), 0.0);
  auto noisy = EvaluateDetection(c, [](const Reading&) { return 1.0; });
  EXPECT_EQ(noisy.healthy_devices_alerted, 4u);
  EXPECT_DOUBLE_EQ(noisy.false_alarm_rate(), 1.0);
}

}  // namespace
}  // namespace aiot::sim
