// `aiot predictor` as a user runs it: against Debian's mosquitto, fed by mosquitto_pub, with the
// scoring API on --http; SIGTERM stops it cleanly.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "services/test_models.h"
#include "tests/support/testing.h"

namespace aiot::services {
namespace {

using aiot::test_support::WaitFor;
using mqtt::testing::FreePort;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using nlohmann::json;
using testing::ClientConfig;
using testing::Collector;

TEST(CliPredictorTest, RunsAloneAgainstMosquitto) {
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  testing::TempDir dir;
  const std::string model = dir.Path("fan.tflite");
  ASSERT_TRUE(testing::WriteFanTflite(model, "fan-mlp", 1.0f, 55.0f, true).ok());
  const uint16_t http_port = FreePort();

  std::vector<std::string> args = {AIOT_BIN,
                                   "predictor",
                                   "--mqtt",
                                   broker.url(),
                                   "--model",
                                   model,
                                   "--model-name",
                                   "fan-mlp@7",
                                   "--http",
                                   fmt::format("127.0.0.1:{}", http_port),
                                   "--actuate",
                                   "--set",
                                   "predictor.alerts.enter_critical_after=2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, AIOT_BIN, nullptr, nullptr, argv.data(), environ), 0);

  IoThread io;
  Collector out(io.io(), ClientConfig(broker.url(), "collector"),
                {"fan/anomaly", "aiot/alerts", "fan/control/#", "aiot/deadletter"});
  ASSERT_TRUE(out.WaitSubscribed());
  // Ready once the HTTP API answers with the model.
  ASSERT_TRUE(WaitFor(
      [&] { return testing::Http(http_port, "GET", "/api/v1/predictor/model").status == 200; },
      std::chrono::seconds(60)));
  ASSERT_TRUE(WaitFor([&] { return testing::Http(http_port, "GET", "/readyz").status == 200; }));
  // The predictor may still be subscribing: probe with mosquitto_pub until a result comes back.
  auto pub = [&](const std::string& payload) {
    std::string cmd = fmt::format("mosquitto_pub -h 127.0.0.1 -p {} -q 1 -t fan/messages -m '{}'",
                                  broker.port(), payload);
    return std::system(cmd.c_str()) == 0;
  };
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(pub(testing::Reading("probe", 50)));
    return out.Count("fan/anomaly") > 0;
  }));
  const size_t before = out.Count("fan/anomaly");
  ASSERT_TRUE(pub(testing::Reading("fan-2", 62, 1)));
  ASSERT_TRUE(pub(testing::Reading("fan-2", 63, 2)));
  ASSERT_TRUE(pub(R"({"deviceID":"fan-2","rotation":600})"));
  ASSERT_TRUE(out.WaitCount("fan/anomaly", before + 2));
  ASSERT_TRUE(out.WaitCount("aiot/alerts", 1));
  ASSERT_TRUE(out.WaitCount("fan/control/fan-2", 1));
  ASSERT_TRUE(out.WaitCount("aiot/deadletter", 1));
  auto results = out.On("fan/anomaly");
  EXPECT_EQ(results.back()["model"], "fan-mlp@7");
  EXPECT_EQ(results.back()["level"], "critical");
  EXPECT_EQ(out.On("fan/control/fan-2")[0]["command"], "set-actuator");
  EXPECT_EQ(out.On("aiot/deadletter")[0]["reason"], "missing field `temperature`");

  auto r = testing::Http(http_port, "POST", "/score", R"({"params":[600,40,150,62]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["fault"], 1);
  r = testing::Http(http_port, "GET", "/metrics");
  EXPECT_NE(r.body.find("aiot_predictor_scored_total"), std::string::npos);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace aiot::services
