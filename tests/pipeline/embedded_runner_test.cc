// The embedded pipeline runner inside `aiot up` (app::Platform in process, pipeline.enabled) with
// real steps: the `aiot` binary as the step executable, a real training datastore, registry and
// API. A run forced over the HTTP API goes through every step and ends; runs started from the
// control topic by a real MQTT client (mosquitto_pub); hostile HTTP bodies and control messages
// are refused with a reason (400 / dead letter + metric) and nothing crashes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "app/platform.h"
#include "datastore/datastore.h"
#include "net/http_client.h"
#include "tests/pipeline/fan_history.h"
#include "tests/support/run.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::pipeline_test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using test_support::WaitFor;

constexpr const char* kAdmin = "embedded-runner-admin-token-0123";
constexpr const char* kOperator = "embedded-runner-operator-token-01";

// What `cmd` wrote to stdout (its stderr goes to the test's).
std::string Shell(const std::string& cmd) {
  return test_support::RunCommand(cmd, test_support::Capture::kStdout).output;
}

class EmbeddedRunnerTest : public ::testing::Test {
 protected:
  app::AppConfig Config() {
    app::AppConfig c;
    c.http.listen = "127.0.0.1:0";
    c.http.auth_tokens = {{"ada", kAdmin}, {"olga", kOperator}};
    c.http.auth_roles = {{"ada", "admin"}, {"olga", "operator"}};
    mqtt_port_ = test_support::FreePort();
    c.broker.listeners = {"127.0.0.1:" + std::to_string(mqtt_port_)};
    c.registry.data_dir = dir_.path() + "/var";
    c.registry.password_iterations = 1000;
    c.store.path = dir_.path() + "/telemetry.db";
    c.bootstrap.enabled = false;
    c.dashboard.enabled = false;
    c.threads = 2;
    c.pipeline.enabled = true;
    c.pipeline.executable = AIOT_BIN;
    c.pipeline.params = {{"recipe", "fast"}, {"canary_soak_s", "1"}};
    c.pipeline.triggers.drift.enabled = false;
    c.pipeline.kill_grace_ms = 500;
    EXPECT_TRUE(app::ResolveFields(c).ok());
    return c;
  }

