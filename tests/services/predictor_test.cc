// The predictor against a real broker (Debian's mosquitto) with real .tflite models run by
// src/ml's runtime: bad input, alerts/actuation/webhook, hot swap by model event and by HTTP.
#include "services/predictor.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/errc.h"
#include "harness.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "services/scoring_api.h"
#include "services/test_models.h"
#include "services/tflite_model.h"
#include "tests/support/testing.h"

namespace aiot::services {
namespace {

using aiot::test_support::WaitFor;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using nlohmann::json;
using testing::ClientConfig;
using testing::Collector;
using testing::Publisher;
using testing::Reading;

class PredictorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    ASSERT_TRUE(broker_.Start());
    // score = sigmoid(sound - 55): sound 50 -> 0.007 ok, 55.5 -> 0.62 warning, 60 -> 0.993.
    ASSERT_TRUE(testing::WriteFanTflite(dir_.Path("m1.tflite"), "fan-mlp", 1.0f, 55.0f).ok());
    ASSERT_TRUE(testing::WriteFanTflite(dir_.Path("m2.tflite"), "fan-mlp", 1.0f, 55.0f, true).ok());
    config_.qos = 1;
  }

  std::unique_ptr<Predictor> StartPredictor() {
    auto p =
        std::make_unique<Predictor>(config_, ClientConfig(broker_.url(), "predictor"), io_.io(),
                                    models_, MakeTfliteLoader(), registry_, SystemClock::Instance(),
                                    mqtt::TransportFactory{}, MakeTfliteDriftWatch(config_.drift));
    EXPECT_TRUE(p->Start().ok());
    EXPECT_TRUE(WaitFor([&] { return p->client()->state() == mqtt::ConnectionState::kConnected; }));
    return p;
  }

  Mosquitto broker_;
  testing::TempDir dir_;
  IoThread io_;
  PredictorConfig config_;
  ModelHolder models_;
  prometheus::Registry registry_;
};

TEST_F(PredictorTest, BadInputGoesToDeadLetterGoodInputIsScored) {
  config_.model = dir_.Path("m1.tflite");
  config_.model_name = "fan-mlp@1";
  auto predictor = StartPredictor();
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"),
                {"fan/anomaly", "aiot/deadletter"});
  ASSERT_TRUE(out.WaitSubscribed());
  Publisher pub(io_.io(), ClientConfig(broker_.url(), "fan-sim"));
  ASSERT_TRUE(pub.WaitConnected());

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"garbage", "not valid JSON"},
      {"{\"deviceID\":\"x\",\"rotation\":", "not valid JSON"},
      {"[1,2,3,4]", "not a JSON object"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":150})",
       "missing field `sound`"},
      {R"({"deviceID":"x","rotation":600,"temperature":"hot","vibration":150,"sound":50})",
       "field `temperature` is a string, expected a number"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":NaN,"sound":50})",
       "field `vibration` is not a finite number"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":150,"sound":-3})",
       "field `sound` = -3 is outside the plausible range [0, 300]"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":150,"sound":50,"pad":")" +
           std::string(17000, 'z') + "\"}",
       "payload of 17084 bytes exceeds max_payload_bytes (16384)"},
      {std::string("\xff\x00\x01", 3), "not valid JSON"},
  };
  int good = 0;
  for (int round = 0; round < 3; ++round) {
    for (const auto& [payload, reason] : bad) {
      pub.Publish("fan/messages", Reading(fmt::format("fan-{}", good), good % 2 ? 60 : 50, good));
      ++good;
      pub.Publish("fan/messages", payload);
    }
  }
  ASSERT_TRUE(pub.WaitAcked());
  ASSERT_TRUE(out.WaitCount("aiot/deadletter", 3 * bad.size()));
  ASSERT_TRUE(out.WaitCount("fan/anomaly", good));
  auto dead = out.On("aiot/deadletter");
  ASSERT_EQ(dead.size(), 3 * bad.size());
  for (size_t i = 0; i < dead.size(); ++i) {
    const auto& expected = bad[i % bad.size()].second;
    EXPECT_EQ(dead[i]["topic"], "fan/messages");
    EXPECT_EQ(dead[i]["reason"].get<std::string>().rfind(expected, 0), 0u)
        << "dead letter " << i << ": " << dead[i]["reason"] << " expected " << expected;
  }
  auto scored = out.On("fan/anomaly");
  ASSERT_EQ(scored.size(), static_cast<size_t>(good));
  for (int i = 0; i < good; ++i) {
    EXPECT_EQ(scored[i]["deviceID"], fmt::format("fan-{}", i));
    EXPECT_EQ(scored[i]["model"], "fan-mlp@1");
    EXPECT_EQ(scored[i]["fault"], i % 2);
    EXPECT_EQ(scored[i]["level"], i % 2 ? "critical" : "ok");
  }
  predictor->Stop();
}

