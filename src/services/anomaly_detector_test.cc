#include "services/anomaly_detector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "services/test_models.h"

namespace aiot::services {
namespace {

using nlohmann::json;

struct Published {
  std::string topic;
  json payload;
};

class CollectingSink final : public DetectorSink {
 public:
  void Publish(std::string_view topic, std::string_view payload) override {
    messages.push_back({std::string(topic), json::parse(payload)});
  }
  void Alert(std::string_view payload) override { webhook.push_back(json::parse(payload)); }

  std::vector<json> On(std::string_view topic) const {
    std::vector<json> out;
    for (const auto& m : messages) {
      if (m.topic == topic) out.push_back(m.payload);
    }
    return out;
  }

  std::vector<Published> messages;
  std::vector<json> webhook;
};

std::string Reading(std::string_view device, double sound, std::string_view ts = "") {
  std::string t = ts.empty() ? "" : fmt::format(R"("timeStamp":"{}",)", ts);
  return fmt::format(
      R"({{"deviceID":"{}",{}"rotation":600,"temperature":40,"vibration":150,"sound":{}}})", device,
      t, sound);
}

class AnomalyDetectorTest : public ::testing::Test {
 protected:
  AnomalyDetectorTest() : clock_(1'700'000'000'000'000'000) {}

  AnomalyDetector Make() { return AnomalyDetector(config_, models_, registry_, clock_, sink_); }

  PredictorConfig config_;
  ModelHolder models_{testing::FanModel()};
  prometheus::Registry registry_;
  ManualClock clock_;
  CollectingSink sink_;
};

TEST_F(AnomalyDetectorTest, ScoresAndPublishesAnomalies) {
  AnomalyDetector d = Make();
  d.Ingest("fan/messages", Reading("fan-1", 30, "2026-11-22T10:00:00.000Z"));
  d.Ingest("fan/messages", Reading("fan-2", 60));
  d.Ingest("fan/messages", Reading("fan-3", 90));
  EXPECT_EQ(d.pending(), 3u);
  EXPECT_TRUE(sink_.messages.empty());  // batched until flushed
  d.Flush();
  auto a = sink_.On("fan/anomaly");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0]["deviceID"], "fan-1");
  EXPECT_EQ(a[0]["timeStamp"], "2026-11-22T10:00:00.000Z");
  EXPECT_EQ(a[0]["fault"], 0);
  EXPECT_EQ(a[0]["level"], "ok");
  EXPECT_NEAR(a[0]["score"].get<double>(), 0.3, 1e-4);
  EXPECT_EQ(a[1]["level"], "warning");
  EXPECT_EQ(a[1]["fault"], 1);
  EXPECT_EQ(a[1]["timeStamp"], "2023-11-14T22:13:20.000Z");  // filled from the clock
  EXPECT_EQ(a[2]["level"], "critical");
  EXPECT_EQ(a[2]["model"], "test-fan@1");
}

TEST_F(AnomalyDetectorTest, FullBatchIsScoredWithoutFlush) {
  config_.max_batch = 4;
  AnomalyDetector d = Make();
  for (int i = 0; i < 10; ++i) d.Ingest("fan/messages", Reading("fan-1", 10));
  EXPECT_EQ(sink_.On("fan/anomaly").size(), 8u);
  EXPECT_EQ(d.pending(), 2u);
  d.Flush();
  EXPECT_EQ(sink_.On("fan/anomaly").size(), 10u);
}