  void FillDatastore(const app::AppConfig& c) {
    datastore::TrainingDatastore ds(c.registry.data_dir, c.datastore);
    ASSERT_TRUE(ds.Open().ok());
    FillFanHistory(ds, std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
  }

  Json Call(net::HttpClient& c, std::string_view method, std::string_view target, std::string body,
            int want) {
    auto r = c.Call(method, target, std::move(body));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, want) << method << " " << target << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // The run once it is no longer queued or running.
  Json WaitForEnd(net::HttpClient& c, int64_t id, std::chrono::seconds timeout) {
    Json run;
    EXPECT_TRUE(WaitFor(
        [&] {
          auto r = c.Get("/api/v1/pipelines/runs/" + std::to_string(id));
          if (!r.ok() || r->status != 200) return false;
          run = Json::parse(r->body, nullptr, false);
          const std::string st = run.value("status", "");
          return st != "queued" && st != "running";
        },
        timeout, 200ms))
        << run.dump(2);
    return run;
  }

  void Publish(const std::string& topic, const std::string& payload) {
    const std::string path = dir_.File("payload.json");
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(payload.data(), 1, payload.size(), f);
    std::fclose(f);
    Shell("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(mqtt_port_) + " -q 1 -t '" + topic +
          "' -f " + path + " 2>&1");
  }

  test_support::TempDir dir_{"aiot-embedded-runner"};
  uint16_t mqtt_port_ = 0;
};

TEST_F(EmbeddedRunnerTest, ARunForcedOverHttpRunsTheRealStepsAndEnds) {
  app::AppConfig config = Config();
  FillDatastore(config);
  app::Platform platform(config, {});
  ASSERT_TRUE(platform.Start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(platform.http_port());
  net::HttpClient admin(url, kAdmin);

  Json created = Call(admin, "POST", "/api/v1/pipelines/continuous-learning/runs",
                      R"({"params":{"seed":3,"min_rows":500}})", 201);
  ASSERT_TRUE(created["id"].is_number_integer()) << created.dump();
  const int64_t id = created["id"];
  EXPECT_EQ(created["trigger"], "api");
  // One active run per model.
  Call(admin, "POST", "/api/v1/pipelines/continuous-learning/runs", "", 409);

  Json run = WaitForEnd(admin, id, 300s);
  std::map<std::string, std::string> status;  // the last attempt of each step
  for (const auto& s : run["steps"]) status[s["step"]] = s["status"];
  for (const char* step :
       {"extract", "validate", "drift", "train", "evaluate", "quantize", "register"}) {
    EXPECT_EQ(status[step], "succeeded") << step << "\n" << run.dump(2);
  }
  // With no device the rollout cannot complete; either way the run ended with its reason.
  EXPECT_TRUE(run["status"] == "succeeded" || run["status"] == "failed") << run.dump(2);
  EXPECT_FALSE(run["reason"].get<std::string>().empty());
  EXPECT_TRUE(run["finished_ns"].get<int64_t>() > 0);
  EXPECT_EQ(run["params"]["seed"], "3");
  EXPECT_EQ(run["dag"]["steps"].size(), 8u);
  EXPECT_TRUE(std::filesystem::exists(run["run_dir"].get<std::string>() + "/challenger.tflite"));
  // The registered challenger carries the run's id as lineage.
  Json versions = Call(admin, "GET", "/api/v1/models/fan-mlp", "", 200);
  EXPECT_NE(versions.dump().find("\"pipeline_run_id\":\"" + std::to_string(id) + "\""),
            std::string::npos)
      << versions.dump();

  net::HttpClient op(url, kOperator);
  Json list = Call(op, "GET", "/api/v1/pipelines/continuous-learning/runs?limit=5", "", 200);
  ASSERT_EQ(list["runs"].size(), 1u);
  EXPECT_EQ(list["runs"][0]["id"], id);
  EXPECT_FALSE(list["runs"][0]["steps"][0].contains("log_tail"));  // lists leave logs out
  Json pipelines = Call(op, "GET", "/api/v1/pipelines", "", 200);
  EXPECT_EQ(pipelines["runner"]["enabled"], true);
  EXPECT_EQ(pipelines["pipelines"][0]["name"], "continuous-learning");
  platform.Stop();
}

TEST_F(EmbeddedRunnerTest, HostileRequestsAreRefusedWithAReason) {
  app::AppConfig config = Config();
  app::Platform platform(config, {});
  ASSERT_TRUE(platform.Start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(platform.http_port());
  net::HttpClient admin(url, kAdmin);
  net::HttpClient op(url, kOperator);
  net::HttpClient nobody(url);
  const std::string runs = "/api/v1/pipelines/continuous-learning/runs";
  struct Case {
    std::string body;
    std::string message_has;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"model":5})", "`model`"},
      {R"({"model":"pump"})", "retrains `fan-mlp`"},
      {R"({"params":{"nope":1}})", "`nope` is not a parameter"},
      {R"({"params":{"seed":{"a":1}}})", "params.seed"},
      {R"({"params":"x"})", "`params` must be an object"},
      {R"({"command":"train-model"})", "unknown member `command`"},
      {std::string("{\"params\":{\"recipe\":\"") + std::string(2000, 'a') + "\"}}", "longer than"},
  };
  for (const Case& c : cases) {
    Json j = Call(admin, "POST", runs, c.body, 400);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message_has), std::string::npos)
        << c.body.substr(0, 80) << " -> " << j.dump();
  }
  Call(admin, "POST", runs, "{\"id\":\"" + std::string(70 * 1024, 'x') + "\"}", 413);
  Call(admin, "POST", "/api/v1/pipelines/bake-bread/runs", "", 404);
  Call(op, "POST", runs, "", 403);  // starting runs is the admin's
  Call(nobody, "GET", runs, "", 401);
  Call(op, "GET", "/api/v1/pipelines/runs/abc", "", 400);
  Call(op, "GET", "/api/v1/pipelines/runs/-1", "", 400);
  Call(op, "GET", "/api/v1/pipelines/runs/99999999999999999999", "", 400);
  Call(op, "GET", "/api/v1/pipelines/runs/42", "", 404);
  Call(op, "GET", runs + "?limit=0", "", 400);
  Call(op, "GET", runs + "?status=bogus", "", 400);
  EXPECT_EQ(Call(op, "GET", runs, "", 200)["runs"].size(), 0u);  // nothing was started
  platform.Stop();
}

