// `aiot up`'s composition (app::Platform, in process): promoting a model version through the
// registry's HTTP API publishes aiot/events/model, and the running predictor hot-swaps to it —
// its scoring results name the new version. A registry rollback swaps it back; promoting another
// model name leaves the predictor alone. Also: rollouts survive a restart of the platform.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "app/platform.h"
#include "ml/data/csv.h"
#include "ml/data/dataset.h"
#include "ml/train/pipeline.h"
#include "mqtt/client/test_util.h"
#include "net/http_client.h"
#include "sim/history.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::platform_test {
namespace {

using Json = nlohmann::json;
using aiot::test_support::WaitFor;

constexpr const char* kToken = "model-events-operator-token-0123";

// A small int8 model trained on simulated history, as `aiot up` bootstraps one.
std::string TrainSmallModel(uint64_t seed) {
  sim::HistoryConfig history;
  history.rows = 6000;
  history.faulty_fraction = 1;
  history.seed = seed;
  std::ostringstream csv;
  EXPECT_TRUE(sim::WriteHistoryCsv(history, csv).ok());
  auto table = ml::ParseCsv(csv.str());
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  if (!table.ok()) return {};
  ml::DatasetSchema schema;
  schema.label = "faulty";
  schema.features = {"rotation", "temperature", "vibration", "sound"};
  auto data = ml::BuildDataset(*table, schema);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (!data.ok()) return {};
  ml::TrainJob job;
  job.name = "fan-mlp";
  job.int8 = true;
  job.train.epochs = 2;
  job.train.seed = seed;
  job.train.hidden = {8};
  auto out = ml::TrainAndExport(*data, job, {});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return {};
  return std::string(out->int8_model.begin(), out->int8_model.end());
}

app::AppConfig AppConfigIn(const std::string& dir) {
  app::AppConfig c;
  c.http.listen = "127.0.0.1:0";
  c.http.auth_tokens = {{"olga", kToken}};
  c.http.auth_roles = {{"olga", "operator"}};
  c.broker.listeners = {};  // in-process clients only
  c.registry.data_dir = dir + "/var";
  c.registry.password_iterations = 1000;
  c.store.path = dir + "/telemetry.db";
  c.bootstrap.enabled = false;
  c.dashboard.enabled = false;
  c.threads = 2;
  return c;
}

class PlatformModelEventsTest : public ::testing::Test {
 protected:
  Json Call(net::HttpClient& c, std::string_view method, std::string_view target,
            std::string body = {}, int want = 200, std::string_view type = "application/json") {
    auto r = c.Call(method, target, std::move(body), {}, type);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, want) << method << " " << target << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }
  // The name of the model the predictor scores with, from a scoring result ("" when none).
  std::string ScoredBy(net::HttpClient& c) {
    auto r = c.Call("POST", "/score", R"({"instances":[[600,40,150,50]]})", {}, "application/json");
    if (!r.ok() || r->status != 200) return "";
    auto j = Json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("predictions")) return "";
    return j["predictions"][0].value("model", "");
  }

  test_support::TempDir dir_;
};

