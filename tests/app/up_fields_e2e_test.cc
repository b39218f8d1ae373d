// `aiot up` with a field schema that is not the fan's: a motor sending current, voltage and
// temperature. The real binary trains its first model from a CSV with those columns (generated
// here, with a label the features predict), then readings published with mosquitto_pub are scored
// (fan/anomaly, observed with mosquitto_sub), stored (the query API) and kept for training (the
// datastore's export, with those column names); the dashboard's config.json lists them; and
// `--simulate`, whose simulated machines are fans, is refused with a message saying why.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/app/up_harness.h"
#include "tests/support/testing.h"

namespace {

namespace fs = std::filesystem;
using aiot::test_support::ReadWholeFile;
using aiot::test_support::WaitFor;
using aiot::up_test::Child;
using aiot::up_test::FreePort;
using aiot::up_test::Shell;

const std::vector<std::string> kMotorFields = {"current", "voltage", "temperature"};

// A motor's readings: healthy ones draw ~4 A at ~40 °C, faulty ones (a seized bearing) ~9 A at
// ~70 °C; voltage says nothing. `faulty` is the label column (fields.label's default).
std::string MotorReading(bool faulty, std::mt19937& rng) {
  std::normal_distribution<double> noise(0, 0.5);
  const double current = (faulty ? 9 : 4) + noise(rng);
  const double voltage = 230 + 4 * noise(rng);
  const double temperature = (faulty ? 70 : 40) + 4 * noise(rng);
  return std::to_string(current) + "," + std::to_string(voltage) + "," +
         std::to_string(temperature);
}

void WriteTrainingCsv(const fs::path& path) {
  std::ofstream out(path);
  out << "current,voltage,temperature,faulty\n";
  std::mt19937 rng(11);
  for (int i = 0; i < 1200; ++i) {
    const bool faulty = i % 3 == 0;
    out << MotorReading(faulty, rng) << "," << (faulty ? 1 : 0) << "\n";
  }
}

// The motor's configuration: its fields, and the first model trained on train.csv.
void WriteConfig(const fs::path& path, const fs::path& dir) {
  std::ofstream out(path);
  out << "fields:\n  features: [current, voltage, temperature]\n"
      << "bootstrap:\n  data: " << (dir / "train.csv").string() << "\n  epochs: 40\n"
      << "  hidden: [8]\n";
}

class AiotUpFields : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aiot_up_fields_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    WriteTrainingCsv(dir_ / "train.csv");
    WriteConfig(dir_ / "motor.yaml", dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(AiotUpFields, MotorReadingsAreScoredStoredAndExportedWithTheirFieldNames) {
  for (const char* peer : {"/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub", "/usr/bin/curl"}) {
    if (access(peer, X_OK) != 0) {
      AIOT_SKIP_WITHOUT_PEER(peer << " not installed (scripts/setup.sh --test installs it)");
    }
  }
  const int http_port = FreePort();
  const int mqtt_port = FreePort();
  const std::string source_dir =
      std::getenv("AIOT_SOURCE_DIR") ? std::getenv("AIOT_SOURCE_DIR") : ".";
  const fs::path log = dir_ / "up.log";
  Child up = Child::Spawn(
      {AIOT_BIN, "--config", (dir_ / "motor.yaml").string(), "up", "--log-level", "info", "--set",
       "http.listen=127.0.0.1:" + std::to_string(http_port), "--set",
       "broker.listeners=[127.0.0.1:" + std::to_string(mqtt_port) + "]", "--set",
       "registry.data_dir=" + (dir_ / "var").string(), "--set",
       "store.path=" + (dir_ / "telemetry.db").string(), "--set",
       "dashboard.web_root=" + source_dir + "/web", "--set", "datastore.flush_interval_ms=100"},
      /*capture=*/false, log.string());
  ASSERT_GT(up.pid, 0);
  ASSERT_TRUE(WaitFor([&] { return ReadWholeFile(log).find("aiot is up") != std::string::npos; },
                      std::chrono::seconds(180), std::chrono::milliseconds(100)))
      << "aiot up did not come up:\n"
      << ReadWholeFile(log);
  {
    const std::string text = ReadWholeFile(log);
    EXPECT_NE(text.find("training a 3-feature MLP (current, voltage, temperature)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("promoted it to production"), std::string::npos) << text;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(http_port);
  std::string token;
  std::getline(std::ifstream(dir_ / "var" / "admin.token"), token);
  ASSERT_FALSE(token.empty());
  const std::string curl = "curl -s -H 'Authorization: Bearer " + token + "' ";

  // The dashboard shows the schema's fields.
  auto ui = nlohmann::json::parse(Shell("curl -s " + url + "/ui/config.json"), nullptr, false);
  ASSERT_TRUE(ui.is_object()) << ui;
  EXPECT_EQ(ui.value("fields", std::vector<std::string>{}), kMotorFields) << ui;

  // Readings of a healthy and a failing motor, through the broker as any device sends them.
  Child sub = Child::Spawn({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(mqtt_port),
                            "-V", "mqttv5", "-t", "fan/anomaly"},
                           /*capture=*/true);
  ASSERT_GT(sub.pid, 0);
  const std::string pub =
      "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(mqtt_port) + " -q 1 -t fan/messages -m ";
  std::map<std::string, double> scores;  // device -> its latest score
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (scores.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    // Published again until scored: mosquitto_sub's subscription may not be in place yet.
    EXPECT_EQ(Shell(pub + "'{\"deviceID\":\"motor-1\",\"current\":4.1,\"voltage\":229.5,"
                          "\"temperature\":41.0,\"fft_data\":\"true\"}'; echo $?"),
              "0\n");
    EXPECT_EQ(Shell(pub + "'{\"chipID\":\"motor-2\",\"current\":9.2,\"voltage\":231.0,"
                          "\"temperature\":71.5}'; echo $?"),
              "0\n");
    while (sub.ReadLine(&line, 1000)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("score") && j["score"].is_number()) {
        scores[j.value("deviceID", "")] = j["score"].get<double>();
      }
    }
  }
  sub.Stop(SIGTERM);
  ASSERT_EQ(scores.size(), 2u) << "readings were not scored on fan/anomaly\n" << ReadWholeFile(log);
  EXPECT_LT(scores["motor-1"], 0.5) << "the healthy motor";
  EXPECT_GT(scores["motor-2"], 0.5) << "the failing motor";

  // Stored: the query API returns each field of the schema.
  const std::string series_url = url + "/api/v1/series?devices=motor-1&fields=" +
                                 "current,voltage,temperature&from=0&to=4102444800000";
  nlohmann::json series;
  EXPECT_TRUE(WaitFor(
      [&] {
        series = nlohmann::json::parse(Shell(curl + "'" + series_url + "'"), nullptr, false);
        return series.is_object() && series.contains("series") && series["series"].size() == 3;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << series;
  if (series.is_object() && series.contains("series")) {
    for (const auto& s : series["series"]) {
      ASSERT_TRUE(s.contains("field") && s.contains("v") && !s["v"].empty()) << s;
      if (s["field"] == "current") {
        EXPECT_DOUBLE_EQ(s["v"].back().get<double>(), 4.1);
      } else if (s["field"] == "voltage") {
        EXPECT_DOUBLE_EQ(s["v"].back().get<double>(), 229.5);
      }
    }
  }

  // Kept for training: the export's columns are the schema's.
  std::string csv;
  EXPECT_TRUE(WaitFor(
      [&] {
        csv = Shell(curl + "'" + url + "/api/v1/data/export?devices=motor-1,motor-2'");
        return csv.find("motor-2") != std::string::npos && csv.find("motor-1") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << csv;
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "DeviceID,Time,current,voltage,temperature,faulty");
  EXPECT_NE(csv.find(",4.1,229.5,41,0\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",9.2,231,71.5,0\n"), std::string::npos) << csv;

  EXPECT_EQ(up.Stop(SIGINT), 0) << "aiot up did not exit cleanly";
  if (HasFailure()) std::cerr << "aiot up log:\n" << ReadWholeFile(log);
}

// The simulated fleet is made of fans: with the motor's fields `--simulate` is refused, saying
// why, before anything starts; the effective configuration shows every consumer on the schema.
TEST_F(AiotUpFields, SimulateRefusesAFieldSchemaThatIsNotTheFans) {
  const std::string cli = std::string(AIOT_BIN) + " --config " + (dir_ / "motor.yaml").string() +
                          " --set " + "registry.data_dir=" + (dir_ / "var").string() +
                          " --set store.path=" + (dir_ / "t.db").string() +
                          " --set http.listen=127.0.0.1:0 --set 'broker.listeners=[]' ";
  const std::string out = Shell("timeout 120 " + cli + "up --simulate 2 2>&1; echo \"exit=$?\"");
  EXPECT_NE(out.find("--simulate runs simulated fans"), std::string::npos) << out;
  EXPECT_NE(out.find("fields.features is [current, voltage, temperature]"), std::string::npos)
      << out;
  EXPECT_NE(out.find("exit=1"), std::string::npos) << out;
  EXPECT_EQ(out.find("aiot is up"), std::string::npos) << out;

  const std::string shown = Shell(cli + "config show");
  EXPECT_NE(shown.find("fields: [current, voltage, temperature]"), std::string::npos) << shown;
  EXPECT_NE(shown.find("default_features: [current, voltage, temperature]"), std::string::npos)
      << shown;

  // A schema no consumer could use is refused by `config check`, naming the key.
  std::ofstream(dir_ / "bad.yaml") << "fields:\n  features: [current, \"volt age\"]\n";
  const std::string checked =
      Shell(std::string(AIOT_BIN) + " config check " + (dir_ / "bad.yaml").string() + " 2>&1");
  EXPECT_NE(checked.find("fields.features: `volt age` is not a valid field name"),
            std::string::npos)
      << checked;
}

}  // namespace
