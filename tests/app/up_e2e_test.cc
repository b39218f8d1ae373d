// `aiot up --simulate`: a fleet with failing machines -> anomalies on fan/anomaly -> a critical
// alert -> the control command reaches the device -> the actuator state shows in its status.
// Everything runs in the real binary; the observer is Debian's mosquitto_sub on aiot's own broker.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/app/up_harness.h"
#include "tests/support/testing.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

using aiot::up_test::Child;
using aiot::up_test::FreePort;
using aiot::up_test::Shell;

TEST(AiotUp, FailingMachineIsAlertedSlowedAndReportsItsActuator) {
  if (access("/usr/bin/mosquitto_sub", X_OK) != 0) {
    AIOT_SKIP_WITHOUT_PEER("mosquitto_sub not installed (scripts/setup.sh --test installs it)");
  }
  auto dir = std::filesystem::temp_directory_path() / ("aiot_up_e2e_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int http_port = FreePort();
  int mqtt_port = FreePort();
  std::string source_dir = std::getenv("AIOT_SOURCE_DIR") ? std::getenv("AIOT_SOURCE_DIR") : ".";

  // Every device fails; an hour of machine life passes each second, so faults start within ~2 s
  // and machines fail within seconds of that. The predictor's command asks for load 0.3, which the
  // device's own protection (0.5) would never choose, so the status proves the command arrived.
  Child up = Child::Spawn(
      {AIOT_BIN,      "up",
       "--simulate",  "4",
       "--log-level", "info",
       "--set",       "http.listen=127.0.0.1:" + std::to_string(http_port),
       "--set",       "broker.listeners=[127.0.0.1:" + std::to_string(mqtt_port) + "]",
       "--set",       "registry.data_dir=" + (dir / "var").string(),
       "--set",       "store.path=" + (dir / "telemetry.db").string(),
       "--set",       "dashboard.web_root=" + source_dir + "/web",
       "--set",       "bootstrap.rows=6000",
       "--set",       "bootstrap.epochs=15",
       "--set",       "fleet.faulty_fraction=1",
       "--set",       "fleet.time_scale=3600",
       "--set",       "fleet.rate=4",
       "--set",       "fleet.physics.frame_size=1024",
       "--set",       "predictor.actuation.payload={\"actuator\":\"valve\",\"load\":0.3}"},
      /*capture=*/false, (dir / "up.log").string());
  ASSERT_GT(up.pid, 0);
  auto ReadLog = [&] { return aiot::test_support::ReadWholeFile(dir / "up.log"); };
  bool ready = false;
  for (int i = 0; i < 1800 && !ready; ++i) {  // bootstrap training on a loaded machine: <= 180 s
    ready = ReadLog().find("aiot is up") != std::string::npos;
    if (!ready) usleep(100 * 1000);
  }
  ASSERT_TRUE(ready) << "aiot up did not come up:\n" << ReadLog();
  std::string line;

  // First start: the bootstrap shows its progress, training included, on the terminal.
  {
    std::string log = ReadLog();
    EXPECT_NE(log.find("bootstrap: epoch 15/15"), std::string::npos) << log;
    EXPECT_NE(log.find("promoted it to production"), std::string::npos) << log;
  }
  // No default password: an admin token was generated (private file), the log points at it, the
  // registry refuses requests without it and the CLI finds it through --token-file.
  {
    auto token_file = dir / "var" / "admin.token";
    struct stat st {};
    ASSERT_EQ(stat(token_file.c_str(), &st), 0) << "no admin token file";
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string token;
    std::getline(std::ifstream(token_file), token);
    EXPECT_GE(token.size(), 32u);
    EXPECT_NE(ReadLog().find("#token=" + token), std::string::npos) << "no dashboard sign-in link";
    std::string url = "http://127.0.0.1:" + std::to_string(http_port);
    EXPECT_EQ(Shell("curl -s -o /dev/null -w '%{http_code}' " + url + "/api/v1/models"), "401");
    EXPECT_EQ(Shell("curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer " + token +
                    "' " + url + "/api/v1/models"),
              "200");
    std::string listed = Shell(std::string(AIOT_BIN) + " models list --url " + url +
                               " --token-file " + token_file.string() + " 2>&1");
    EXPECT_NE(listed.find("production"), std::string::npos) << listed;
    // The fleet view shows each device's reported status (the devices run no model of their own:
    // "model": null), not only its telemetry.
    size_t online = 0;
    std::string fleet;
    for (int i = 0; i < 300 && online < 4; ++i) {
      fleet = Shell("curl -s " + url + "/api/v1/fleet");
      auto j = nlohmann::json::parse(fleet, nullptr, false);
      online = 0;
      if (j.is_object() && j.contains("devices") && j["devices"].is_array()) {
        for (const auto& d : j["devices"]) online += d.value("online", nlohmann::json()) == true;
      }
      if (online < 4) usleep(100 * 1000);
    }
    EXPECT_EQ(online, 4u) << fleet;
  }

  Child sub = Child::Spawn(
      {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(mqtt_port), "-V", "mqttv5", "-v",
       "-t", "fan/anomaly", "-t", "aiot/alerts", "-t", "fan/control/+", "-t", "fan/status/+"},
      /*capture=*/true);
  ASSERT_GT(sub.pid, 0);

  size_t anomalies = 0;
  std::set<std::string> alerted, commanded;
  std::string slowed;  // a device whose status shows the commanded actuator load after its alert
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (slowed.empty() && std::chrono::steady_clock::now() < deadline) {
    if (!sub.ReadLine(&line, 5000)) continue;
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    std::string topic = line.substr(0, space);
    auto j = nlohmann::json::parse(line.substr(space + 1), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) continue;
    if (topic == "fan/anomaly") {
      ++anomalies;
      EXPECT_TRUE(j.contains("score") && j.contains("level") && j.contains("model")) << line;
    } else if (topic == "aiot/alerts") {
      if (j.value("level", "") == "critical") alerted.insert(j.value("deviceID", ""));
    } else if (topic.rfind("fan/control/", 0) == 0) {
      std::string id = topic.substr(12);
      if (j.value("command", "") == "set-actuator" && alerted.count(id)) commanded.insert(id);
    } else if (topic.rfind("fan/status/", 0) == 0) {
      std::string id = topic.substr(11);
      if (commanded.count(id) && j.contains("actuator") && j["actuator"].is_object()) {
        double load = j["actuator"].value("load", 1.0);
        if (load > 0.29 && load < 0.31) slowed = id;
      }
    }
  }
  sub.Stop(SIGTERM);
  int code = up.Stop(SIGINT);  // Ctrl-C
  EXPECT_GT(anomalies, 0u) << "no scored telemetry on fan/anomaly";
  EXPECT_FALSE(alerted.empty()) << "no critical alert on aiot/alerts";
  EXPECT_FALSE(commanded.empty()) << "no set-actuator command after an alert";
  EXPECT_FALSE(slowed.empty()) << "no device status showing the commanded actuator load";
  EXPECT_EQ(code, 0) << "aiot up did not exit cleanly on SIGINT (Ctrl-C)";
  if (HasFailure()) std::cerr << "aiot up log:\n" << ReadLog();
  std::filesystem::remove_all(dir);
}

// kill -9 of the platform while a model upload is on the wire: after a restart on the same data
// directory nothing of it is registered or left on disk, and the same upload then succeeds. Then
// the rollout CLI (start, status, abort) drives a rollout of it on the restarted platform.
TEST(AiotUp, KillDuringAModelUploadLeavesAConsistentRegistry) {
  if (Shell("command -v curl >/dev/null && echo yes") != "yes\n") {
    AIOT_SKIP_WITHOUT_PEER("curl not installed (scripts/setup.sh --test installs it)");
  }
  auto dir = std::filesystem::temp_directory_path() / ("aiot_up_kill_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int http_port = FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(http_port);
  auto start = [&](const std::string& log) {
    return Child::Spawn(
        {AIOT_BIN, "up", "--log-level", "info", "--set",
         "http.listen=127.0.0.1:" + std::to_string(http_port), "--set",
         "broker.listeners=[127.0.0.1:" + std::to_string(FreePort()) + "]", "--set",
         "registry.data_dir=" + (dir / "var").string(), "--set",
         "store.path=" + (dir / "telemetry.db").string(), "--set", "bootstrap.enabled=false"},
        /*capture=*/false, (dir / log).string());
  };
  auto wait_up = [&](const std::string& log) {
    for (int i = 0; i < 600; ++i) {
      std::ifstream in(dir / log);
      if (std::string(std::istreambuf_iterator<char>(in), {}).find("aiot is up") !=
          std::string::npos)
        return true;
      usleep(100 * 1000);
    }
    return false;
  };
  // 512 KiB of artifact, sent at 64 KiB/s: the upload takes ~8 s, the kill comes after ~1.5 s.
  const auto artifact = dir / "model.bin";
  Shell("head -c 524288 /dev/urandom > " + artifact.string());
  Child up = start("up1.log");
  ASSERT_TRUE(wait_up("up1.log")) << "aiot up did not come up";
  std::string token;
  std::getline(std::ifstream(dir / "var" / "admin.token"), token);
  ASSERT_FALSE(token.empty());
  const std::string auth = " -H 'Authorization: Bearer " + token + "' ";
  const std::string push = "curl -s -o /dev/null -w '%{http_code}' -X POST" + auth +
                           "-H 'Content-Type: application/octet-stream' --data-binary @" +
                           artifact.string() + " " + url + "/api/v1/models/crash-model/versions";
  Child upload = Child::Spawn({"sh", "-c", push + " --limit-rate 64k; echo"}, /*capture=*/true);
  usleep(1500 * 1000);
  EXPECT_EQ(up.Stop(SIGKILL), 128 + SIGKILL);
  std::string upload_status;
  ASSERT_TRUE(upload.ReadLine(&upload_status, 30000));
  EXPECT_EQ(upload_status, "000") << "the upload was not cut off by the kill";
  upload.Stop(SIGTERM);

  Child again = start("up2.log");
  ASSERT_TRUE(wait_up("up2.log")) << "aiot up did not come up again on the same data directory";
  EXPECT_EQ(Shell("curl -s -o /dev/null -w '%{http_code}'" + auth + url +
                  "/api/v1/models/crash-model/versions/1"),
            "404")
      << "a half-uploaded model is registered";
  size_t leftovers = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "var")) {
    if (e.is_regular_file() && e.path().string().find("artifacts") != std::string::npos) {
      ++leftovers;
      ADD_FAILURE() << "left on disk: " << e.path();
    }
  }
  EXPECT_EQ(leftovers, 0u);
  EXPECT_EQ(Shell(push), "201") << "the same upload after the restart";
  std::string sha = Shell("sha256sum " + artifact.string() + " | cut -c1-64");
  std::string served =
      Shell("curl -s" + auth + url +
            "/api/v1/models/crash-model/versions/1/artifact | sha256sum | cut -c1-64");
  EXPECT_EQ(served, sha) << "the registered artifact is not the uploaded one";

  // The rollout CLI against the same platform: start (to a provisioned device), status, abort.
  const std::string cli = std::string(AIOT_BIN) + " --log-level warn ";
  const std::string api =
      " --url " + url + " --token-file " + (dir / "var" / "admin.token").string();
  std::string provisioned = Shell(cli + "devices provision fan-cli-1 --label site:north" + api);
  EXPECT_NE(provisioned.find("fan-cli-1"), std::string::npos) << provisioned;
  auto started = nlohmann::json::parse(
      Shell(cli + "rollout start --model crash-model --version 1 --device fan-cli-1 --json" + api),
      nullptr, false);
  ASSERT_TRUE(started.is_object() && started.contains("id")) << started;
  const std::string id = started["id"].get<std::string>();
  auto status =
      nlohmann::json::parse(Shell(cli + "rollout status " + id + " --json" + api), nullptr, false);
  ASSERT_TRUE(status.is_object()) << status;
  EXPECT_EQ(status.value("id", ""), id);
  EXPECT_NE(status.value("state", ""), "aborted");
  std::string aborted = Shell(cli + "rollout abort " + id + api);
  EXPECT_NE(aborted.find("aborted"), std::string::npos) << aborted;
  auto listed = nlohmann::json::parse(Shell(cli + "rollout status --json" + api), nullptr, false);
  ASSERT_TRUE(listed.contains("rollouts") && listed["rollouts"].size() == 1u) << listed;
  EXPECT_EQ(listed["rollouts"][0].value("state", ""), "aborted");
  EXPECT_EQ(again.Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
