#include "sim/simulated_device.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/config.h"
#include "sim/sim_config.h"

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

// An actuator eases a degrading machine; the repair puts it back in service at its duty load (1,
// or a regime change's), so the next fault wears at the nominal pace until it is eased again.
TEST(SimulatedDevice, ARepairRestoresTheDutyLoad) {
  PhysicsConfig p;
  p.fault_onset_max_s = 0;
  p.time_to_failure_s = 3600;
  p.repair_time_s = 600;
  p.recurring_faults = true;
  SimulatedDevice d("a", p, 5, true, kStart);
  d.SetLoad(0.5);
  int64_t t = kStart;
  while (d.failures().empty() && t < kStart + 24 * 3600 * kSecond) d.AdvanceTo(t += 60 * kSecond);
  ASSERT_EQ(d.failures().size(), 1u);
  EXPECT_DOUBLE_EQ(d.machine().load(), 0.5);  // down, not repaired yet
  d.AdvanceTo(t += 601 * kSecond);
  EXPECT_DOUBLE_EQ(d.machine().load(), 1.0);

  FleetConfig fc;
  fc.regime_changes = {"at=0s load=0.8"};
  auto duty = PhysicsWithRegimes(fc);
  ASSERT_TRUE(duty.ok());
  duty->fault_onset_max_s = 0;
  duty->time_to_failure_s = 600;
  duty->repair_time_s = 60;
  SimulatedDevice r("b", *duty, 5, true, kStart);
  r.AdvanceTo(kStart + kSecond);
  r.SetLoad(0.3);
  t = kStart + kSecond;
  while (r.failures().empty() && t < kStart + 24 * 3600 * kSecond) r.AdvanceTo(t += 10 * kSecond);
  r.AdvanceTo(t + 61 * kSecond);
  EXPECT_DOUBLE_EQ(r.machine().load(), 0.8);
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

// A failing machine reports its failure, then its repair once the downtime is over.
TEST(SimulatedDevice, ReportsFailuresAndRepairs) {
  PhysicsConfig p;
  p.time_to_failure_s = 600;
  p.fault_onset_max_s = 60;
  p.repair_time_s = 300;
  SimulatedDevice d("fan-0001", p, 3, true, kStart);
  std::vector<MaintenanceEvent> events;
  for (int s = 1; s <= 3 * 3600; s += 10) {
    d.Step(kStart + s * kSecond);
    for (const auto& e : d.TakeMaintenanceEvents()) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u);  // no recurring faults
  EXPECT_EQ(events[0].kind, MaintenanceEvent::Kind::kFailure);
  EXPECT_EQ(events[1].kind, MaintenanceEvent::Kind::kRepair);
  EXPECT_EQ(events[0].time_nanos, d.failures().at(0));
  EXPECT_EQ(events[1].time_nanos - events[0].time_nanos, 300 * kSecond);
  EXPECT_NE(events[0].mode, FailureMode::kNone);
  EXPECT_EQ(events[1].mode, events[0].mode);
  EXPECT_TRUE(d.TakeMaintenanceEvents().empty());
}

// A regime change at 10 min: healthy vibration x1.6, ambient 35 C (from ~25), as configured;
// the same seed replays it exactly.
TEST(SimulatedDevice, RegimeChangeShiftsReadingsDeterministically) {
  FleetConfig fc;
  fc.regime_changes = {"at=10m vibration_scale=1.6 ambient_c=35"};
  auto p = PhysicsWithRegimes(fc);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->regimes.size(), 1u);
  EXPECT_EQ(p->regimes[0].at_s, 600);
  SimulatedDevice a("fan-0001", *p, 5, false, kStart), b("fan-0001", *p, 5, false, kStart);
  double vib_before = 0, vib_after = 0, temp_before = 0, temp_after = 0;
  int n_before = 0, n_after = 0;
  for (int s = 1; s <= 3600; s += 5) {
    auto r = a.Step(kStart + s * kSecond);
    auto same = b.Step(kStart + s * kSecond);
    ASSERT_TRUE(r && same);
    ASSERT_EQ(r->vibration, same->vibration);
    ASSERT_EQ(r->temperature, same->temperature);
    if (s < 600) {
      vib_before += r->vibration, temp_before += r->temperature, ++n_before;
    } else if (s > 2400) {  // the temperature has settled (thermal time constant 300 s)
      vib_after += r->vibration, temp_after += r->temperature, ++n_after;
    }
  }
  vib_before /= n_before, vib_after /= n_after, temp_before /= n_before, temp_after /= n_after;
  EXPECT_NEAR(vib_after / vib_before, 1.6, 0.1);
  const double shift = 35 - 25;  // the spec's ambient moves by 35 - nominal 25
  EXPECT_NEAR(temp_after - temp_before, shift, 1.0);
}

TEST(SimulatedDevice, RegimeChangesAreValidatedWithTheirLine) {
  for (const char* bad : {"vibration_scale=2", "at=10m", "at=soon load=0.5", "at=1m load=2",
                          "at=1m colour=red", "at=1m load"}) {
    EXPECT_FALSE(ParseRegimeChange(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseRegimeChange("at=90s duty_cycle=0.5 sound_db=+2").ok());
  EXPECT_NE(ParseRegimeChange("at=1m colour=red").status().message().find("unknown key `colour`"),
            std::string::npos);
  FleetConfig fc;
  try {
    config::LoadYaml("devices: 3\nregime_changes:\n  - at=20m load=0.5\n  - at=10m load=0.7\n",
                     "fleet.yaml", config::DescriberFor(fc));
    FAIL() << "out-of-order regime changes accepted";
  } catch (const config::Error& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    EXPECT_EQ(e.problems()[0].key, "regime_changes");
    EXPECT_EQ(e.problems()[0].where, "fleet.yaml:3") << e.what();  // the list
    EXPECT_NE(e.problems()[0].what.find("regime change 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aiot::sim