TEST_F(PlatformModelEventsTest, PromotionOverHttpHotSwapsThePredictor) {
  std::string v1 = TrainSmallModel(1), v2 = TrainSmallModel(2);
  ASSERT_FALSE(v1.empty());
  ASSERT_NE(v1, v2);
  app::Platform platform(AppConfigIn(dir_.path()), {});
  ASSERT_TRUE(platform.Start().ok());
  net::HttpClient op("http://127.0.0.1:" + std::to_string(platform.http_port()), kToken);

  // No production model yet: the predictor has nothing to score with.
  EXPECT_EQ(ScoredBy(op), "");
  Call(op, "POST", "/api/v1/models/fan-mlp/versions", v1, 201, "application/octet-stream");
  Call(op, "POST", "/api/v1/models/fan-mlp/versions", v2, 201, "application/octet-stream");
  Call(op, "POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"production"})");
  ASSERT_TRUE(WaitFor([&] { return ScoredBy(op) == "fan-mlp@1"; }, std::chrono::seconds(60)));

  Call(op, "POST", "/api/v1/models/fan-mlp/versions/2/stage", R"({"stage":"production"})");
  ASSERT_TRUE(WaitFor([&] { return ScoredBy(op) == "fan-mlp@2"; }, std::chrono::seconds(60)));
  Json info = Call(op, "GET", "/api/v1/predictor/model");
  EXPECT_EQ(info["model"], "fan-mlp@2");

  // A registry rollback puts v1 back in production, and in the predictor.
  Call(op, "POST", "/api/v1/models/fan-mlp/rollback");
  ASSERT_TRUE(WaitFor([&] { return ScoredBy(op) == "fan-mlp@1"; }, std::chrono::seconds(60)));

  // Another model's promotion is not the predictor's business. Then a promotion of fan-mlp
  // proves the event of the other one had its chance to arrive first (same topic, same order).
  Call(op, "POST", "/api/v1/models/other-model/versions", v2, 201, "application/octet-stream");
  Call(op, "POST", "/api/v1/models/other-model/versions/1/stage", R"({"stage":"production"})");
  Call(op, "POST", "/api/v1/models/fan-mlp/versions/2/stage", R"({"stage":"production"})");
  ASSERT_TRUE(WaitFor([&] { return ScoredBy(op) == "fan-mlp@2"; }, std::chrono::seconds(60)));
  EXPECT_EQ(Call(op, "GET", "/api/v1/predictor/model")["swaps"], 4);  // none->1, 1->2, 2->1, 1->2
  platform.Stop();
}

TEST_F(PlatformModelEventsTest, RolloutsSurviveARestart) {
  std::string v1 = TrainSmallModel(1);
  ASSERT_FALSE(v1.empty());
  std::string id;
  {
    app::Platform platform(AppConfigIn(dir_.path()), {});
    ASSERT_TRUE(platform.Start().ok());
    net::HttpClient op("http://127.0.0.1:" + std::to_string(platform.http_port()), kToken);
    Call(op, "POST", "/api/v1/models/fan-mlp/versions", v1, 201, "application/octet-stream");
    for (const char* dev : {"fan-a", "fan-b", "fan-c"}) {
      Call(op, "POST", "/api/v1/devices", Json{{"id", dev}, {"labels", {{"line", "1"}}}}.dump(),
           201);
    }
    // Nobody answers: the rollout is still in its canary wave when the platform stops.
    Json r =
        Call(op, "POST", "/api/v1/rollouts",
             R"({"model":"fan-mlp","version":1,"selector":"line:1","canary_percent":34})", 201);
    id = r["id"];
    EXPECT_EQ(r["state"], "canary");
    EXPECT_EQ(r["counts"]["sent"], 2);
    platform.Stop();
  }
  app::Platform platform(AppConfigIn(dir_.path()), {});
  ASSERT_TRUE(platform.Start().ok());
  net::HttpClient op("http://127.0.0.1:" + std::to_string(platform.http_port()), kToken);
  Json list = Call(op, "GET", "/api/v1/rollouts");
  ASSERT_EQ(list["rollouts"].size(), 1u);
  Json r = Call(op, "GET", "/api/v1/rollouts/" + id);
  EXPECT_EQ(r["state"], "canary");  // resumed, not forgotten
  EXPECT_TRUE(r["resumed_at"].is_string()) << r.dump();
  EXPECT_EQ(r["counts"]["sent"], 2);
  EXPECT_EQ(r["counts"]["pending"], 1);
  // It is live again: it can be aborted, and the abort is kept too.
  EXPECT_EQ(Call(op, "POST", "/api/v1/rollouts/" + id + "/abort")["state"], "aborted");
  platform.Stop();
}

}  // namespace
}  // namespace aiot::platform_test
