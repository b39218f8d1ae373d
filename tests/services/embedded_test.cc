// The predictor through aiot's embedded broker, connected in-process as `aiot up` runs it: online
// drift events on a shifting telemetry distribution, and a shutdown that leaves nothing running
// against a destroyed broker.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "harness.h"
#include "mqtt/broker/broker_server.h"
#include "mqtt/broker/inproc_transport.h"
#include "net/runtime.h"
#include "services/predictor.h"
#include "services/test_models.h"
#include "services/tflite_model.h"
#include "tests/support/testing.h"

namespace aiot::services {
namespace {

using aiot::test_support::WaitFor;
using mqtt::testing::IoThread;
using nlohmann::json;
using testing::ClientConfig;
using testing::Collector;
using testing::Publisher;

// A reading drawn from the test model's reference profile (uniform: rotation 600±50,
// temperature 40±5, vibration 150±25, sound 50±5), with `temperature_shift` added.
std::string ProfileReading(std::mt19937& rng, int seq, double temperature_shift) {
  auto u = [&rng](double mid, double half) {
    return std::uniform_real_distribution<double>(mid - half, mid + half)(rng);
  };
  const double rotation = u(600, 50), temperature = u(40, 5) + temperature_shift,
               vibration = u(150, 25), sound = u(50, 5);
  return fmt::format(
      R"({{"deviceID":"fan-{:03}","rotation":{:.2f},"temperature":{:.2f},"vibration":{:.2f},)"
      R"("sound":{:.2f}}})",
      seq % 50, rotation, temperature, vibration, sound);
}

mqtt::MqttClientConfig Inproc(const std::string& id) { return ClientConfig("inproc://", id); }

class PredictorEmbeddedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::WriteFanTflite(dir_.Path("m.tflite"), "fan-mlp", 1.0f, 55.0f).ok());
    mqtt::broker::BrokerConfig bc;
    bc.listeners = {"127.0.0.1:0"};
    bc.sys_interval = 0;
    broker_ = std::make_unique<mqtt::broker::BrokerServer>(bc, registry_, runtime_.contexts());
    runtime_.Start();
    ASSERT_TRUE(broker_->Start().ok());
    config_.model = dir_.Path("m.tflite");
    config_.model_name = "fan-mlp@1";
    config_.qos = 1;
  }
  void TearDown() override {
    if (broker_) broker_->Stop();
    broker_.reset();
    runtime_.Stop();
    runtime_.Join();
  }

  std::unique_ptr<Predictor> StartPredictor() {
    auto p = std::make_unique<Predictor>(config_, Inproc("predictor"), runtime_.context(0), models_,
                                         MakeTfliteLoader(), registry_, SystemClock::Instance(),
                                         mqtt::broker::MakeInprocFactory(broker_->broker()),
                                         MakeTfliteDriftWatch(config_.drift));
    EXPECT_TRUE(p->Start().ok());
    EXPECT_TRUE(WaitFor([&] { return p->client()->state() == mqtt::ConnectionState::kConnected; }));
    return p;
  }

  testing::TempDir dir_;
  prometheus::Registry registry_;
  net::Runtime runtime_{2};
  std::unique_ptr<mqtt::broker::BrokerServer> broker_;
  PredictorConfig config_;
  ModelHolder models_;
};

