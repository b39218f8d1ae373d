// The demo `scripts/run.sh` starts shows the continuous-learning loop by itself: its command
// (`aiot up --simulate 50 --set fleet.time_scale=1200 --regime "at=20h vibration_scale=1.6"`)
// with nothing of the pipeline, fleet or OTA configured — only ports, files and a small
// bootstrap — runs app::SimulateDemoDefaults: the devices activate and run the production model;
// the regime change raises a drift event; a run starts by itself (trigger drift, after the
// demo's delay, once the new regime has labelled failures, on the data since the event) and goes
// through every step: evaluate promotes the challenger, register, a
// canary, the fleet-wide rollout, the new version in production and on every device. Each
// transition is asserted in order and printed with its time after the fleet started.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/app/up_harness.h"
#include "tests/support/testing.h"

namespace {

using aiot::up_test::Child;
using aiot::up_test::FreePort;
using aiot::up_test::Shell;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kDevices = 50;  // scripts/run.sh's fleet

TEST(AiotUp, DemoDefaultsRetrainPromoteAndRollOutOnDrift) {
  if (access("/usr/bin/curl", X_OK) != 0) AIOT_SKIP_WITHOUT_PEER("curl not installed");
  auto dir = std::filesystem::temp_directory_path() / ("aiot_up_demo_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const int http_port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(http_port);
  // scripts/run.sh's default arguments, plus where it listens and keeps its files and a small
  // bootstrap (the first model; a weaker champion only makes the gate easier to judge: it is
  // scored on the same held-out rows as the challenger).
  Child up = Child::Spawn(
      {AIOT_BIN,      "up",
       "--simulate",  std::to_string(kDevices),
       "--set",       "fleet.time_scale=1200",
       "--regime",    "at=20h vibration_scale=1.6",
       "--log-level", "info",
       "--set",       "http.listen=127.0.0.1:" + std::to_string(http_port),
       "--set",       "broker.listeners=[127.0.0.1:" + std::to_string(FreePort()) + "]",
       "--set",       "registry.data_dir=" + (dir / "var").string(),
       "--set",       "store.path=" + (dir / "telemetry.db").string(),
       "--set",       "dashboard.enabled=false",
       "--set",       "bootstrap.rows=6000",
       "--set",       "bootstrap.epochs=15"},
      /*capture=*/false, (dir / "up.log").string());
  ASSERT_GT(up.pid, 0);
  auto read_log = [&] { return aiot::test_support::ReadWholeFile(dir / "up.log"); };
  ASSERT_TRUE(aiot::test_support::WaitFor(
      [&] { return read_log().find("aiot is up") != std::string::npos; }, std::chrono::seconds(300),
      std::chrono::milliseconds(100)))
      << read_log();
  const auto fleet_start = SteadyClock::now();  // the fleet starts with "aiot is up"
  auto at = [&] {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.1f s",
                  std::chrono::duration<double>(SteadyClock::now() - fleet_start).count());
    return std::string(buf);
  };
  auto say = [&](const std::string& what) {
    std::cout << "[" << at() << "] " << what << std::endl;
  };
  std::string token;
  std::getline(std::ifstream(dir / "var" / "admin.token"), token);
  ASSERT_FALSE(token.empty());
  auto get = [&](const std::string& target) {
    return Json::parse(
        Shell("curl -s -m 20 -H 'Authorization: Bearer " + token + "' " + url + target), nullptr,
        false);
  };
  auto wait = [&](auto pred, int seconds) {
    return aiot::test_support::WaitFor(pred, std::chrono::seconds(seconds),
                                       std::chrono::milliseconds(500));
  };
  // Devices on a model version: how many report `label`.
  auto devices_on = [&](const std::string& label) {
    Json devices = get("/api/v1/devices");
    int on = 0;
    if (devices.contains("devices")) {
      for (const auto& d : devices["devices"]) on += d.value("reported_model", "") == label;
    }
    return on;
  };

  // 1. The runner is on; every device activated and runs the production model.
  Json pipelines = get("/api/v1/pipelines");
  EXPECT_EQ(pipelines["runner"].value("enabled", false), true) << pipelines.dump();
  const Json production = get("/api/v1/models/fan-mlp/production");
  ASSERT_TRUE(production.contains("version")) << production.dump();
  const int champion = production["version"].get<int>();
  const std::string champion_label = "fan-mlp@" + std::to_string(champion);
  EXPECT_TRUE(wait([&] { return devices_on(champion_label) == kDevices; }, 180))
      << get("/api/v1/devices").dump(2);
  say("every device runs " + champion_label);

  EXPECT_TRUE(std::filesystem::is_directory(dir / "var" / "fleet" / "fan-0001"));

  // 2. The regime change (20 simulated hours = 60 s): a drift run starts by itself.
  Json run;
  ASSERT_TRUE(wait(
      [&] {
        Json runs = get("/api/v1/pipelines/continuous-learning/runs");
        if (!runs.contains("runs") || runs["runs"].empty()) return false;
        run = runs["runs"].back();  // the oldest: the first run of this demo
        return true;
      },
      720))
      << read_log();
  EXPECT_EQ(run.value("trigger", ""), "drift") << run.dump(2);
  const int64_t id = run.value("id", int64_t{0});
  say("run " + std::to_string(id) + " created, trigger " + run.value("trigger", ""));
  const std::string log_so_far = read_log();
  EXPECT_NE(log_so_far.find("drift event for `fan-mlp"), std::string::npos) << log_so_far;

  // 3. Step by step: evaluate promotes, register, rollout (canary, then the fleet).
  auto step_status = [&](const Json& r, const std::string& step) {
    std::string status;
    if (r.contains("steps")) {
      for (const auto& s : r["steps"]) {
        if (s.value("step", "") == step) status = s.value("status", "");
      }
    }
    return status;
  };
  auto fetch = [&] {
    run = get("/api/v1/pipelines/runs/" + std::to_string(id));
    return run.is_object();
  };
  auto finished = [&] {
    const std::string st = run.value("status", "");
    return st == "succeeded" || st == "failed" || st == "cancelled";
  };
  for (const char* step : {"extract", "validate", "drift", "train", "evaluate", "register"}) {
    ASSERT_TRUE(
        wait([&] { return fetch() && (step_status(run, step) == "succeeded" || finished()); }, 300))
        << run.dump(2);
    ASSERT_EQ(step_status(run, step), "succeeded")
        << "run " << id << " ended in " << step << ": " << run.value("reason", "") << "\n"
        << run.dump(2) << read_log();
    say(std::string(step) + " succeeded");
  }
  const Json& evaluate = run["reports"]["evaluate"];
  if (evaluate.is_object()) {
    EXPECT_TRUE(evaluate.value("promoted", false)) << evaluate.dump(2);
    say("evaluate: " + evaluate.value("reason", ""));
  }
  const Json& reg = run["reports"]["register"];
  ASSERT_TRUE(reg.is_object() && reg.contains("version")) << run.dump(2);
  const std::string challenger_label = "fan-mlp@" + std::to_string(reg["version"].get<int>());
  EXPECT_NE(challenger_label, champion_label);
  // The canary: some devices on the challenger before all of them.
  int first = 0;
  EXPECT_TRUE(wait(
      [&] {
        first = devices_on(challenger_label);
        return first > 0;
      },
      300));
  say("canary: " + std::to_string(first) + " device(s) on " + challenger_label);
  EXPECT_LT(first, kDevices) << "no canary: every device switched at once";
  EXPECT_TRUE(wait([&] { return devices_on(challenger_label) == kDevices; }, 300))
      << get("/api/v1/devices").dump(2);
  say("every device runs " + challenger_label);
  ASSERT_TRUE(wait([&] { return fetch() && finished(); }, 300)) << run.dump(2);
  EXPECT_EQ(run.value("status", ""), "succeeded") << run.dump(2);
  EXPECT_EQ(run.value("decision", ""), "completed") << run.dump(2);
  EXPECT_EQ(step_status(run, "rollout"), "succeeded") << run.dump(2);
  const Json now_production = get("/api/v1/models/fan-mlp/production");
  EXPECT_EQ("fan-mlp@" + std::to_string(now_production.value("version", 0)), challenger_label)
      << now_production.dump();
  say("run " + std::to_string(id) + " " + run.value("status", "") + " / " +
      run.value("decision", "") + "; production is " + challenger_label);

  // The transitions as the log tells them (wall-clock times).
  std::istringstream lines(read_log());
  for (std::string line; std::getline(lines, line);) {
    for (const char* what : {"regime", "drift event for", "drift run", "pipeline run"}) {
      if (line.find(what) != std::string::npos) {
        std::cout << "[log] " << line.substr(0, 300) << "\n";
        break;
      }
    }
  }
  EXPECT_EQ(up.Stop(SIGTERM), 0);
  if (HasFailure()) std::cerr << "aiot up log:\n" << read_log();
  std::filesystem::remove_all(dir);
}

}  // namespace
