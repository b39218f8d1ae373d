// `kill -9` of `aiot up` (the real binary, a child process, pipeline.enabled, recipe `fast`) while
// its embedded runner is in `train` and, after a restart, in `register`. The test-only hook
// AIOT_TEST_PIPELINE_HOLD="<step>:<file>" (src/cli/pipeline_step_io.h) makes that step's child
// write <file> and wait, so the kill lands in the step deterministically. After each restart the
// run is resumed from its last finished step (the killed step is re-run as its next attempt); at
// the end the registry holds exactly the one model the run registered, every version has its
// artifact and no artifact file is an orphan; a new run can start.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "datastore/datastore.h"
#include "net/http_client.h"
#include "tests/app/up_harness.h"
#include "tests/pipeline/fan_history.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::pipeline_crash_test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using test_support::ReadWholeFile;
using test_support::WaitFor;
namespace fs = std::filesystem;

class PipelineUpCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_port_ = test_support::FreePort();
    const uint16_t mqtt_port = test_support::FreePort();
    var_ = dir_.path() + "/var";
    config_ = dir_.File("aiot.yaml");
    std::ofstream(config_) << "http:\n  listen: 127.0.0.1:" << http_port_
                           << "\nbroker:\n  listeners: [127.0.0.1:" << mqtt_port
                           << "]\nregistry:\n  data_dir: " << var_
                           << "\n  password_iterations: 1000\nstore:\n  path: " << dir_.path()
                           << "/telemetry.db\nbootstrap:\n  enabled: false\n"
                           << "dashboard:\n  enabled: false\n"
                           << "pipeline:\n  enabled: true\n  kill_grace_ms: 500\n"
                           << "  params: {recipe: fast, min_rows: \"500\", canary_soak_s: \"1\"}\n"
                           << "  triggers:\n    drift:\n      enabled: false\n";
    datastore::TrainingDatastore ds(var_, datastore::DatastoreConfig{});
    ASSERT_TRUE(ds.Open().ok());
    pipeline_test::FillFanHistory(ds, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }

  void TearDown() override {
    if (up_.pid > 0) up_.Stop(SIGKILL);
  }

  // Starts `aiot up`; `hold` = "<step>:<file>" or empty. Waits until it is up.
  void Start(const std::string& hold) {
    ++starts_;
    log_ = dir_.File("up" + std::to_string(starts_) + ".log");
    std::vector<std::string> argv = {"env"};
    if (!hold.empty()) argv.push_back("AIOT_TEST_PIPELINE_HOLD=" + hold);
    for (std::string a : {std::string(AIOT_BIN), std::string("--config"), config_,
                          std::string("up"), std::string("--log-level"), std::string("info")}) {
      argv.push_back(a);
    }
    up_ = up_test::Child::Spawn(argv, /*capture=*/false, log_);
    ASSERT_GT(up_.pid, 0);
    ASSERT_TRUE(WaitFor([&] { return ReadWholeFile(log_).find("aiot is up") != std::string::npos; },
                        180s, 100ms))
        << ReadWholeFile(log_);
    std::string token;
    std::getline(std::ifstream(var_ + "/admin.token"), token);
    ASSERT_FALSE(token.empty());
    api_ =
        std::make_unique<net::HttpClient>("http://127.0.0.1:" + std::to_string(http_port_), token);
  }

  Json Get(const std::string& target) {
    auto r = api_->Get(target);
    if (!r.ok() || r->status != 200) return Json();
    return Json::parse(r->body, nullptr, false);
  }

  // Waits until `file` (a held step's pid) exists, then checks that the run's last attempt is
  // that step, running; kills `aiot up` with SIGKILL and waits until the held step died with it.
  void KillWhileHeldIn(int64_t run_id, const std::string& step, const std::string& file) {
    ASSERT_TRUE(WaitFor([&] { return fs::exists(file); }, 300s, 50ms))
        << "the run never reached " << step << "\n"
        << Get("/api/v1/pipelines/runs/" + std::to_string(run_id)).dump(2) << ReadWholeFile(log_);
    Json run = Get("/api/v1/pipelines/runs/" + std::to_string(run_id));
    ASSERT_FALSE(run["steps"].empty()) << run.dump(2);
    EXPECT_EQ(run["steps"].back()["step"], step) << run.dump(2);
    EXPECT_EQ(run["steps"].back()["status"], "running") << run.dump(2);
    const pid_t step_pid = std::stoi(ReadWholeFile(file));
    EXPECT_EQ(up_.Stop(SIGKILL), 128 + SIGKILL);
    // PR_SET_PDEATHSIG: the step does not outlive the runner.
    EXPECT_TRUE(WaitFor([&] { return ::kill(step_pid, 0) != 0; }, 30s, 20ms));
    fs::remove(file);
  }

  // The attempts of the run as "step#attempt status".
  static std::vector<std::string> Attempts(const Json& run) {
    std::vector<std::string> out;
    for (const auto& s : run["steps"]) {
      out.push_back(s["step"].get<std::string>() + "#" + std::to_string(s["attempt"].get<int>()) +
                    " " + s["status"].get<std::string>());
    }
    return out;
  }

  test_support::TempDir dir_{"aiot-pipeline-up-crash"};
  uint16_t http_port_ = 0;
  std::string var_, config_, log_;
  int starts_ = 0;
  up_test::Child up_;
  std::unique_ptr<net::HttpClient> api_;
};

