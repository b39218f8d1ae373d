#include "sim/simulated_device.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace aiot::sim {
namespace {

constexpr int64_t kStart = 1'795'341'600'000'000'000;  // 2026-11-22T10:00:00Z
constexpr int64_t kSecond = 1'000'000'000;

TEST(SimulatedDevice, TelemetryJsonHasTheReferenceFields) {
  PhysicsConfig p;
  SimulatedDevice d("fan-0001", p, 1, false, kStart);
  auto r = d.Step(kStart + 123'000'000);
  ASSERT_TRUE(r.has_value());
  std::string json;
  AppendTelemetryJson(d.id(), *r, &json);
  auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["deviceID"], "fan-0001");
  EXPECT_EQ(j["timeStamp"], "2026-11-22T10:00:00.123Z");
  for (const char* k : {"rotation", "temperature", "vibration", "sound"}) {
    ASSERT_TRUE(j[k].is_number()) << k;
  }
  EXPECT_GT(j["rotation"].get<double>(), 500);
  EXPECT_LT(j["rotation"].get<double>(), 700);
  EXPECT_NEAR(j["vibration"].get<double>(), j["spectrum"]["rms"].get<double>(), 0.06);
  EXPECT_EQ(j["spectrum"]["bands"].size(), 4u);
  EXPECT_TRUE(j["spectrum"]["kurtosis"].is_number());
}

TEST(SimulatedDevice, SameSeedSameReadings) {
  PhysicsConfig p;
  SimulatedDevice a("fan-0001", p, 42, true, kStart), b("fan-0001", p, 42, true, kStart);
  for (int i = 1; i < 50; ++i) {
    auto ra = a.Step(kStart + i * 300 * kSecond), rb = b.Step(kStart + i * 300 * kSecond);
    ASSERT_EQ(ra.has_value(), rb.has_value());
    if (!ra) continue;
    std::string ja, jb;
    AppendTelemetryJson(a.id(), *ra, &ja);
    AppendTelemetryJson(b.id(), *rb, &jb);
    ASSERT_EQ(ja, jb) << i;
  }
}

// A faulty device replayed over simulated hours: healthy, then a fault that progresses until the
// machine fails, is down for repair, and comes back healthy.
TEST(SimulatedDevice, FaultProgressesToFailureThenRepair) {
  PhysicsConfig p;
  p.time_to_failure_s = 3 * 3600;
  p.fault_onset_max_s = 3600;
  p.repair_time_s = 1800;
  SimulatedDevice d("fan-0002", p, 9, true, kStart);
  const int64_t onset = d.next_onset_nanos();
  ASSERT_LT(onset, kStart + 3601 * kSecond);
  int64_t t = kStart;
  bool saw_faulty = false, saw_down = false, back_up = false;
  double last_severity = 0;
  while (t < kStart + 10 * 3600 * kSecond) {
    t += 60 * kSecond;
    auto r = d.Step(t);
    if (!r) {
      saw_down = true;
      continue;
    }
    if (saw_down) {
      back_up = true;
      EXPECT_EQ(r->mode, FailureMode::kNone);
      break;
    }
    EXPECT_GE(r->severity, last_severity);
    last_severity = r->severity;
    if (r->faulty) {
      saw_faulty = true;
      EXPECT_GT(r->time_to_failure_s, 0);
    }
  }
  EXPECT_TRUE(saw_faulty);
  ASSERT_EQ(d.failures().size(), 1u);
  const double ttf_h = static_cast<double>(d.failures()[0] - onset) / kSecond / 3600;
  EXPECT_GT(ttf_h, 3 * 0.6);
  EXPECT_LT(ttf_h, 3 * 1.4);
  EXPECT_TRUE(back_up);
}

TEST(SimulatedDevice, ActuatorLoadDelaysFailure) {
  PhysicsConfig p;
  p.fault_onset_max_s = 0;
  p.time_to_failure_s = 3600;
  SimulatedDevice full("a", p, 5, true, kStart), eased("b", p, 5, true, kStart);
  eased.SetLoad(0.6);
  for (int64_t t = kStart; t < kStart + 2 * 3600 * kSecond; t += 60 * kSecond) {
    full.AdvanceTo(t);
    eased.AdvanceTo(t);
  }
  EXPECT_EQ(full.failures().size(), 1u);
  EXPECT_TRUE(eased.failures().empty());
  EXPECT_LT(eased.machine().damage(), 0.7);  // 2 h at load 0.6 = 0.43 h of full-load wear
}

TEST(SimulatedDevice, RejectsBadPhysics) {
  PhysicsConfig p;
  p.window = "triangle";
  EXPECT_FALSE(ValidatePhysics(p).ok());
  p = {};
  p.frame_size = 1001;
  EXPECT_FALSE(ValidatePhysics(p).ok());
  p = {};
  p.failure_modes = {"rust"};
  EXPECT_FALSE(ValidatePhysics(p).ok());
  EXPECT_TRUE(ValidatePhysics(PhysicsConfig{}).ok());
}

}  // namespace
}  // namespace aiot::sim
