// Telegraf compatibility (store.influx.schema: telegraf): the reference's
// Grafana dashboard (janakiramm/aiot dashboard/fan.json: datasource `influxdb`,
// database `fan`, written by Telegraf's mqtt_consumer from `fan/#`) reads what
// aiot writes, with its queries unchanged. aiot is fed as in production: a
// StoreService subscribed to a real broker (mosquitto) receives telemetry as
// aiot devices publish it and anomalies as aiot's predictor writes them
// (services::AppendAnomaly), and its sink writes to a real influxd.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "base/clock.h"
#include "base/metrics.h"
#include "grafana_dashboard.h"
#include "influxd.h"
#include "mqtt/client/test_util.h"
#include "services/messages.h"
#include "store/store_service.h"
#include "tests/store/store_mqtt.h"
#include "tests/support/testing.h"

namespace aiot::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Influxd;

// The reference dashboard's queries, verbatim (Grafana's
// $timeFilter/$__interval are expanded by testing::ExpandMacros before they are
// sent).
constexpr const char* kTotalFans =
    R"(select count(distinct("deviceID")) from (select "fault", "deviceID" from fan))";
constexpr const char* kFansWithFaults =
    R"(select count(distinct("deviceID")) from (select "fault", "deviceID" from fan where fault = '1'))";
constexpr const char* kPerDevice =
    R"(SELECT mean("{}") FROM "fan" WHERE ("deviceID" = '1') AND $timeFilter GROUP BY time($__interval), "deviceID" fill(none))";

constexpr int kReadings = 20;  // per device

// Device d's reading i: ranges are disjoint between devices, so a query that
// mixed devices would return values outside device 1's range.
double Value(int field, int d, int i) { return 100.0 * (field + 1) * 10 + d * 100 + i * 0.5; }
const char* const kFields[] = {"rotation", "temperature", "vibration", "sound"};

// Publishes each line of `lines` as one message on `topic` with one
// mosquitto_pub connection.
void PublishLines(uint16_t port, const std::string& topic, const std::string& lines) {
  std::string cmd = fmt::format("mosquitto_pub -p {} -t '{}' -l", port, topic);
  FILE* p = popen(cmd.c_str(), "w");
  ASSERT_NE(p, nullptr) << cmd;
  fwrite(lines.data(), 1, lines.size(), p);
  ASSERT_EQ(pclose(p), 0) << cmd;
}

double First(const nlohmann::json& r) {
  const auto& s = r["results"][0];
  if (!s.contains("series") || s["series"].empty()) return -1;
  return s["series"][0]["values"][0][1].get<double>();
}