// The bad-input test: every bad payload reaches the dead-letter topic with its reason and every
// good one is scored, in one interleaved stream.
TEST_F(AnomalyDetectorTest, BadInputCorpusGoesToDeadLetterGoodInputIsScored) {
  config_.max_batch = 3;
  AnomalyDetector d = Make();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "not valid JSON"},
      {"hello", "not valid JSON"},
      {"{\"deviceID\":\"x\",", "not valid JSON"},
      {"[600,40,150,50]", "not a JSON object"},
      {"\"fan\"", "not a JSON object"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":150})",
       "missing field `sound`"},
      {R"({"rotation":600,"temperature":40,"vibration":150,"sound":50})",
       "missing field `deviceID`"},
      {R"({"deviceID":"x","rotation":"fast","temperature":40,"vibration":150,"sound":50})",
       "field `rotation` is a string, expected a number"},
      {R"({"deviceID":"x","rotation":[600],"temperature":40,"vibration":150,"sound":50})",
       "field `rotation` is an array, expected a number"},
      {R"({"deviceID":"x","rotation":600,"temperature":NaN,"vibration":150,"sound":50})",
       "field `temperature` is not a finite number"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":Infinity,"sound":50})",
       "field `vibration` is not a finite number"},
      {R"({"deviceID":"x","rotation":-5,"temperature":40,"vibration":150,"sound":50})",
       "field `rotation` = -5 is outside the plausible range [0, 100000]"},
      {R"({"deviceID":"x","rotation":600,"temperature":40,"vibration":150,"sound":1e6})",
       "field `sound` = 1000000 is outside the plausible range [0, 300]"},
      {R"({"deviceID":{"id":1},"rotation":600,"temperature":40,"vibration":150,"sound":50})",
       "field `deviceID` is not a string or an integer"},
      {R"({"deviceID":"fan/+","rotation":600,"temperature":40,"vibration":150,"sound":50})",
       "field `deviceID` must be"},
      {"{\"deviceID\":\"x\",\"pad\":\"" + std::string(20000, 'a') + "\"}",
       "payload of 20025 bytes exceeds max_payload_bytes (16384)"},
      {std::string("\x00\xff\xfe", 3), "not valid JSON"},
  };
  size_t good = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    d.Ingest("fan/messages", Reading(fmt::format("good-{}", good++), 20));
    d.Ingest("fan/messages", bad[i].first);
    d.Ingest("fan/messages", Reading(fmt::format("good-{}", good++), 20));
  }
  d.Flush();

  auto dead = sink_.On("aiot/deadletter");
  ASSERT_EQ(dead.size(), bad.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(dead[i]["topic"], "fan/messages");
    EXPECT_EQ(dead[i]["reason"].get<std::string>().rfind(bad[i].second, 0), 0u)
        << "payload #" << i << ": reason `" << dead[i]["reason"] << "`, expected `" << bad[i].second
        << "`";
    EXPECT_TRUE(dead[i]["payload"].is_string());
  }
  auto scored = sink_.On("fan/anomaly");
  ASSERT_EQ(scored.size(), good);
  for (size_t i = 0; i < good; ++i) EXPECT_EQ(scored[i]["deviceID"], fmt::format("good-{}", i));

  // Counted by reason.
  auto text = [&] {
    std::string s;
    for (const auto& f : registry_.Collect()) {
      if (f.name != "aiot_predictor_deadletter_total") continue;
      for (const auto& m : f.metric) {
        s += m.label[0].value + "=" + std::to_string(static_cast<int>(m.counter.value)) + ";";
      }
    }
    return s;
  }();
  EXPECT_NE(text.find("not_json=4;"), std::string::npos) << text;
  EXPECT_NE(text.find("missing_field=2;"), std::string::npos) << text;
  EXPECT_NE(text.find("oversized=1;"), std::string::npos) << text;
}

TEST_F(AnomalyDetectorTest, CriticalAlertWebhookAndActuation) {
  config_.alerts.enter_critical_after = 3;
  config_.alerts.exit_critical_after = 2;
  config_.actuation.enabled = true;
  config_.actuation.payload = R"({"actuator":"valve","state":"closed"})";
  AnomalyDetector d = Make();
  for (double s : {90, 95, 20, 85, 90}) d.Ingest("fan/messages", Reading("fan-7", s));
  d.Flush();
  EXPECT_TRUE(sink_.On("aiot/alerts").empty());  // debounced: no three in a row yet
  d.Ingest("fan/messages", Reading("fan-7", 99, "2026-11-22T10:00:05.000Z"));
  d.Ingest("fan/messages", Reading("fan-8", 99));  // another device, one reading
  d.Flush();
  auto alerts = sink_.On("aiot/alerts");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["deviceID"], "fan-7");
  EXPECT_EQ(alerts[0]["level"], "critical");
  EXPECT_EQ(alerts[0]["message"], "activate safety protocols");
  EXPECT_EQ(alerts[0]["timeStamp"], "2026-11-22T10:00:05.000Z");
  EXPECT_EQ(alerts[0]["model"], "test-fan@1");
  ASSERT_EQ(sink_.webhook.size(), 1u);
  EXPECT_EQ(sink_.webhook[0], alerts[0]);
  auto commands = sink_.On("fan/control/fan-7");
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(
      commands[0],
      json::parse(R"({"command":"set-actuator","payload":{"actuator":"valve","state":"closed"}})"));
  // Still critical: nothing new. Two low readings clear it.
  for (double s : {95, 10, 10}) d.Ingest("fan/messages", Reading("fan-7", s));
  d.Flush();
  alerts = sink_.On("aiot/alerts");
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1]["level"], "ok");
  EXPECT_EQ(alerts[1]["previous"], "critical");
  EXPECT_EQ(sink_.On("fan/control/fan-7").size(), 1u);
}

