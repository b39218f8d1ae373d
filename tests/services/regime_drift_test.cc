// Drift that means something, on a simulated fleet: the live reference (the fleet's own first
// readings) keeps a healthy fleet quiet for a stated period; a regime change (healthy vibration
// x1.6, a new machine type) raises one drift event naming vibration, with its statistic,
// threshold and window.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "base/clock.h"
#include "services/test_models.h"
#include "services/tflite_model.h"
#include "sim/simulated_device.h"
#include "tests/support/temp_dir.h"

namespace aiot::services {
namespace {

constexpr int64_t kStart = 1'795'341'600'000'000'000;  // 2026-11-22T10:00:00Z
constexpr int64_t kSecond = 1'000'000'000;

TEST(RegimeDriftTest, HealthyFleetIsQuietAndARegimeChangeDrifts) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/m.tflite";
  ASSERT_TRUE(testing::WriteFanTflite(path, "fan-mlp").ok());
  auto model = LoadTfliteModel({path, "fan-mlp@1", ""});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  DriftConfig dc;  // the defaults: live reference of 1000 readings, window 1000
  dc.check_every = 250;
  ManualClock clock(kStart);
  auto watch = MakeTfliteDriftWatch(dc, clock)(**model);
  ASSERT_NE(watch, nullptr);

