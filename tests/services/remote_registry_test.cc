// `aiot predictor --registry URL` on its own broker (mosquitto), following the model registry of a
// real `aiot up` over HTTP: it starts with the production model, switches when a new version is
// promoted through the API (no message dropped on the way), and keeps the serving model when a
// promoted artifact does not verify.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/sha256.h"
#include "harness.h"
#include "services/test_models.h"
#include "tests/support/testing.h"

namespace aiot::services {
namespace {

using aiot::test_support::ReadWholeFile;
using aiot::test_support::WaitFor;
using mqtt::testing::FreePort;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using nlohmann::json;
using testing::ClientConfig;
using testing::Collector;
using testing::Http;

// A child process with stdout and stderr in `log`; SIGTERM and reaped on destruction.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() { Stop(); }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGTERM, wait; the exit status (128 + signal when killed by one).
  int Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    }
    return exit_;
  }

 private:
  pid_t pid_ = -1;
  int exit_ = -1;
};

// The first sample of `name` (with any labels) in a Prometheus text exposition, or -1.
double Metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  double sum = -1;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != ' ' && next != '{') continue;
    sum = std::max(sum, 0.0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class RemoteRegistryTest : public ::testing::Test {
 protected:
  // Pushes `model_file` as a new version of `name`; returns {version, sha256}.
  std::pair<int64_t, std::string> Push(const std::string& model_file,
                                       const std::string& name = "fan-mlp") {
    auto r = Http(up_port_, "POST", "/api/v1/models/" + name + "/versions",
                  ReadWholeFile(model_file), token_);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("version")) return {0, ""};
    return {j["version"].get<int64_t>(), j["sha256"].get<std::string>()};
  }
  void Promote(int64_t version, const std::string& name = "fan-mlp") {
    auto r =
        Http(up_port_, "POST", fmt::format("/api/v1/models/{}/versions/{}/stage", name, version),
             R"({"stage":"production"})", token_);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  std::string ServingModel(uint16_t port) {
    auto r = Http(port, "GET", "/api/v1/predictor/model");
    auto j = json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() ? j.value("model", "") : "";
  }

  // The registry host: a real `aiot up` (no fleet, no bootstrap model) with its broker on
  // `mqtt_port`, up once it answers /healthz; reads the admin token it generates.
  void StartUp(uint16_t mqtt_port) {
    up_port_ = FreePort();
    up_.emplace(std::vector<std::string>{AIOT_BIN, "up", "--set",
                                         fmt::format("http.listen=127.0.0.1:{}", up_port_), "--set",
                                         fmt::format("broker.listeners=[127.0.0.1:{}]", mqtt_port),
                                         "--set", "registry.data_dir=" + data_dir_, "--set",
                                         "store.path=" + dir_.Path("telemetry.db"), "--set",
                                         "bootstrap.enabled=false"},
                dir_.Path("up.log"));
    ASSERT_TRUE(
        WaitFor([&] { return up_->running() && Http(up_port_, "GET", "/healthz").status == 200; },
                std::chrono::seconds(60)))
        << ReadWholeFile(dir_.Path("up.log"));
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(token_file_); }));
    std::getline(std::ifstream(token_file_), token_);
    ASSERT_FALSE(token_.empty());
  }

  // `aiot predictor` on the broker at `mqtt_url` following this registry over HTTP (polling every
  // `poll_ms`), its scoring API on 127.0.0.1:`http_port`; then `extra`.
  std::vector<std::string> PredictorArgs(const std::string& mqtt_url, const std::string& poll_ms,
                                         uint16_t http_port,
                                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {AIOT_BIN,
                                     "predictor",
                                     "--mqtt",
                                     mqtt_url,
                                     "--registry",
                                     fmt::format("http://127.0.0.1:{}", up_port_),
                                     "--token-file",
                                     token_file_,
                                     "--registry-poll-ms",
                                     poll_ms,
                                     "--model-dir",
                                     dir_.Path("predictor-models"),
                                     "--http",
                                     fmt::format("127.0.0.1:{}", http_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Waits (60 s) until `predictor`, with its scoring API on `port`, serves `model`.
  bool WaitServing(Child& predictor, uint16_t port, const std::string& model) {
    return WaitFor([&] { return predictor.running() && ServingModel(port) == model; },
                   std::chrono::seconds(60));
  }

  testing::TempDir dir_;
  const std::string data_dir_ = dir_.Path("var");
  const std::string token_file_ = data_dir_ + "/admin.token";
  uint16_t up_port_ = 0;
  std::optional<Child> up_;
  std::string token_;
};

TEST_F(RemoteRegistryTest, PredictorFollowsPromotionsOverHttp) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  ASSERT_NO_FATAL_FAILURE(StartUp(FreePort()));

  // Two models that disagree about a reading at sound 50 (they score by sound around `center`).
  const std::string v1_file = dir_.Path("v1.tflite"), v2_file = dir_.Path("v2.tflite"),
                    v3_file = dir_.Path("v3.tflite");
  ASSERT_TRUE(testing::WriteFanTflite(v1_file, "fan-mlp", 1.0f, 55.0f, true).ok());
  ASSERT_TRUE(testing::WriteFanTflite(v2_file, "fan-mlp", 1.0f, 45.0f, true).ok());
  ASSERT_TRUE(testing::WriteFanTflite(v3_file, "fan-mlp", 1.0f, 50.0f, true).ok());
  auto [v1, sha1] = Push(v1_file);
  ASSERT_EQ(v1, 1);
  Promote(v1);

  // The predictor elsewhere: its own broker, the registry only over HTTP (no shared disk, no
  // shared broker), polling fast for the test.
  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  const uint16_t port = FreePort();
  Child predictor(PredictorArgs(broker.url(), "200", port), dir_.Path("predictor.log"));
  ASSERT_TRUE(WaitServing(predictor, port, "fan-mlp@1"))
      << ReadWholeFile(dir_.Path("predictor.log"));

  IoThread io;
  Collector out(io.io(), ClientConfig(broker.url(), "collector"), {"fan/anomaly"});
  ASSERT_TRUE(out.WaitSubscribed());
  testing::Publisher pub(io.io(), ClientConfig(broker.url(), "publisher"));
  ASSERT_TRUE(pub.WaitConnected());
  // The predictor may still be subscribing: probe until results come back.
  ASSERT_TRUE(WaitFor([&] {
    pub.Publish("fan/messages", testing::Reading("probe", 50), 1);
    return out.Count("fan/anomaly") > 0;
  }));
  // From now on every reading of fan-7 must be scored.
  size_t sent = 0;
  auto send = [&] {
    pub.Publish("fan/messages", testing::Reading("fan-7", 50, static_cast<int>(sent)), 1);
    ++sent;
  };
  auto results = [&] {
    std::vector<json> mine;
    for (auto& r : out.On("fan/anomaly")) {
      if (r.value("deviceID", "") == "fan-7") mine.push_back(r);
    }
    return mine;
  };
  send();
  ASSERT_TRUE(WaitFor([&] { return results().size() == 1; }));
  EXPECT_EQ(results()[0]["model"], "fan-mlp@1");
  EXPECT_LT(results()[0]["score"].get<double>(), 0.5);

  // A new version promoted through the API reaches the predictor; telemetry keeps flowing through
  // the swap and every reading is scored.
  auto [v2, sha2] = Push(v2_file);
  ASSERT_EQ(v2, 2);
  Promote(v2);
  ASSERT_TRUE(WaitFor([&] {
    send();
    auto r = results();
    return !r.empty() && r.back()["model"] == "fan-mlp@2";
  })) << ReadWholeFile(dir_.Path("predictor.log"));
  ASSERT_TRUE(pub.WaitAcked());
  ASSERT_TRUE(WaitFor([&] { return results().size() >= sent; }));
  EXPECT_EQ(results().size(), sent);  // none dropped, none twice
  EXPECT_GT(results().back()["score"].get<double>(), 0.5);
  EXPECT_EQ(ServingModel(port), "fan-mlp@2");

  // v3's artifact is damaged on the registry's disk after it was registered: the predictor
  // downloads it, refuses it (sha256), counts it and keeps serving v2.
  auto [v3, sha3] = Push(v3_file);
  ASSERT_EQ(v3, 3);
  {
    const std::string artifact = data_dir_ + "/artifacts/" + sha3;
    std::string bytes = ReadWholeFile(artifact);
    ASSERT_FALSE(bytes.empty());
    bytes[bytes.size() / 2] ^= 0x5a;
    std::ofstream(artifact, std::ios::binary | std::ios::trunc) << bytes;
  }
  Promote(v3);
  ASSERT_TRUE(WaitFor([&] {
    return Metric(Http(port, "GET", "/metrics").body, "aiot_predictor_registry_failures_total") >=
           1;
  })) << Http(port, "GET", "/metrics").body;
  EXPECT_NE(Http(port, "GET", "/metrics").body.find("reason=\"sha256\""), std::string::npos);
  EXPECT_EQ(ServingModel(port), "fan-mlp@2");
  send();
  ASSERT_TRUE(WaitFor([&] { return results().size() == sent; }));
  EXPECT_EQ(results().back()["model"], "fan-mlp@2");
  EXPECT_EQ(predictor.Stop(), 0);
}

// With a time-to-failure model configured (--registry-ttf-model, default ttf_model_name) the
// predictor follows its production version too and serves it beside the fault model; a classifier
// promoted under that name is refused (counted) and the serving time-to-failure model stays.
TEST_F(RemoteRegistryTest, PredictorFollowsTheTimeToFailureModelToo) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  ASSERT_NO_FATAL_FAILURE(StartUp(FreePort()));
  const std::string fault_file = dir_.Path("fault.tflite"), ttf_file = dir_.Path("ttf.tflite");
  ASSERT_TRUE(testing::WriteFanTflite(fault_file, "fan-mlp", 1.0f, 55.0f, true).ok());
  ASSERT_TRUE(testing::WriteFanTtfTflite(ttf_file, "fan-ttf", 100.0f).ok());
  ASSERT_EQ(Push(fault_file).first, 1);
  Promote(1);
  ASSERT_EQ(Push(ttf_file, "fan-ttf").first, 1);
  Promote(1, "fan-ttf");

  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  const uint16_t port = FreePort();
  Child predictor(PredictorArgs(broker.url(), "200", port, {"--registry-ttf-model", "fan-ttf"}),
                  dir_.Path("predictor.log"));
  ASSERT_TRUE(WaitServing(predictor, port, "fan-mlp@1"))
      << ReadWholeFile(dir_.Path("predictor.log"));
  IoThread io;
  Collector out(io.io(), ClientConfig(broker.url(), "collector"), {"fan/anomaly"});
  ASSERT_TRUE(out.WaitSubscribed());
  testing::Publisher pub(io.io(), ClientConfig(broker.url(), "publisher"));
  ASSERT_TRUE(pub.WaitConnected());
  int seq = 0;
  auto last_result = [&] {
    pub.Publish("fan/messages", testing::Reading("fan-7", 50, seq++), 1);
    auto r = out.On("fan/anomaly");
    return r.empty() ? json() : r.back();
  };
  json r;
  ASSERT_TRUE(WaitFor([&] {
    r = last_result();
    return r.is_object() && r.contains("ttf_model");
  })) << ReadWholeFile(dir_.Path("predictor.log"));
  EXPECT_EQ(r["model"], "fan-mlp@1");
  EXPECT_EQ(r["ttf_model"], "fan-ttf@1");
  EXPECT_NEAR(r["time_to_failure_h"].get<double>(), 50.0, 0.01);

  // A classifier promoted as fan-ttf@2: downloaded, verified, refused by the predictor's
  // time-to-failure slot; both serving models stay.
  ASSERT_EQ(Push(fault_file, "fan-ttf").first, 2);
  Promote(2, "fan-ttf");
  ASSERT_TRUE(WaitFor([&] {
    return Metric(Http(port, "GET", "/metrics").body, "aiot_predictor_model_wrong_task_total") >= 1;
  })) << ReadWholeFile(dir_.Path("predictor.log"));
  EXPECT_NE(Http(port, "GET", "/metrics").body.find("reason=\"load\""), std::string::npos);
  EXPECT_NE(ReadWholeFile(dir_.Path("predictor.log")).find("refused as the time-to-failure model"),
            std::string::npos)
      << ReadWholeFile(dir_.Path("predictor.log"));
  const size_t before = out.Count("fan/anomaly");
  ASSERT_TRUE(WaitFor([&] {
    r = last_result();
    return out.Count("fan/anomaly") > before;
  }));
  r = out.On("fan/anomaly").back();
  EXPECT_EQ(r["model"], "fan-mlp@1");
  EXPECT_EQ(r["ttf_model"], "fan-ttf@1");
  EXPECT_EQ(ServingModel(port), "fan-mlp@1");
  EXPECT_EQ(predictor.Stop(), 0);
}