TEST_F(AnomalyDetectorTest, ModelThresholdsOverrideConfig) {
  class Strict final : public ScoringModel {
   public:
    const std::string& name() const override { return inner_->name(); }
    const std::vector<std::string>& features() const override { return inner_->features(); }
    size_t input_size() const override { return inner_->input_size(); }
    std::optional<Thresholds> thresholds() const override { return Thresholds{0.2, 0.4}; }
    Status Score(const float* in, size_t rows, float* out) const override {
      return inner_->Score(in, rows, out);
    }
    ModelPtr inner_ = testing::FanModel();
  };
  models_.Swap(std::make_shared<Strict>());
  AnomalyDetector d = Make();
  d.Ingest("fan/messages", Reading("a", 45));
  d.Flush();
  EXPECT_EQ(sink_.On("fan/anomaly")[0]["level"], "critical");
  config_.thresholds.from_model = false;
  AnomalyDetector d2 = Make();
  d2.Ingest("fan/messages", Reading("a", 45));
  d2.Flush();
  EXPECT_EQ(sink_.On("fan/anomaly")[1]["level"], "ok");
}

TEST_F(AnomalyDetectorTest, NoModelDeadLetters) {
  ModelHolder empty;
  AnomalyDetector d(config_, empty, registry_, clock_, sink_);
  d.Ingest("fan/messages", Reading("a", 45));
  d.Flush();
  auto dead = sink_.On("aiot/deadletter");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["reason"], "no model loaded");
}

// Hot swap: N readings go in while another thread swaps the model once; N results come out and
// the model name switches exactly once (old before, new after).
TEST_F(AnomalyDetectorTest, HotSwapLosesNothingAndSwitchesOnce) {
  config_.max_batch = 16;
  AnomalyDetector d = Make();
  constexpr int kN = 20000;
  std::atomic<int> ingested{0};
  std::thread swapper([&] {
    while (ingested.load() < kN / 3) std::this_thread::yield();
    models_.Swap(testing::FanModel("test-fan@2"));
  });
  for (int i = 0; i < kN; ++i) {
    d.Ingest("fan/messages", Reading(fmt::format("fan-{}", i), 40));
    ingested.store(i + 1);
    if (i % 7 == 0) d.Flush();
  }
  d.Flush();
  swapper.join();
  auto results = sink_.On("fan/anomaly");
  ASSERT_EQ(results.size(), static_cast<size_t>(kN));
  int switches = 0;
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(results[i]["deviceID"], fmt::format("fan-{}", i));
    if (i > 0 && results[i]["model"] != results[i - 1]["model"]) ++switches;
  }
  EXPECT_EQ(switches, 1);
  EXPECT_EQ(results.front()["model"], "test-fan@1");
  EXPECT_EQ(results.back()["model"], "test-fan@2");
}

}  // namespace
}  // namespace aiot::services

namespace aiot::services {
namespace {

// A time-to-failure model reading two of the fan's features in its own order: hours =
// rotation / 100 (so the mapping by name is checked: a wrong column gives another value).
class RotationHoursModel final : public ScoringModel {
 public:
  explicit RotationHoursModel(std::vector<std::string> features) : features_(std::move(features)) {}
  const std::string& name() const override { return name_; }
  const std::vector<std::string>& features() const override { return features_; }
  size_t input_size() const override { return features_.size(); }
  bool time_to_failure() const override { return true; }
  Status Score(const float* in, size_t rows, float* out) const override {
    for (size_t r = 0; r < rows; ++r) out[r] = in[r * features_.size() + 1] / 100.0f;
    return Status::Ok();
  }

 private:
  std::string name_ = "fan-ttf@2";
  std::vector<std::string> features_;
};

TEST_F(AnomalyDetectorTest, PublishesTimeToFailureBesideTheScore) {
  AnomalyDetector d = Make();
  ModelHolder ttf;
  d.SetTimeToFailureModels(&ttf);
  d.Ingest("fan/messages", Reading("fan-1", 30));
  d.Flush();  // no TTF model yet: no field
  ttf.Swap(std::make_shared<RotationHoursModel>(std::vector<std::string>{"vibration", "rotation"}));
  d.Ingest("fan/messages", Reading("fan-1", 90));
  d.Ingest("fan/messages", Reading("fan-2", 30));
  d.Flush();
  // A TTF model that needs a feature the fault model does not read is not scored.
  ttf.Swap(std::make_shared<RotationHoursModel>(std::vector<std::string>{"vibration", "torque"}));
  d.Ingest("fan/messages", Reading("fan-3", 30));
  d.Flush();
  auto a = sink_.On("fan/anomaly");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_FALSE(a[0].contains("time_to_failure_h")) << a[0].dump();
  for (int i : {1, 2}) {
    ASSERT_TRUE(a[i].contains("time_to_failure_h")) << a[i].dump();
    EXPECT_DOUBLE_EQ(a[i]["time_to_failure_h"].get<double>(), 6.0);  // rotation 600
    EXPECT_EQ(a[i]["ttf_model"], "fan-ttf@2");
    EXPECT_EQ(a[i]["model"], "test-fan@1");  // the fault model still scores
  }
  EXPECT_EQ(a[1]["level"], "critical");
  EXPECT_FALSE(a[3].contains("time_to_failure_h")) << a[3].dump();
  EXPECT_EQ(a[3]["model"], "test-fan@1");
}

}  // namespace
}  // namespace aiot::services