TEST(InfluxTelegraf, ReferenceDashboardQueriesReadWhatAiotWrites) {
  if (!Influxd::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/bin/influxd not installed");
  if (!mqtt::testing::Mosquitto::Available())
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  mqtt::testing::Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  Influxd influxd;
  ASSERT_TRUE(influxd.Start()) << "influxd did not start; see " << influxd.dir() << "/influxd.log";
  mqtt::testing::IoThread io;

  fs::path dir = fs::temp_directory_path() /
                 fmt::format("aiot-influx-telegraf-{}-{}", ::getpid(), std::random_device{}());
  fs::create_directories(dir);
  StoreConfig c;
  c.path = (dir / "t.db").string();
  c.influx.enabled = true;
  c.influx.url = influxd.url();
  c.influx.schema = InfluxSchema::kTelegraf;  // database: the schema's default,
                                              // the reference's `fan`
  c.influx.batch_max_delay_ms = 50;
  c.influx.spool_dir = (dir / "spool").string();
  metrics::Registry registry;
  StoreService svc(c, testing::ClientsOf(io.io(), broker.url()), nullptr, registry);
  ASSERT_TRUE(svc.Start());

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto stamp = [&](int i) { return FormatTimestamp((now_ms - (kReadings - i) * 1000) * 1000000); };
  auto reading = [&](int d, int i) {
    return fmt::format(
        R"({{"deviceID":"{}","timeStamp":"{}","rotation":{},"temperature":{},"vibration":{},"sound":{}}})",
        d, stamp(i), Value(0, d, i), Value(1, d, i), Value(2, d, i), Value(3, d, i));
  };
  ASSERT_TRUE(testing::PublishUntilReceived(
      svc, [&] { PublishLines(broker.port(), c.telemetry_topic, reading(1, 0) + "\n"); }));
  const uint64_t warmup = svc.messages();

  // Devices 1..3; device 2 is faulty from reading 10 on, the others never.
  std::string telemetry, anomalies;
  for (int i = 0; i < kReadings; ++i) {
    for (int d = 1; d <= 3; ++d) {
      telemetry += reading(d, i) + "\n";
      bool fault = d == 2 && i >= 10;
      services::AppendAnomaly(
          anomalies, std::to_string(d), stamp(i), fault ? 1 : 0, fault ? 0.93f : 0.12f,
          fault ? services::Level::kCritical : services::Level::kOk, "fan-mlp@3");
      anomalies += "\n";
    }
  }
  PublishLines(broker.port(), c.telemetry_topic, telemetry);
  PublishLines(broker.port(), c.anomaly_topic, anomalies);
  // The last message is rejected; once it is, the ones before it have been
  // handled.
  PublishLines(broker.port(), c.telemetry_topic, "not json\n");
  ASSERT_TRUE(test_support::WaitFor(
      [&] { return svc.messages() >= warmup + 6 * kReadings + 1 && svc.rejected() >= 1; }, 60s))
      << svc.messages() << " messages";
  ASSERT_TRUE(svc.influx()->Flush(60s));
  EXPECT_EQ(svc.influx()->stats().points_dropped, 0u);

  const std::string db = "fan";
  auto total = influxd.Query(db, testing::ExpandMacros(kTotalFans));
  EXPECT_EQ(First(total), 3) << "Total Fans: " << total.dump();
  auto faulty = influxd.Query(db, testing::ExpandMacros(kFansWithFaults));
  EXPECT_EQ(First(faulty), 1) << "Fans with Faults: " << faulty.dump();

  for (int f = 0; f < 4; ++f) {
    std::string q = testing::ExpandMacros(fmt::format(kPerDevice, kFields[f]));
    auto r = influxd.Query(db, q);
    const auto& res = r["results"][0];
    ASSERT_TRUE(res.contains("series") && res["series"].size() == 1) << q << ": " << r.dump();
    EXPECT_EQ(res["series"][0]["tags"]["deviceID"], "1") << r.dump();
    const auto& values = res["series"][0]["values"];
    ASSERT_FALSE(values.empty()) << q;
    for (const auto& v : values) {
      double mean = v[1].get<double>();
      EXPECT_GE(mean, Value(f, 1, 0)) << q << ": " << v.dump();
      EXPECT_LE(mean, Value(f, 1, kReadings - 1)) << q << ": " << v.dump();
    }
  }
  // The types and tags the reference's Telegraf wrote: fault a string, readings
  // and score floats, tags deviceID and topic (mqtt_consumer's), no host (its
  // omit_hostname).
  std::map<std::string, std::string> types;
  for (const auto& v :
       influxd.Query(db, "SHOW FIELD KEYS FROM fan")["results"][0]["series"][0].value(
           "values", nlohmann::json::array())) {
    types[v[0].get<std::string>()] = v[1].get<std::string>();
  }
  EXPECT_EQ(types["fault"], "string");
  EXPECT_EQ(types["score"], "float");
  for (const char* f : kFields) EXPECT_EQ(types[f], "float") << f;
  std::set<std::string> tags;
  for (const auto& v : influxd.Query(db, "SHOW TAG KEYS FROM fan")["results"][0]["series"][0].value(
           "values", nlohmann::json::array())) {
    tags.insert(v[0].get<std::string>());
  }
  EXPECT_EQ(tags, (std::set<std::string>{"deviceID", "topic"}));
  EXPECT_EQ(influxd.Scalar(db, "SELECT count(\"fault\") FROM fan WHERE \"topic\" = 'fan/anomaly'"),
            3 * kReadings);
  auto ms = influxd.Query(db, "SHOW MEASUREMENTS");
  EXPECT_EQ(ms["results"][0]["series"][0]["values"], nlohmann::json::parse(R"([["fan"]])"))
      << ms.dump();

  // Every reading of device 1 is there, readable as the reference's panels read
  // it. (the first reading may have been published more than once: same time,
  // so one point).
  EXPECT_EQ(influxd.Scalar(db, R"(SELECT count("rotation") FROM "fan" WHERE "deviceID" = '1')"),
            kReadings);

  svc.Stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace aiot::store