// Telemetry from the model's reference profile raises no drift event; the same telemetry with
// temperature +20 does, naming temperature with its PSI and KS figures; back on profile, the
// drift ends with a second event. Seeded data and a fixed check cadence: deterministic.
TEST_F(PredictorEmbeddedTest, DriftEventWhenTemperatureShiftsAndNoneOnUndriftedData) {
  config_.drift.window = 1000;
  config_.drift.check_every = 250;
  config_.drift.reference = "model";  // the model's profile (the data this test draws from)
  auto predictor = StartPredictor();
  Collector out(runtime_.context(1), Inproc("collector"), {"fan/anomaly", "aiot/events/drift"},
                mqtt::broker::MakeInprocFactory(broker_->broker()));
  ASSERT_TRUE(out.WaitSubscribed());
  Publisher pub(runtime_.context(1), Inproc("fan-sim"),
                mqtt::broker::MakeInprocFactory(broker_->broker()));
  ASSERT_TRUE(pub.WaitConnected());
  std::mt19937 rng(20261122);
  int sent = 0;
  auto send = [&](int n, double shift) {
    for (int i = 0; i < n; ++i, ++sent) {
      pub.Publish("fan/messages", ProfileReading(rng, sent, shift));
    }
    ASSERT_TRUE(pub.WaitAcked(120));
    ASSERT_TRUE(out.WaitCount("fan/anomaly", static_cast<size_t>(sent), 120))
        << out.Count("fan/anomaly") << " of " << sent;
  };

  // 1. Undrifted: 3,000 readings, 12 checks over a full window.
  send(3000, 0.0);
  // A check's event is published right after the anomaly of the reading that triggered it, and
  // the collector gets the predictor's messages in publish order: one more reading's anomaly
  // means every event so far has arrived.
  send(1, 0.0);
  EXPECT_EQ(out.Count("aiot/events/drift"), 0u) << out.On("aiot/events/drift")[0].dump();

  // 2. Temperature +20: the window shifts.
  send(1000, 20.0);
  send(1, 20.0);
  auto events = out.On("aiot/events/drift");
  ASSERT_EQ(events.size(), 1u);
  const json& e = events[0];
  EXPECT_EQ(e["event"], "drift");
  EXPECT_EQ(e["drift"], true);
  EXPECT_EQ(e["model"], "fan-mlp@1");
  EXPECT_EQ(e["level"], "warning");
  EXPECT_EQ(e["reference"]["kind"], "model");
  EXPECT_EQ(e["window"]["samples"], 1000);
  EXPECT_EQ(e["thresholds"]["psi"], 0.25);
  ASSERT_EQ(e["features_drifted"].size(), 1u) << e.dump();
  EXPECT_EQ(e["features_drifted"][0]["name"], "temperature");
  EXPECT_NE(e["message"].get<std::string>().find("temperature (PSI"), std::string::npos)
      << e["message"];
  const json& report = e["report"];
  EXPECT_EQ(report["drift"], true);
  EXPECT_GE(report["samples"].get<int>(), 100);
  ASSERT_EQ(report["features"].size(), 4u);
  for (const json& f : report["features"]) {
    const std::string name = f["name"];
    SCOPED_TRACE(f.dump());
    ASSERT_TRUE(f["psi"].is_number());
    ASSERT_TRUE(f["ks_statistic"].is_number());
    ASSERT_TRUE(f["ks_p_value"].is_number());
    if (name == "temperature") {
      EXPECT_GT(f["psi"].get<double>(), 0.25);
      EXPECT_EQ(f["psi_level"], "significant");
      EXPECT_EQ(f["ks_drift"], true);
      EXPECT_GT(f["ks_statistic"].get<double>(), 0.1);
      EXPECT_LT(f["ks_p_value"].get<double>(), 1e-6);
      EXPECT_GT(f["window_mean"].get<double>(), f["reference_mean"].get<double>() + 2);
    } else {
      EXPECT_LT(f["psi"].get<double>(), 0.1);
      EXPECT_EQ(f["psi_level"], "none");
      EXPECT_EQ(f["ks_drift"], false);
    }
  }

  // 3. Back on profile: once the window holds undrifted readings again, the drift ends.
  send(2000, 0.0);
  send(1, 0.0);
  events = out.On("aiot/events/drift");
  ASSERT_EQ(events.size(), 2u) << events.back().dump();
  EXPECT_EQ(events[1]["drift"], false);
  EXPECT_EQ(events[1]["level"], "ok");
  EXPECT_EQ(events[1]["report"]["drift"], false);
  predictor->Stop();
}

// BrokerServer::Stop returns only once every connection is closed, so the server can be destroyed
// while its cores keep running (as when a test or `aiot up` stops the broker before the runtime).
// It used to return with the links' close handlers still queued: they then ran against the
// destroyed broker (the CompatTest segfault under load). Run a few times: it was a race.
TEST_F(PredictorEmbeddedTest, BrokerStopClosesEveryConnectionBeforeReturning) {
  IoThread io;
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    if (!broker_) {
      mqtt::broker::BrokerConfig bc;
      bc.listeners = {"127.0.0.1:0"};
      bc.sys_interval = 0;
      broker_ = std::make_unique<mqtt::broker::BrokerServer>(bc, registry_, runtime_.contexts());
      ASSERT_TRUE(broker_->Start().ok());
    }
    const std::string url = fmt::format("tcp://127.0.0.1:{}", broker_->ports().at(0));
    auto predictor = StartPredictor();
    auto out = std::make_unique<Collector>(io.io(), ClientConfig(url, "collector"),
                                           std::vector<std::string>{"fan/anomaly"});
    ASSERT_TRUE(out->WaitSubscribed());
    auto pub = std::make_unique<Publisher>(io.io(), ClientConfig(url, "fan-sim"));
    ASSERT_TRUE(pub->WaitConnected());
    for (int i = 0; i < 200; ++i) {
      pub->Publish("fan/messages", testing::Reading(fmt::format("fan-{}", i), 50, i));
    }
    ASSERT_TRUE(out->WaitCount("fan/anomaly", 200));
    predictor->Stop();
    predictor.reset();
    // TCP clients still connected (and more telemetry in flight) while the broker stops.
    for (int i = 0; i < 200; ++i) pub->Publish("fan/messages", testing::Reading("late", 50, i), 0);
    broker_->Stop();
    EXPECT_EQ(broker_->broker().stats().sockets.load(), 0u);
    broker_.reset();  // the runtime's cores keep running
    pub.reset();
    out.reset();
  }
}

}  // namespace
}  // namespace aiot::services
