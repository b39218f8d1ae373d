// Compatibility: a predictor written like the reference's (python3 + paho-mqtt, one POST /score
// per message) works unchanged against aiot's scoring API, through Debian's mosquitto and
// through aiot's embedded broker.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "harness.h"
#include "mqtt/broker/broker_server.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "services/scoring_api.h"
#include "services/test_models.h"
#include "services/tflite_model.h"
#include "tests/support/testing.h"

extern char** environ;

namespace aiot::services {
namespace {

using aiot::test_support::WaitFor;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using testing::ClientConfig;
using testing::Collector;
using testing::Publisher;
using testing::Reading;

std::string ScriptPath() {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/services/reference_predictor.py";
}

// The reference-style predictor as a child process.
class ReferencePredictor {
 public:
  ReferencePredictor(uint16_t mqtt_port, uint16_t http_port) {
    std::vector<std::string> env = {
        "MQTT_HOST=127.0.0.1",
        fmt::format("MQTT_PORT={}", mqtt_port),
        "MQTT_DEV_TOPIC=fan/messages",
        "MQTT_PREDICT_TOPIC=fan/anomaly",
        fmt::format("SCORING_URL=http://127.0.0.1:{}/score", http_port),
        "PATH=/usr/bin:/bin",
    };
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string python = "/usr/bin/python3", script = ScriptPath();
    std::vector<char*> argv = {python.data(), script.data(), nullptr};
    if (posix_spawn(&pid_, python.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
    }
  }
  ~ReferencePredictor() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

bool HavePaho() {
  return std::system("/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1") == 0;
}

class CompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HavePaho()) AIOT_SKIP_WITHOUT_PEER("/usr/bin/python3 lacks paho-mqtt (python3-paho-mqtt)");
    if (!std::filesystem::exists(ScriptPath())) GTEST_SKIP() << "no " << ScriptPath();
    ASSERT_TRUE(testing::WriteFanTflite(dir_.Path("m.tflite"), "fan-mlp", 1.0f, 55.0f, true).ok());
    auto m = LoadTfliteModel(ModelSource{dir_.Path("m.tflite"), "fan-mlp@1", ""});
    ASSERT_TRUE(m.ok());
    models_.Swap(*m);
    RegisterScoringRoutes(router_, models_, ThresholdConfig{});
    net::HttpServerConfig http;
    http.listen = "127.0.0.1:0";
    server_ = std::make_unique<net::HttpServer>(http, runtime_, router_, registry_);
    runtime_.Start();
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }

  // Runs the reference predictor against the broker at `mqtt_port` and checks that every reading
  // gets the fault the scoring API gives it.
  void RunReferencePipeline(const std::string& broker_url, uint16_t mqtt_port) {
    IoThread io;
    Collector out(io.io(), ClientConfig(broker_url, "collector"), {"fan/anomaly"});
    ASSERT_TRUE(out.WaitSubscribed());
    Publisher pub(io.io(), ClientConfig(broker_url, "fan-sim"));
    ASSERT_TRUE(pub.WaitConnected());
    ReferencePredictor reference(mqtt_port, server_->port());
    ASSERT_TRUE(reference.running());
    // Until the script has subscribed, readings are lost (QoS 0, like the reference): probe.
    ASSERT_TRUE(WaitFor(
        [&] {
          pub.Publish("fan/messages", Reading("probe", 50), 0);
          return out.Count("fan/anomaly") > 0;
        },
        std::chrono::seconds(60)));
    ASSERT_TRUE(WaitFor([&] {
      size_t n = out.Count("fan/anomaly");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return out.Count("fan/anomaly") == n;
    }));
    const size_t probes = out.Count("fan/anomaly");
    constexpr int kN = 200;
    for (int i = 0; i < kN; ++i) {
      pub.Publish("fan/messages", Reading(fmt::format("fan-{}", i), i % 3 == 0 ? 60 : 50, i));
    }
    ASSERT_TRUE(out.WaitCount("fan/anomaly", probes + kN, 120))
        << out.Count("fan/anomaly") - probes << " of " << kN;
    auto results = out.On("fan/anomaly");
    for (int i = 0; i < kN; ++i) {
      const auto& r = results[probes + i];
      EXPECT_EQ(r["deviceID"], fmt::format("fan-{}", i));
      EXPECT_EQ(r["fault"], i % 3 == 0 ? 1 : 0) << r.dump();
    }
  }

  testing::TempDir dir_;
  ModelHolder models_;
  prometheus::Registry registry_;
  net::Runtime runtime_{2};
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(CompatTest, ReferencePredictorThroughMosquitto) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  RunReferencePipeline(broker.url(), broker.port());
}

TEST_F(CompatTest, ReferencePredictorThroughEmbeddedBroker) {
  mqtt::broker::BrokerConfig config;
  config.listeners = {"127.0.0.1:0"};
  config.sys_interval = 0;
  mqtt::broker::BrokerServer broker(config, registry_, runtime_.contexts());
  ASSERT_TRUE(broker.Start().ok());
  const uint16_t port = broker.ports().at(0);
  RunReferencePipeline(fmt::format("tcp://127.0.0.1:{}", port), port);
  broker.Stop();
}

}  // namespace
}  // namespace aiot::services