TEST_F(PredictorTest, CriticalAlertSendsCommandAndReachesWebhookDespiteFailures) {
  // A webhook receiver that fails twice before accepting.
  net::Runtime runtime(1);
  net::Router router;
  std::mutex mu;
  std::vector<std::string> hooks;
  std::atomic<int> calls{0};
  router.Post("/hook", net::SyncHandler([&](net::Request& req) {
                if (calls.fetch_add(1) < 2) {
                  return net::Response(net::http::status::service_unavailable, "busy");
                }
                std::lock_guard lock(mu);
                hooks.push_back(req.body());
                return net::Response(net::http::status::ok, "ok");
              }));
  net::HttpServerConfig http;
  http.listen = "127.0.0.1:0";
  net::HttpServer server(http, runtime, router, registry_);
  runtime.Start();
  ASSERT_TRUE(server.Start().ok());

  config_.model = dir_.Path("m1.tflite");
  config_.model_name = "fan-mlp@1";
  config_.alerts.enter_critical_after = 3;
  config_.actuation.enabled = true;
  config_.webhook.url = fmt::format("http://127.0.0.1:{}/hook", server.port());
  config_.webhook.initial_backoff_ms = 20;
  auto predictor = StartPredictor();
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"),
                {"fan/anomaly", "aiot/alerts", "fan/control/+"});
  ASSERT_TRUE(out.WaitSubscribed());
  Publisher pub(io_.io(), ClientConfig(broker_.url(), "fan-sim"));
  ASSERT_TRUE(pub.WaitConnected());

  // fan-9: two critical readings, a normal one, then three critical: one alert, one command.
  int seq = 0;
  for (double s : {60, 61, 50, 62, 63, 64, 65}) {
    pub.Publish("fan/messages", Reading("fan-9", s, seq++));
  }
  // fan-3 stays healthy.
  for (int i = 0; i < 5; ++i) pub.Publish("fan/messages", Reading("fan-3", 50, seq++));
  ASSERT_TRUE(pub.WaitAcked());
  ASSERT_TRUE(out.WaitCount("fan/anomaly", 12));
  ASSERT_TRUE(out.WaitCount("aiot/alerts", 1));
  ASSERT_TRUE(out.WaitCount("fan/control/fan-9", 1));
  auto alerts = out.On("aiot/alerts");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["deviceID"], "fan-9");
  EXPECT_EQ(alerts[0]["level"], "critical");
  EXPECT_EQ(alerts[0]["message"], "activate safety protocols");
  EXPECT_EQ(alerts[0]["timeStamp"], "2026-11-22T10:00:00.005Z");  // the 3rd critical in a row
  auto commands = out.On("fan/control/fan-9");
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0]["command"], "set-actuator");
  EXPECT_TRUE(commands[0]["payload"].is_object());
  EXPECT_EQ(out.Count("fan/control/fan-3"), 0u);

  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return !hooks.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(json::parse(hooks[0]), alerts[0]);
  }
  EXPECT_EQ(calls.load(), 3);
  predictor->Stop();
  server.Stop();
  runtime.Stop();
  runtime.Join();
}

