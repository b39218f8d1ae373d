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
  ASSERT_GE(e["features_drifted"].size(), 1u);
  bool vibration = false;
  for (const auto& f : e["features_drifted"]) {
    if (f["name"] != "vibration") continue;
    vibration = true;
    EXPECT_GT(f["window_mean"].get<double>(), f["reference_mean"].get<double>() * 1.1);
    EXPECT_TRUE(f["psi"].get<double>() >= 0.25 || f["ks_p_value"].get<double>() < 0.00025);
  }
  EXPECT_TRUE(vibration) << e.dump();
  const std::string message = e["message"];
  EXPECT_NE(message.find("vibration"), std::string::npos) << message;
  EXPECT_NE(message.find("1000 readings"), std::string::npos) << message;
}

}  // namespace
}  // namespace aiot::services