  // Ten healthy machines, one reading per simulated second each; at 40 min a new regime.
  sim::FleetConfig fc;
  fc.regime_changes = {"at=40m vibration_scale=1.6"};
  auto physics = sim::PhysicsWithRegimes(fc);
  ASSERT_TRUE(physics.ok());
  physics->frame_size = 512;
  std::mt19937_64 seeder(2026);
  std::vector<std::unique_ptr<sim::SimulatedDevice>> fleet;
  for (int i = 0; i < 10; ++i) {
    fleet.push_back(std::make_unique<sim::SimulatedDevice>("fan-" + std::to_string(i), *physics,
                                                           seeder(), false, kStart));
  }
  std::vector<nlohmann::json> events;
  std::vector<int64_t> event_times;
  uint64_t observed = 0;
  for (int s = 1; s <= 50 * 60; ++s) {
    const int64_t now = kStart + s * kSecond;
    clock.Set(now);
    for (auto& d : fleet) {
      auto r = d->Step(now);
      ASSERT_TRUE(r.has_value());
      const float row[] = {static_cast<float>(r->rotation), static_cast<float>(r->temperature),
                           static_cast<float>(r->vibration), static_cast<float>(r->sound)};
      watch->Observe(row, 4);
      if (++observed % dc.check_every == 0) {
        if (std::string e = watch->Check(); !e.empty()) {
          events.push_back(nlohmann::json::parse(e));
          event_times.push_back(now);
        }
      }
    }
  }
  // 40 simulated minutes of a healthy fleet (24,000 readings, 96 checks): no event. Then one,
  // within two simulated minutes of the change.
  ASSERT_EQ(events.size(), 1u) << nlohmann::json(events).dump();
  const int64_t change = kStart + 40 * 60 * kSecond;
  EXPECT_GT(event_times[0], change);
  EXPECT_LE(event_times[0], change + 120 * kSecond);
  const nlohmann::json& e = events[0];
  EXPECT_EQ(e["drift"], true);
  EXPECT_EQ(e["level"], "warning");
  EXPECT_EQ(e["reference"]["kind"], "live");
  EXPECT_EQ(e["reference"]["rows"], 1000);
  EXPECT_EQ(e["window"]["samples"], 1000);
  EXPECT_EQ(e["thresholds"]["psi"], 0.25);
  EXPECT_DOUBLE_EQ(e["thresholds"]["ks_alpha_per_feature"].get<double>(), 0.001 / 4);
  EXPECT_DOUBLE_EQ(e["thresholds"]["ks_min_statistic"].get<double>(), 0.25);
  ASSERT_GE(e["features_drifted"].size(), 1u);
  bool vibration = false;
  for (const auto& f : e["features_drifted"]) {
    if (f["name"] != "vibration") continue;
    vibration = true;
    EXPECT_GT(f["window_mean"].get<double>(), f["reference_mean"].get<double>() * 1.1);
    EXPECT_TRUE(f["psi"].get<double>() >= 0.25 || (f["ks_p_value"].get<double>() < 0.00025 &&
                                                   f["ks_statistic"].get<double>() >= 0.25));
  }
  EXPECT_TRUE(vibration) << e.dump();
  const std::string message = e["message"];
  EXPECT_NE(message.find("vibration"), std::string::npos) << message;
  EXPECT_NE(message.find("1000 readings"), std::string::npos) << message;
}

// A fleet like `aiot up --simulate`'s with machines that keep failing (the loop test's: six
// machines, two of them wearing out and failing every ~12 wall seconds, a reading every 150
// simulated seconds): the events of the predictor's drift monitor on the healthy fleet and after
// a regime change at `change_h` simulated hours, for a drift configuration.
struct FleetRun {
  std::vector<nlohmann::json> events;
  std::vector<double> event_hours;
};
FleetRun RunFailingFleet(const DriftConfig& dc, double hours, double change_h) {
  FleetRun out;
  test_support::TempDir dir;
  const std::string path = dir.path() + "/m.tflite";
  EXPECT_TRUE(testing::WriteFanTflite(path, "fan-mlp").ok());
  auto model = LoadTfliteModel({path, "fan-mlp@1", ""});
  EXPECT_TRUE(model.ok());
  if (!model.ok()) return out;
  ManualClock clock(kStart);
  auto watch = MakeTfliteDriftWatch(dc, clock)(**model);
  EXPECT_NE(watch, nullptr);
  if (!watch) return out;
  sim::FleetConfig fc;
  fc.regime_changes = {"at=" + std::to_string(static_cast<int>(change_h * 3600)) +
                       " vibration_scale=1.6"};
  auto physics = sim::PhysicsWithRegimes(fc);
  EXPECT_TRUE(physics.ok());
  physics->frame_size = 512;
  physics->recurring_faults = true;
  physics->time_to_failure_s = 3 * 3600;
  physics->fault_onset_max_s = 3600;
  physics->repair_time_s = 1800;
  std::mt19937_64 seeder(2026);
  std::vector<std::unique_ptr<sim::SimulatedDevice>> fleet;
  for (int i = 0; i < 6; ++i) {
    fleet.push_back(std::make_unique<sim::SimulatedDevice>("fan-" + std::to_string(i), *physics,
                                                           seeder(), i < 2, kStart));
  }
  uint64_t observed = 0;
  for (int64_t t = 150; t <= static_cast<int64_t>(hours * 3600); t += 150) {
    const int64_t now = kStart + t * kSecond;
    clock.Set(now);
    for (auto& d : fleet) {
      auto r = d->Step(now);
      if (!r) continue;  // down for repair
      const float row[] = {static_cast<float>(r->rotation), static_cast<float>(r->temperature),
                           static_cast<float>(r->vibration), static_cast<float>(r->sound)};
      watch->Observe(row, 4);
      if (++observed % dc.check_every == 0) {
        if (std::string e = watch->Check(); !e.empty()) {
          out.events.push_back(nlohmann::json::parse(e));
          out.event_hours.push_back(static_cast<double>(t) / 3600);
        }
      }
    }
  }
  return out;
}

// The defaults (KS needs D >= 0.25 besides p < 0.001 / 4): 100 simulated hours of the failing
// fleet (~14,000 readings, ~95 checks) raise no event; the regime change then raises one, naming
// vibration, within ~1000 readings (the window).
TEST(RegimeDriftTest, FailingFleetIsQuietAtTheDefaultsAndARegimeChangeDrifts) {
  DriftConfig dc;
  dc.check_every = 150;
  const FleetRun run = RunFailingFleet(dc, 140, 100);
  ASSERT_GE(run.events.size(), 1u);
  EXPECT_GT(run.event_hours[0], 100) << run.events[0].dump();
  EXPECT_LT(run.event_hours[0], 100 + 1000.0 / 6 * 150 / 3600) << run.events[0].dump();
  EXPECT_EQ(run.events[0]["drift"], true);
  EXPECT_NE(run.events[0]["message"].get<std::string>().find("vibration"), std::string::npos)
      << run.events[0].dump();
  for (size_t i = 1; i < run.events.size(); ++i) {
    EXPECT_GT(run.event_hours[i], 100) << run.events[i].dump();
  }
}

// What the effect-size threshold fixes: on the same healthy fleet the p-value alone (D >= 0)
// calls drift long before any change.
TEST(RegimeDriftTest, PValueAloneCallsTheFailingFleetDrifted) {
  DriftConfig dc;
  dc.check_every = 150;
  dc.ks_min_statistic = 0;
  const FleetRun run = RunFailingFleet(dc, 100, 1000);
  ASSERT_GE(run.events.size(), 1u);
  EXPECT_EQ(run.events[0]["drift"], true);
  EXPECT_LT(run.event_hours[0], 100);
}

// `aiot up --simulate 50` at an hour per wall minute (scripts/run.sh before the demo's defaults):
// 50 machines, a fifth of them wearing out to failure with no protection (default physics:
// faults of 6 h +-30 % starting within 2 h, repaired after an hour, not recurring), a reading per
// machine every simulated minute, the drift monitor's defaults (a live reference of 1000
// readings, windows of 1000 checked every 1000). A slow, real shift of the fleet's vibration
// (measured: D up to 0.202 on vibration, which the former default 0.2 called drift) — at the
// default 0.25 no event over the first six simulated hours. Then healthy vibration x1.6: drift
// within one window, and a window of only the new regime has D >= 0.94 on vibration.
TEST(RegimeDriftTest, WearingFleetIsQuietAtTheDefaults) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/m.tflite";
  ASSERT_TRUE(testing::WriteFanTflite(path, "fan-mlp").ok());
  auto model = LoadTfliteModel({path, "fan-mlp@1", ""});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const DriftConfig dc;  // the defaults
  EXPECT_DOUBLE_EQ(dc.ks_min_statistic, 0.25);
  ManualClock clock(kStart);
  auto watch = MakeTfliteDriftWatch(dc, clock)(**model);
  // The same readings, checked once: when the window holds only the new regime.
  auto full = MakeTfliteDriftWatch(dc, clock)(**model);
  ASSERT_NE(watch, nullptr);
  ASSERT_NE(full, nullptr);
  constexpr int kMachines = 50;
  constexpr int64_t kChangeS = 6 * 3600;
  sim::FleetConfig fc;
  fc.regime_changes = {"at=" + std::to_string(kChangeS) + " vibration_scale=1.6"};
  auto physics = sim::PhysicsWithRegimes(fc);
  ASSERT_TRUE(physics.ok());
  physics->frame_size = 512;
  std::mt19937_64 seeder(2026);
  std::vector<std::unique_ptr<sim::SimulatedDevice>> fleet;
  for (int i = 0; i < kMachines; ++i) {
    fleet.push_back(std::make_unique<sim::SimulatedDevice>("fan-" + std::to_string(i), *physics,
                                                           seeder(), i % 5 == 0, kStart));
  }
  std::vector<nlohmann::json> events;
  std::vector<int64_t> event_s;
  nlohmann::json full_event;
  uint64_t observed = 0, after_change = 0;
  for (int64_t t = 60; t <= kChangeS + 3600; t += 60) {
    clock.Set(kStart + t * kSecond);
    for (auto& d : fleet) {
      auto r = d->Step(kStart + t * kSecond);
      if (!r) continue;  // down for repair
      const float row[] = {static_cast<float>(r->rotation), static_cast<float>(r->temperature),
                           static_cast<float>(r->vibration), static_cast<float>(r->sound)};
      watch->Observe(row, 4);
      full->Observe(row, 4);
      if (++observed % dc.check_every == 0) {
        if (std::string e = watch->Check(); !e.empty()) {
          events.push_back(nlohmann::json::parse(e));
          event_s.push_back(t);
        }
      }
      if (t > kChangeS && ++after_change == dc.window) {
        std::string e = full->Check();
        ASSERT_FALSE(e.empty()) << "no drift on a window of the new regime";
        full_event = nlohmann::json::parse(e);
      }
    }
  }
  ASSERT_GE(events.size(), 1u);
  EXPECT_GT(event_s[0], kChangeS) << "false drift before the change: " << events[0].dump();
  // Within one window (1000 readings = 20 simulated minutes) and one check after the change.
  EXPECT_LE(event_s[0], kChangeS + 2 * 1200) << events[0].dump();
  EXPECT_NE(events[0]["message"].get<std::string>().find("vibration"), std::string::npos)
      << events[0].dump();
  ASSERT_TRUE(full_event.is_object());
  bool vibration = false;
  for (const auto& f : full_event["report"]["features"]) {
    if (f["name"] != "vibration") continue;
    vibration = true;
    EXPECT_GE(f["ks_statistic"].get<double>(), 0.94) << full_event.dump();
    EXPECT_TRUE(f["ks_drift"].get<bool>()) << full_event.dump();
  }
  EXPECT_TRUE(vibration) << full_event.dump();
}

}  // namespace
}  // namespace aiot::services