// Hot swap by a registry-style model event while readings stream in: every reading gets exactly
// one result and the model name switches once.
TEST_F(PredictorTest, HotSwapByModelEventLosesNothing) {
  config_.model = dir_.Path("m1.tflite");
  config_.model_name = "fan-mlp@1";
  config_.max_batch = 16;
  auto predictor = StartPredictor();
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"), {"fan/anomaly"});
  ASSERT_TRUE(out.WaitSubscribed());
  Publisher pub(io_.io(), ClientConfig(broker_.url(), "fan-sim"));
  ASSERT_TRUE(pub.WaitConnected());

  constexpr int kN = 3000;
  for (int i = 0; i < kN; ++i) {
    if (i == kN / 6) {
      // Events of the wrong shape (anyone may publish on the topic) are ignored, not fatal.
      for (const char* bad :
           {R"({"event":1})", R"({"event":"promoted","path":5})",
            R"({"event":"promoted","target":[],"path":"x"})",
            R"({"event":"load","name":7,"version":{},"path":null})", "[1,2]", "{\"event\":"}) {
        pub.Publish("aiot/events/model", bad);
      }
    }
    if (i == kN / 3) {
      pub.Publish("aiot/events/model", json{{"event", "promoted"},
                                            {"name", "fan-mlp"},
                                            {"version", 2},
                                            {"path", dir_.Path("m2.tflite")}}
                                           .dump());
    }
    pub.Publish("fan/messages", Reading(fmt::format("fan-{}", i % 50), 50 + i % 12, i));
  }
  ASSERT_TRUE(pub.WaitAcked());
  ASSERT_TRUE(out.WaitCount("fan/anomaly", kN));
  auto results = out.On("fan/anomaly");
  ASSERT_EQ(results.size(), static_cast<size_t>(kN));
  int switches = 0;
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(results[i]["deviceID"], fmt::format("fan-{}", i % 50));
    if (i > 0 && results[i]["model"] != results[i - 1]["model"]) ++switches;
  }
  EXPECT_EQ(switches, 1);
  EXPECT_EQ(results.front()["model"], "fan-mlp@1");
  EXPECT_EQ(results.back()["model"], "fan-mlp@2");
  predictor->Stop();
}