TEST_F(EmbeddedRunnerTest, ControlMessagesStartRunsAndBadOnesAreDeadLettered) {
  if (Shell("command -v mosquitto_pub mosquitto_sub").empty()) {
    AIOT_SKIP_WITHOUT_PEER("mosquitto clients (mosquitto_pub, mosquitto_sub) not installed");
  }
  app::AppConfig config = Config();
  FillDatastore(config);
  app::Platform platform(config, {});
  ASSERT_TRUE(platform.Start().ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(platform.http_port());
  net::HttpClient admin(url, kAdmin);

  // A device command on the control topic is the devices' business: no run, no dead letter.
  Publish("control-message", R"({"command":"download-model","payload":{"name":"fan-mlp"}})");
  // extract-data: the extract step alone, into its run directory.
  Publish("control-message", R"({"command":"extract-data","params":{"window":"2d"},"id":"c1"})");
  Json list;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = admin.Get("/api/v1/pipelines/extract-data/runs");
        if (!r.ok() || r->status != 200) return false;
        list = Json::parse(r->body, nullptr, false);
        return list.contains("runs") && !list["runs"].empty();
      },
      30s));
  const int64_t id = list["runs"][0]["id"];
  EXPECT_EQ(list["runs"][0]["trigger"], "control");
  Json run = WaitForEnd(admin, id, 120s);
  EXPECT_EQ(run["status"], "succeeded") << run.dump(2);
  ASSERT_EQ(run["steps"].size(), 1u);
  EXPECT_EQ(run["steps"][0]["step"], "extract");
  EXPECT_TRUE(std::filesystem::exists(run["run_dir"].get<std::string>() + "/data.csv"));
  EXPECT_EQ(run["params"]["window"], "2d");

  // Bad messages are dead-lettered with the reason: a subscriber sees one (published until it
  // does, since mosquitto_sub cannot say when it is subscribed).
  auto dead = std::async(std::launch::async, [this] {
    return Shell("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(mqtt_port_) +
                 " -t aiot/deadletter -C 1 -W 60 2>&1");
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        Publish("control-message", R"({"command":"format-disk"})");
        return dead.wait_for(200ms) == std::future_status::ready;
      },
      60s));
  Json letter = Json::parse(dead.get(), nullptr, false);
  EXPECT_EQ(letter["topic"], "control-message") << letter.dump();
  EXPECT_NE(letter["reason"].get<std::string>().find("unknown command `format-disk`"),
            std::string::npos)
      << letter.dump();
  for (const std::string& bad :
       {std::string("not json"), std::string(R"({"command":"train-model","params":[1]})"),
        std::string(R"({"command":"train-model","params":{"nope":"1"}})"),
        "{\"command\":\"train-model\",\"id\":\"" + std::string(70 * 1024, 'x') + "\"}"}) {
    Publish("control-message", bad);
  }
  auto metric = [&](const std::string& reason) {
    auto r = admin.Get("/metrics");
    if (!r.ok()) return false;
    return r->body.find("aiot_messages_rejected_total{component=\"pipeline-control\",reason=\"" +
                        reason + "\"}") != std::string::npos;
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        return metric("malformed") && metric("oversized") && metric("bad_field") &&
               metric("unknown_command");
      },
      30s));
  // Still alive and answering; none of them started a run.
  Json all = Call(admin, "GET", "/api/v1/pipelines/continuous-learning/runs", "", 200);
  EXPECT_EQ(all["runs"].size(), 0u);
  // train-model goes the same way as the HTTP API.
  Publish("control-message", R"({"command":"train-model","params":{"min_rows":100000}})");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = admin.Get("/api/v1/pipelines/continuous-learning/runs");
        return r.ok() && r->status == 200 && !Json::parse(r->body, nullptr, false)["runs"].empty();
      },
      30s));
  Json train = Call(admin, "GET", "/api/v1/pipelines/continuous-learning/runs", "", 200);
  const int64_t train_id = train["runs"][0]["id"];
  EXPECT_EQ(train["runs"][0]["trigger"], "control");
  // Validation refuses 100000 rows: the run fails with the reason, the champion is untouched.
  Json failed = WaitForEnd(admin, train_id, 120s);
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_NE(failed["reason"].get<std::string>().find("validate"), std::string::npos)
      << failed.dump(2);
  platform.Stop();
}

TEST_F(EmbeddedRunnerTest, DriftEventsOnTheDriftTopicStartOneRun) {
  if (Shell("command -v mosquitto_pub").empty()) {
    AIOT_SKIP_WITHOUT_PEER("mosquitto clients (mosquitto_pub) not installed");
  }
  app::AppConfig config = Config();
  config.pipeline.triggers.drift.enabled = true;
  config.pipeline.params["min_rows"] = "100000";  // the run ends at validate
  FillDatastore(config);
  app::Platform platform(config, {});
  ASSERT_TRUE(platform.Start().ok());
  net::HttpClient admin("http://127.0.0.1:" + std::to_string(platform.http_port()), kAdmin);
  auto runs = [&] {
    auto r = admin.Get("/api/v1/pipelines/continuous-learning/runs");
    return r.ok() && r->status == 200 ? Json::parse(r->body, nullptr, false)["runs"] : Json();
  };
  // The end of a drift episode and another model's drift start nothing.
  Publish("aiot/events/drift", R"({"event":"drift","drift":false,"model":"fan-mlp@1"})");
  Publish("aiot/events/drift", R"({"event":"drift","drift":true,"model":"pump@2"})");
  // A storm: one run, whatever arrives in the cooldown.
  for (int i = 0; i < 5; ++i) {
    Publish("aiot/events/drift", R"({"event":"drift","drift":true,"model":"fan-mlp@1"})");
  }
  ASSERT_TRUE(WaitFor([&] { return runs().size() == 1; }, 30s));
  Json run = WaitForEnd(admin, runs()[0]["id"], 120s);
  EXPECT_EQ(run["trigger"], "drift");
  EXPECT_EQ(run["status"], "failed") << run.dump(2);  // validate refused the rows, as configured
  Publish("aiot/events/drift", R"({"event":"drift","drift":true,"model":"fan-mlp@1"})");
  // Published after the storm and handled in order by the same subscriber: had the cooldown not
  // held, this would be the second run.
  Publish("control-message", R"({"command":"extract-data"})");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = admin.Get("/api/v1/pipelines/extract-data/runs");
        return r.ok() && r->body.find("\"control\"") != std::string::npos;
      },
      30s));
  EXPECT_EQ(runs().size(), 1u);
  platform.Stop();
}

}  // namespace
}  // namespace aiot::pipeline_test