TEST_F(PipelineUpCrashTest, KillNineInTrainAndInRegisterLeavesNoPartialModelAndTheRunResumes) {
  const std::string held_train = dir_.File("held-train");
  const std::string held_register = dir_.File("held-register");
  ASSERT_NO_FATAL_FAILURE(Start("train:" + held_train));
  auto created = api_->Call("POST", "/api/v1/pipelines/continuous-learning/runs", "{}");
  ASSERT_TRUE(created.ok() && created->status == 201) << (created.ok() ? created->body : "");
  const int64_t id = Json::parse(created->body)["id"];
  ASSERT_NO_FATAL_FAILURE(KillWhileHeldIn(id, "train", held_train));

  // Restart: recovery resumes the run (train has a retry); this time it is held in register.
  ASSERT_NO_FATAL_FAILURE(Start("register:" + held_register));
  EXPECT_NE(ReadWholeFile(log_).find("pipeline run " + std::to_string(id) +
                                     " (fan-mlp) resumes: interrupted in step train"),
            std::string::npos)
      << ReadWholeFile(log_);
  ASSERT_NO_FATAL_FAILURE(KillWhileHeldIn(id, "register", held_register));

  // Restart without a hold: the run resumes at register and ends.
  ASSERT_NO_FATAL_FAILURE(Start(""));
  EXPECT_NE(ReadWholeFile(log_).find("pipeline run " + std::to_string(id) +
                                     " (fan-mlp) resumes: interrupted in step register"),
            std::string::npos)
      << ReadWholeFile(log_);
  Json run;
  ASSERT_TRUE(WaitFor(
      [&] {
        run = Get("/api/v1/pipelines/runs/" + std::to_string(id));
        const std::string st = run.value("status", "");
        return !st.empty() && st != "queued" && st != "running";
      },
      300s, 200ms))
      << run.dump(2);
  const std::vector<std::string> attempts = Attempts(run);
  auto has = [&](const std::string& a) {
    return std::find(attempts.begin(), attempts.end(), a) != attempts.end();
  };
  EXPECT_TRUE(has("train#1 interrupted")) << run.dump(2);
  EXPECT_TRUE(has("train#2 succeeded")) << run.dump(2);
  EXPECT_TRUE(has("register#1 interrupted")) << run.dump(2);
  EXPECT_TRUE(has("register#2 succeeded")) << run.dump(2);
  // With no device the rollout cannot complete; the run ends with its reason either way.
  EXPECT_FALSE(run["reason"].get<std::string>().empty()) << run.dump(2);

  // The registry: one version, registered by this run, with its artifact; no orphan file.
  Json models = Get("/api/v1/models/fan-mlp");
  ASSERT_TRUE(models.contains("versions")) << models.dump(2);
  std::set<std::string> shas;
  int from_run = 0;
  for (const auto& v : models["versions"]) {
    from_run +=
        v.dump().find("\"pipeline_run_id\":\"" + std::to_string(id) + "\"") != std::string::npos;
    shas.insert(v["sha256"].get<std::string>());
    auto artifact = api_->Get("/api/v1/models/fan-mlp/versions/" +
                              std::to_string(v["version"].get<int>()) + "/artifact");
    ASSERT_TRUE(artifact.ok());
    EXPECT_EQ(artifact->status, 200) << v.dump();
    EXPECT_FALSE(artifact->body.empty());
  }
  EXPECT_EQ(from_run, 1) << models.dump(2);
  EXPECT_EQ(models["versions"].size(), 1u) << models.dump(2);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(var_ + "/artifacts")) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.find('.') == std::string::npos) files.insert(name);
  }
  EXPECT_EQ(files, shas);
  if (fs::exists(var_ + "/artifacts/tmp")) {
    EXPECT_TRUE(fs::is_empty(var_ + "/artifacts/tmp"));
  }

  // The model has no active run any more: a new one can start.
  auto again = api_->Call("POST", "/api/v1/pipelines/continuous-learning/runs",
                          R"({"params":{"min_rows":100000}})");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 201) << again->body;
  up_.Stop(SIGTERM);
}

}  // namespace
}  // namespace aiot::pipeline_crash_test