// Promotions name the registry model: the one configured as the time-to-failure model loads into
// that slot only, the fault model's name into the fault slot only. A model of the other task is
// refused with a clear error, counted, and the serving models stay.
TEST_F(PredictorTest, ModelOfTheOtherTaskIsRefusedFromANamedSlot) {
  ASSERT_TRUE(testing::WriteFanTtfTflite(dir_.Path("ttf1.tflite"), "fan-ttf").ok());
  config_.model = dir_.Path("m1.tflite");
  config_.model_name = "fan-mlp@1";
  auto wrong_task = [&] {
    for (const auto& f : registry_.Collect()) {
      if (f.name == "aiot_predictor_model_wrong_task_total") return f.metric.at(0).counter.value;
    }
    return -1.0;
  };
  Predictor predictor(config_, ClientConfig(broker_.url(), "predictor"), io_.io(), models_,
                      MakeTfliteLoader(), registry_);
  predictor.ServeModelNames("fan-mlp", "fan-ttf");
  ASSERT_TRUE(predictor.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return predictor.client()->state() == mqtt::ConnectionState::kConnected; }));
  EXPECT_EQ(wrong_task(), 0);
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"), {"fan/anomaly"});
  ASSERT_TRUE(out.WaitSubscribed());
  Publisher pub(io_.io(), ClientConfig(broker_.url(), "registry"));
  ASSERT_TRUE(pub.WaitConnected());
  auto promote = [&](const char* name, int version, const std::string& path) {
    pub.Publish(
        "aiot/events/model",
        json{{"event", "promoted"}, {"name", name}, {"version", version}, {"path", path}}.dump());
  };

  // A classifier promoted under the time-to-failure name: refused, not served as the fault model.
  promote("fan-ttf", 2, dir_.Path("m2.tflite"));
  ASSERT_TRUE(WaitFor([&] { return wrong_task() == 1; })) << wrong_task();
  // A time-to-failure model promoted under the fault model's name: refused too.
  promote("fan-mlp", 5, dir_.Path("ttf1.tflite"));
  ASSERT_TRUE(WaitFor([&] { return wrong_task() == 2; })) << wrong_task();
  EXPECT_EQ(models_.Get()->name(), "fan-mlp@1");
  pub.Publish("fan/messages", Reading("fan-1", 50, 1));
  ASSERT_TRUE(out.WaitCount("fan/anomaly", 1));
  EXPECT_EQ(out.On("fan/anomaly")[0]["model"], "fan-mlp@1");
  EXPECT_FALSE(out.On("fan/anomaly")[0].contains("time_to_failure_h")) << out.On("fan/anomaly")[0];

  // The time-to-failure model under its own name goes beside the fault model.
  promote("fan-ttf", 1, dir_.Path("ttf1.tflite"));
  ASSERT_TRUE(WaitFor([&] {
    pub.Publish("fan/messages", Reading("fan-1", 50, 2));
    auto r = out.On("fan/anomaly");
    return r.back().contains("ttf_model");
  }));
  auto last = out.On("fan/anomaly").back();
  EXPECT_EQ(last["model"], "fan-mlp@1");
  EXPECT_EQ(last["ttf_model"], "fan-ttf@1");
  EXPECT_NEAR(last["time_to_failure_h"].get<double>(), 50.0, 0.01);  // 100 - sound
  EXPECT_EQ(wrong_task(), 2);

  // Called directly, with the slot named: the same refusal, saying why.
  Status st = predictor.LoadModel(
      ModelSource{dir_.Path("m2.tflite"), "fan-mlp@2", "", ModelSlot::kTimeToFailure});
  EXPECT_EQ(st.error(), make_error_code(errc::invalid_argument));
  EXPECT_NE(st.message().find("not a time-to-failure model"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("refused as the time-to-failure model"), std::string::npos)
      << st.message();
  st = predictor.LoadModel(
      ModelSource{dir_.Path("ttf1.tflite"), "fan-ttf@1", "", ModelSlot::kFault});
  EXPECT_NE(st.message().find("is a time-to-failure model"), std::string::npos) << st.message();
  EXPECT_EQ(wrong_task(), 4);
  EXPECT_EQ(models_.Get()->name(), "fan-mlp@1");
  predictor.Stop();

  // At start: a classifier as predictor.ttf_model, or a time-to-failure model as
  // predictor.model, is refused the same way.
  for (int i = 0; i < 2; ++i) {
    PredictorConfig bad = config_;
    ModelHolder models;
    if (i == 0) bad.ttf_model = dir_.Path("m2.tflite");
    if (i == 1) bad.model = dir_.Path("ttf1.tflite");
    prometheus::Registry metrics;
    Predictor p(bad, ClientConfig(broker_.url(), "predictor-bad"), io_.io(), models,
                MakeTfliteLoader(), metrics);
    Status start = p.Start();
    EXPECT_FALSE(start.ok()) << i;
    EXPECT_NE(start.message().find(i == 0 ? "predictor.ttf_model" : "is a time-to-failure model"),
              std::string::npos)
        << start.message();
  }
}

