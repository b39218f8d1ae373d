// `aiot simulate` end to end: --history writes a labeled CSV the ML loader accepts; --replay
// publishes the reference data set's rows to a real broker (mosquitto) as telemetry.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "ml/data/dataset.h"
#include "mqtt/client/client.h"
#include "net/runtime.h"
#include "tests/sim/sim_test_util.h"
#include "tests/support/run.h"
#include "tests/support/testing.h"

namespace aiot::sim {
namespace {

using aiot::test_support::WaitFor;

std::filesystem::path TempDir(const char* name) {
  auto d =
      std::filesystem::temp_directory_path() / (std::string(name) + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// An MQTT client on a one-thread runtime of its own, watching a broker; stopped on destruction.
struct Observer {
  Observer(const std::string& url, const std::string& client_id) : runtime(1) {
    mqtt::MqttClientConfig oc;
    oc.url = url;
    oc.client_id = client_id;
    client = mqtt::Client::Create(runtime.context(0), oc);
  }
  ~Observer() {
    std::promise<void> done;
    client->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
    runtime.Stop();
    runtime.Join();
  }
  void Start() {
    runtime.Start();
    client->Start();
  }
  // Subscribes to `topic` at QoS 1, keeps every payload as JSON, and starts; true once the
  // broker granted the subscription.
  bool Collect(const std::string& topic) {
    auto subscribed = std::make_shared<std::promise<void>>();
    client->Subscribe(
        topic, {.qos = mqtt::QoS::kAtLeastOnce},
        [this](const mqtt::Message& m) {
          auto j = nlohmann::json::parse(m.payload.view(), nullptr, false);
          std::lock_guard lock(mu);
          got.push_back(std::move(j));
        },
        [subscribed](mqtt::ReasonCode) { subscribed->set_value(); });
    Start();
    return subscribed->get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  }
  // What Collect() kept, once there are at least `n` messages; empty if they did not come.
  std::vector<nlohmann::json> Collected(size_t n) {
    if (!WaitFor([&] {
          std::lock_guard lock(mu);
          return got.size() >= n;
        })) {
      return {};
    }
    std::lock_guard lock(mu);
    return got;
  }
  net::Runtime runtime;
  std::shared_ptr<mqtt::Client> client;
  std::mutex mu;
  std::vector<nlohmann::json> got;
};

TEST(CliSimulate, HistoryIsALabeledDataSet) {
  const auto dir = TempDir("aiot_cli_hist_");
  const auto csv = (dir / "h.csv").string();
  const std::string cmd =
      std::string(AIOT_BIN) + " simulate --history 400 --devices 8 --seed 5 --out " + csv;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ml::DatasetSchema schema;
  schema.label = "faulty";
  schema.features = {"rotation", "temperature", "vibration", "sound"};
  auto data = ml::LoadDataset(csv, schema);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->rows, 400u);
  EXPECT_EQ(data->cols, 4u);
  std::filesystem::remove_all(dir);
}

TEST(CliSimulate, ReplayPublishesReferenceRows) {
  if (!testing::HaveProgram("/usr/sbin/mosquitto"))
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  const auto fan =
      std::filesystem::path(src ? src : ".") / ".." / "shared" / "data" / "fan-pdm" / "fan.csv";
  if (!std::filesystem::exists(fan)) GTEST_SKIP() << "reference data not found at " << fan;
  const auto dir = TempDir("aiot_cli_replay_");
  // The first 60 rows of the reference file.
  {
    std::ifstream in(fan);
    std::ofstream out(dir / "head.csv");
    std::string line;
    for (int i = 0; i < 61 && std::getline(in, line); ++i) out << line << "\n";
  }
  testing::Mosquitto broker(dir);
  Observer watch(broker.url(), "observer");
  ASSERT_TRUE(watch.Collect("fan/messages"));

  const std::string cmd = std::string(AIOT_BIN) + " simulate --replay " +
                          (dir / "head.csv").string() + " --rate 200 --qos 1 --mqtt " +
                          broker.url();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::vector<nlohmann::json> got = watch.Collected(60);
  ASSERT_GE(got.size(), 60u);
  {
    // Row 1 of fan.csv: 4,2016-01-03 06:20:39,666.7,38.7,113.1,50.9,0
    EXPECT_EQ(got[0]["deviceID"], "fan-0004");
    EXPECT_EQ(got[0]["timeStamp"], "2016-01-03T06:20:39.000Z");
    EXPECT_DOUBLE_EQ(got[0]["rotation"].get<double>(), 666.7);
    EXPECT_DOUBLE_EQ(got[0]["sound"].get<double>(), 50.9);
    std::set<std::string> ids;
    for (const auto& j : got) ids.insert(j["deviceID"].get<std::string>());
    EXPECT_GE(ids.size(), 4u);
  }
  std::filesystem::remove_all(dir);
}

// --replay publishes the field schema's columns (fields.features), here a motor's: a CSV with
// current, voltage and temperature; a row's empty cell is left out, not sent as 0. With the fan's
// schema the same file is refused, naming the missing column.
TEST(CliSimulate, ReplayPublishesTheFieldSchemasColumns) {
  if (!testing::HaveProgram("/usr/sbin/mosquitto"))
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  const auto dir = TempDir("aiot_cli_replay_motor_");
  std::ofstream(dir / "motor.csv") << "deviceID,Current,voltage,temperature,faulty\n"
                                   << "motor-1,4.5,230.5,40,0\n"
                                   << "motor-2,9,,71.5,1\n";
  testing::Mosquitto broker(dir);
  Observer watch(broker.url(), "motor-observer");
  ASSERT_TRUE(watch.Collect("fan/messages"));
  const std::string replay = " simulate --replay " + (dir / "motor.csv").string() +
                             " --rate 100 --qos 1 --mqtt " + broker.url();
  const std::string cmd =
      std::string(AIOT_BIN) + " --set 'fields.features=[current,voltage,temperature]'" + replay;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::vector<nlohmann::json> got = watch.Collected(2);
  ASSERT_GE(got.size(), 2u);
  {
    EXPECT_EQ(got[0]["deviceID"], "motor-1");
    EXPECT_DOUBLE_EQ(got[0]["current"].get<double>(), 4.5);
    EXPECT_DOUBLE_EQ(got[0]["voltage"].get<double>(), 230.5);
    EXPECT_DOUBLE_EQ(got[0]["temperature"].get<double>(), 40);
    EXPECT_FALSE(got[0].contains("rotation")) << got[0];
    EXPECT_FALSE(got[0].contains("faulty")) << got[0];
    EXPECT_EQ(got[1]["deviceID"], "motor-2");
    EXPECT_FALSE(got[1].contains("voltage")) << got[1];
  }
  const std::string fan = std::string(AIOT_BIN) + replay + " 2>&1; echo \"exit=$?\"";
  const std::string out = test_support::RunCommand(fan, test_support::Capture::kStdout).output;
  EXPECT_NE(out.find("`rotation` is missing"), std::string::npos) << out;
  EXPECT_NE(out.find("exit=2"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

// The live fleet as a user starts it: `aiot simulate --devices N --mqtt URL` against mosquitto;
// every device publishes reference telemetry (with its spectral features) and a retained status,
// and a clean stop marks each one offline.
TEST(CliSimulate, LiveFleetPublishesTelemetryAndStatusToMosquitto) {
  if (!testing::HaveProgram("/usr/sbin/mosquitto"))
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  const auto dir = TempDir("aiot_cli_live_");
  testing::Mosquitto broker(dir);
  Observer watch(broker.url(), "live-observer");
  auto& observer = watch.client;
  std::mutex mu;
  std::map<std::string, nlohmann::json> last_reading;  // by deviceID
  std::map<std::string, std::vector<bool>> online;     // status history by device
  std::promise<void> subscribed;
  int acks = 0;
  auto on_ack = [&](mqtt::ReasonCode) {
    std::lock_guard lock(mu);
    if (++acks == 2) subscribed.set_value();
  };
  observer->Subscribe(
      "fan/messages", {.qos = mqtt::QoS::kAtLeastOnce},
      [&](const mqtt::Message& m) {
        auto j = nlohmann::json::parse(m.payload.view(), nullptr, false);
        std::lock_guard lock(mu);
        if (j.is_object() && j.contains("deviceID") && j["deviceID"].is_string())
          last_reading[j["deviceID"].get<std::string>()] = j;
      },
      on_ack);
  observer->Subscribe(
      "fan/status/+", {.qos = mqtt::QoS::kAtLeastOnce},
      [&](const mqtt::Message& m) {
        auto j = nlohmann::json::parse(m.payload.view(), nullptr, false);
        std::lock_guard lock(mu);
        if (j.is_object() && j.contains("online") && j["online"].is_boolean())
          online[m.topic.substr(11)].push_back(j["online"].get<bool>());
      },
      on_ack);
  watch.Start();
  ASSERT_EQ(subscribed.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);

  const std::string cmd = std::string(AIOT_BIN) +
                          " --log-level warn simulate --devices 5 --rate 4 --faulty 0.4"
                          " --time-scale 600 --frame 1024 --seed 3 --duration 3 --mqtt " +
                          broker.url();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    if (last_reading.size() < 5 || online.size() < 5) return false;
    for (const auto& [id, history] : online) {
      if (history.empty() || history.back()) return false;  // not yet offline
    }
    return true;
  })) << "telemetry from "
      << last_reading.size() << " devices, status from " << online.size();
  {
    std::lock_guard lock(mu);
    for (const auto& [id, j] : last_reading) {
      for (const char* f : {"timeStamp", "rotation", "temperature", "vibration", "sound"})
        EXPECT_TRUE(j.contains(f)) << id << " reading lacks " << f << ": " << j;
      EXPECT_TRUE(j.contains("spectrum")) << id << " reading lacks its DSP features: " << j;
      EXPECT_TRUE(online.count(id)) << id << " published no status";
    }
    for (const auto& [id, history] : online) {
      EXPECT_EQ(history.front(), true) << id << " did not come online first";
      EXPECT_EQ(history.back(), false) << id << " not marked offline after the stop";
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiot::sim
