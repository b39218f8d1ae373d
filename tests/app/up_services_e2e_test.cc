// `aiot up` without its embedded broker and predictor (`up.broker: false`, `up.predictor: false`),
// as the cluster overlay runs it (deploy/k8s/cluster): the real binary, mosquitto as the external
// broker, mosquitto_pub as a device. Its services are clients of mosquitto: a reading published
// there is stored (query API) and kept for training (datastore export); the bootstrap model is
// still trained and promoted; nothing listens on broker.listeners and POST /score is not served.
// The combinations that need the embedded broker (bridge.enabled, --simulate) are refused, saying
// why, and `config check` refuses an inproc:// up.mqtt.url.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mqtt/client/test_util.h"
#include "tests/app/up_harness.h"
#include "tests/support/testing.h"

namespace {

namespace fs = std::filesystem;
using aiot::mqtt::testing::Mosquitto;
using aiot::test_support::WaitFor;
using aiot::up_test::Child;
using aiot::up_test::FreePort;
using aiot::up_test::Shell;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// True when a TCP connection to 127.0.0.1:port is accepted.
bool Listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

class AiotUpServices : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aiot_up_services_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // The command line of `aiot` with the test's directories, ports and a small bootstrap model.
  std::vector<std::string> Argv(const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {
        AIOT_BIN,
        "--set",
        "http.listen=127.0.0.1:" + std::to_string(http_port_),
        "--set",
        "broker.listeners=[127.0.0.1:" + std::to_string(broker_port_) + "]",
        "--set",
        "registry.data_dir=" + (dir_ / "var").string(),
        "--set",
        "store.path=" + (dir_ / "telemetry.db").string(),
        "--set",
        "datastore.flush_interval_ms=100",
        "--set",
        "bootstrap.rows=20000",
        "--set",
        "bootstrap.epochs=2",
        "--set",
        "bootstrap.hidden=[8]",
        "--set",
        "up.broker=false",
        "--set",
        "up.predictor=false"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  static std::string Joined(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += "'" + a + "' ";
    return s;
  }

  fs::path dir_;
  int http_port_ = FreePort();
  int broker_port_ = FreePort();
};

TEST_F(AiotUpServices, ServicesUseTheExternalBrokerAndNoPredictorRuns) {
  for (const char* peer : {"/usr/bin/mosquitto_pub", "/usr/bin/curl"}) {
    if (access(peer, X_OK) != 0) {
      AIOT_SKIP_WITHOUT_PEER(peer << " not installed (scripts/setup.sh --test installs it)");
    }
  }
  if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  Mosquitto mosquitto;
  ASSERT_TRUE(mosquitto.Start());

  const fs::path log = dir_ / "up.log";
  Child up = Child::Spawn(Argv({"--set", "up.mqtt.url=" + mosquitto.url(), "--set",
                                "up.mqtt.client_id=cluster", "up", "--log-level", "info"}),
                          /*capture=*/false, log.string());
  ASSERT_GT(up.pid, 0);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(log).find("aiot is up") != std::string::npos; },
                      std::chrono::seconds(180), std::chrono::milliseconds(100)))
      << "aiot up did not come up:\n"
      << ReadAll(log);
  const std::string text = ReadAll(log);
  EXPECT_NE(
      text.find("no embedded broker (up.broker: false): services connect to " + mosquitto.url()),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("no embedded predictor (up.predictor: false)"), std::string::npos) << text;
  EXPECT_NE(text.find("promoted it to production"), std::string::npos)
      << "the bootstrap model is still trained for the external predictors\n"
      << text;
  EXPECT_FALSE(Listening(broker_port_)) << "an MQTT listener on broker.listeners";

  const std::string url = "http://127.0.0.1:" + std::to_string(http_port_);
  std::string token;
  std::getline(std::ifstream(dir_ / "var" / "admin.token"), token);
  ASSERT_FALSE(token.empty());
  const std::string curl = "curl -s -H 'Authorization: Bearer " + token + "' ";
  EXPECT_EQ(Shell("curl -s -o /dev/null -w '%{http_code}' " + url + "/readyz"), "200");
  EXPECT_EQ(Shell(curl + "-o /dev/null -w '%{http_code}' -X POST -d '{}' " + url + "/score"), "404")
      << "POST /score is the embedded predictor's";

  // A device's reading, published to mosquitto, reaches the store and the datastore. Published
  // again until stored: the store's subscription may not be in place yet.
  const std::string pub = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(mosquitto.port()) +
                          " -q 1 -t fan/messages -m '{\"deviceID\":\"fan-ext-1\",\"rotation\":"
                          "1480,\"temperature\":41.5,\"vibration\":0.21,\"sound\":52}'";
  const std::string series_url = url +
                                 "/api/v1/series?devices=fan-ext-1&fields=temperature&from=0&to="
                                 "4102444800000";
  std::string series;
  EXPECT_TRUE(WaitFor(
      [&] {
        Shell(pub);
        series = Shell(curl + "'" + series_url + "'");
        return series.find("41.5") != std::string::npos;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200)))
      << series;
  std::string csv;
  EXPECT_TRUE(WaitFor(
      [&] {
        csv = Shell(curl + "'" + url + "/api/v1/data/export?devices=fan-ext-1'");
        return csv.find("fan-ext-1") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << csv;

  EXPECT_EQ(up.Stop(SIGINT), 0) << "aiot up did not exit cleanly";
  if (HasFailure()) std::cerr << "aiot up log:\n" << ReadAll(log);
}

// What needs the embedded broker is refused before anything starts; config check names the key.
TEST_F(AiotUpServices, WhatNeedsTheEmbeddedBrokerIsRefused) {
  const std::string simulate =
      Shell("timeout 120 " + Joined(Argv({"up", "--simulate", "2"})) + " 2>&1; echo \"exit=$?\"");
  EXPECT_NE(simulate.find("--simulate (the fleet connects in-process) needs the embedded broker, "
                          "but up.broker is false"),
            std::string::npos)
      << simulate;
  EXPECT_NE(simulate.find("exit=1"), std::string::npos) << simulate;
  EXPECT_EQ(simulate.find("aiot is up"), std::string::npos) << simulate;

  const std::string bridge =
      Shell("timeout 120 " + Joined(Argv({"--set", "bridge.enabled=true", "up"})) +
            " 2>&1; echo \"exit=$?\"");
  EXPECT_NE(bridge.find("bridge.enabled (the bridge inside the broker) needs the embedded broker"),
            std::string::npos)
      << bridge;
  EXPECT_NE(bridge.find("exit=1"), std::string::npos) << bridge;

  std::ofstream(dir_ / "inproc.yaml") << "up:\n  broker: false\n  mqtt:\n    url: inproc://\n";
  const std::string checked =
      Shell(std::string(AIOT_BIN) + " config check " + (dir_ / "inproc.yaml").string() + " 2>&1");
  EXPECT_NE(checked.find("up.mqtt.url"), std::string::npos) << checked;
  EXPECT_NE(checked.find("broker is false"), std::string::npos) << checked;
  std::ofstream(dir_ / "good.yaml") << "up:\n  broker: false\n  predictor: false\n  mqtt:\n"
                                    << "    url: tcp://aiot-broker:1883\n";
  EXPECT_EQ(Shell(std::string(AIOT_BIN) + " config check " + (dir_ / "good.yaml").string() +
                  " >/dev/null 2>&1; echo $?"),
            "0\n");
}

}  // namespace