// On `aiot up`'s own broker the predictor also hears the registry's `promoted` events: with
// polling all but off (10 min), a promotion still reaches it at once, fetched over HTTP (the
// event's local `path` is not used).
TEST_F(RemoteRegistryTest, PromotedEventOnTheSharedBrokerTriggersTheFetch) {
  const uint16_t mqtt_port = FreePort();
  ASSERT_NO_FATAL_FAILURE(StartUp(mqtt_port));
  const std::string v1_file = dir_.Path("v1.tflite"), v2_file = dir_.Path("v2.tflite");
  ASSERT_TRUE(testing::WriteFanTflite(v1_file, "fan-mlp", 1.0f, 55.0f, true).ok());
  ASSERT_TRUE(testing::WriteFanTflite(v2_file, "fan-mlp", 1.0f, 45.0f, true).ok());
  ASSERT_EQ(Push(v1_file).first, 1);
  Promote(1);

  const uint16_t port = FreePort();
  Child predictor(PredictorArgs(fmt::format("tcp://127.0.0.1:{}", mqtt_port), "600000", port,
                                {"--client-id", "remote-predictor"}),
                  dir_.Path("predictor.log"));
  ASSERT_TRUE(WaitServing(predictor, port, "fan-mlp@1"))
      << ReadWholeFile(dir_.Path("predictor.log"));
  // Subscribed to the model events once it logged the broker connection.
  ASSERT_TRUE(WaitFor([&] {
    return ReadWholeFile(dir_.Path("predictor.log")).find("connected to the broker") !=
           std::string::npos;
  })) << ReadWholeFile(dir_.Path("predictor.log"));
  ASSERT_EQ(Push(v2_file).first, 2);
  Promote(2);
  ASSERT_TRUE(WaitFor([&] { return ServingModel(port) == "fan-mlp@2"; }, std::chrono::seconds(30)))
      << ReadWholeFile(dir_.Path("predictor.log"));
  EXPECT_EQ(Metric(Http(port, "GET", "/metrics").body, "aiot_predictor_model_load_failures_total"),
            0);
  EXPECT_EQ(predictor.Stop(), 0);
}

}  // namespace
}  // namespace aiot::services