TEST_F(PredictorTest, ScoringApiAndModelEndpoint) {
  config_.model = dir_.Path("m1.tflite");
  config_.model_name = "fan-mlp@1";
  auto predictor = StartPredictor();
  net::Runtime runtime(1);
  net::Router router;
  RegisterScoringRoutes(router, models_, config_.thresholds);
  predictor->RegisterRoutes(router);
  net::HttpServerConfig http;
  http.listen = "127.0.0.1:0";
  http.auth_tokens = {{"ops", "s3cret-token"}};
  http.auth_roles = {{"ops", "operator"}};
  net::HttpServer server(http, runtime, router, registry_);
  runtime.Start();
  ASSERT_TRUE(server.Start().ok());
  const uint16_t port = server.port();

  auto r = testing::Http(port, "POST", "/score", R"({"params":[601.2,40.1,151.0,60.0]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["fault"], 1);
  EXPECT_EQ(j["level"], "critical");
  EXPECT_EQ(j["model"], "fan-mlp@1");
  EXPECT_NEAR(j["score"].get<double>(), 0.9933, 1e-3);

  r = testing::Http(port, "POST", "/score", R"({"instances":[[600,40,150,50],[600,40,150,55.5]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j["predictions"].size(), 2u);
  EXPECT_EQ(j["predictions"][0]["level"], "ok");
  EXPECT_EQ(j["predictions"][1]["level"], "warning");

  r = testing::Http(port, "POST", "/score", R"({"params":[1,2,3]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("`params` has 3 values; the model takes 4"), std::string::npos) << r.body;

  const std::string swap = json{{"path", dir_.Path("m2.tflite")}, {"name", "fan-mlp@2"}}.dump();
  r = testing::Http(port, "POST", "/api/v1/predictor/model", swap);
  EXPECT_EQ(r.status, 401);
  r = testing::Http(port, "POST", "/api/v1/predictor/model", R"({"path":"/nonexistent.tflite"})",
                    "s3cret-token");
  EXPECT_EQ(r.status, 422) << r.body;
  // Fields of the wrong type are the client's mistake (400), not an exception (nlohmann's value()
  // threw on {"name":5}: a 500).
  for (const char* bad :
       {R"({"path":"/m.tflite","name":5})", R"({"path":5})", R"({"path":"/m.tflite","sha256":[1]})",
        R"({"name":"fan-mlp@2"})", R"(["path"])"}) {
    r = testing::Http(port, "POST", "/api/v1/predictor/model", bad, "s3cret-token");
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.body.find("invalid_argument"), std::string::npos) << r.body;
  }
  r = testing::Http(port, "POST", "/score", R"({"name":5})");
  EXPECT_EQ(r.status, 400) << r.body;
  // A slot named: a classifier is refused as the time-to-failure model (422, why), an unknown slot
  // is the client's mistake (400).
  r = testing::Http(
      port, "POST", "/api/v1/predictor/model",
      json{{"path", dir_.Path("m2.tflite")}, {"name", "fan-mlp@2"}, {"slot", "time_to_failure"}}
          .dump(),
      "s3cret-token");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("refused as the time-to-failure model"), std::string::npos) << r.body;
  r = testing::Http(port, "POST", "/api/v1/predictor/model",
                    json{{"path", dir_.Path("m2.tflite")}, {"slot", "other"}}.dump(),
                    "s3cret-token");
  EXPECT_EQ(r.status, 400) << r.body;
  r = testing::Http(port, "POST", "/api/v1/predictor/model", swap, "s3cret-token");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["previous"], "fan-mlp@1");
  EXPECT_EQ(json::parse(r.body)["slot"], "fault");
  r = testing::Http(port, "POST", "/score", R"({"params":[601.2,40.1,151.0,60.0]})");
  EXPECT_EQ(json::parse(r.body)["model"], "fan-mlp@2");
  r = testing::Http(port, "GET", "/api/v1/predictor/model");
  EXPECT_EQ(json::parse(r.body)["features"],
            json::parse(R"(["rotation","temperature","vibration","sound"])"));
  server.Stop();
  runtime.Stop();
  runtime.Join();
  predictor->Stop();
}

}  // namespace
}  // namespace aiot::services
