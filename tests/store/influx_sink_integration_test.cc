// The InfluxDB sink against a real influxd 1.6 (Debian `influxdb`), started here on a free
// loopback port with its data in a temp dir: points arrive and queries match; influxd stopped
// mid-stream and started again -> nothing lost.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "grafana_dashboard.h"
#include "influxd.h"
#include "store/influx_sink.h"
#include "tests/support/testing.h"

namespace aiot::store {
namespace {

using aiot::test_support::WaitFor;
using testing::Influxd;
using namespace std::chrono_literals;

constexpr int kDevices = 4;
const FieldSchema kSchema({"rotation", "temperature", "vibration", "sound"});

TelemetryPoint Point(int64_t base_ms, int i) {
  TelemetryPoint p;
  p.device = fmt::format("fan-{:04}", i % kDevices);
  p.ts_ms = base_ms + i;  // unique per (device, time)
  p.columns[0] = 500 + i % 200 + 0.5;
  p.columns[1] = 35 + (i % 10);
  p.columns[2] = 100 + (i % 150);
  p.columns[3] = 45 + (i % 7) * 0.25;
  if (i % 3 == 0) p.extra.emplace_back("spectrum_peak", i % 11);
  return p;
}

TEST(InfluxSinkIntegration, PointsArriveAndSurviveAnOutage) {
  if (!Influxd::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/bin/influxd not installed");
  Influxd influxd;
  ASSERT_TRUE(influxd.Start()) << "influxd did not start; see " << influxd.dir() << "/influxd.log";

  InfluxConfig c;
  c.enabled = true;
  c.url = influxd.url();
  c.database = "aiot_test";
  c.batch_max_points = 100;
  c.batch_max_delay_ms = 100;
  c.retry_initial_ms = 100;
  c.retry_max_ms = 1000;
  c.timeout_ms = 5000;
  c.spool_dir = influxd.dir() + "/spool";
  InfluxSink sink(c, kSchema);
  ASSERT_TRUE(sink.Start());

  const int64_t base = (std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                                .count() /
                            1000 -
                        3600) *
                       1000;
  double expected_sum = 0;
  int n = 0;
  for (; n < 1000; ++n) {
    TelemetryPoint p = Point(base, n);
    expected_sum += p.columns[0];
    sink.Add(Record(p));
  }
  for (int i = 0; i < 20; ++i) {
    AnomalyPoint a;
    a.device = "fan-0001";
    a.ts_ms = base + i * 1000;
    a.score = i / 20.0;
    a.fault = i >= 10;
    a.level = i >= 10 ? Level::kCritical : Level::kOk;
    a.model = "fan-mlp@3";
    sink.Add(Record(a));
  }
  ASSERT_TRUE(sink.Flush(60s));
  EXPECT_EQ(influxd.Scalar("aiot_test", "SELECT count(rotation) FROM fan"), 1000);
  EXPECT_DOUBLE_EQ(influxd.Scalar("aiot_test", "SELECT sum(rotation) FROM fan"), expected_sum);
  EXPECT_EQ(influxd.Scalar("aiot_test", "SELECT count(spectrum_peak) FROM fan"), 334);
  EXPECT_EQ(
      influxd.Scalar("aiot_test", "SELECT count(score) FROM fan_anomaly WHERE level='critical'"),
      10);

  // The schema Grafana dashboards rely on: measurement fan, tag deviceID, float fields.
  auto tags = influxd.Query("aiot_test", "SHOW TAG VALUES FROM fan WITH KEY = \"deviceID\"");
  ASSERT_TRUE(tags.is_object());
  EXPECT_EQ(tags["results"][0]["series"][0]["values"].size(), static_cast<size_t>(kDevices));
  auto fields = influxd.Query("aiot_test", "SHOW FIELD KEYS FROM fan");
  std::map<std::string, std::string> field_types;
  for (const auto& v : fields["results"][0]["series"][0]["values"]) {
    field_types[v[0].get<std::string>()] = v[1].get<std::string>();
  }
  for (const char* f : {"rotation", "temperature", "vibration", "sound"}) {
    EXPECT_EQ(field_types[f], "float") << f;
  }
  // One point read back exactly.
  auto row = influxd.Query("aiot_test",
                           fmt::format("SELECT rotation,temperature,vibration,sound FROM fan WHERE "
                                       "deviceID='fan-0002' AND time = {}ms",
                                       base + 6));
  auto values = row["results"][0]["series"][0]["values"][0];
  ASSERT_TRUE(values.is_array()) << row.dump();
  TelemetryPoint p6 = Point(base, 6);
  EXPECT_DOUBLE_EQ(values[1].get<double>(), p6.columns[0]);
  EXPECT_DOUBLE_EQ(values[4].get<double>(), p6.columns[3]);

  // Outage: influxd stops mid-stream; points keep coming and go to the spool.
  for (; n < 1500; ++n) {
    TelemetryPoint p = Point(base, n);
    expected_sum += p.columns[0];
    sink.Add(Record(p));
  }
  influxd.Stop();
  // Half of the rest before the sink has noticed the outage, half once it has spooled a batch.
  for (; n < 2250; ++n) {
    TelemetryPoint p = Point(base, n);
    expected_sum += p.columns[0];
    sink.Add(Record(p));
  }
  ASSERT_TRUE(WaitFor([&] { return sink.stats().batches_spooled > 0; }, 30s));
  for (; n < 3000; ++n) {
    TelemetryPoint p = Point(base, n);
    expected_sum += p.columns[0];
    sink.Add(Record(p));
  }
  EXPECT_FALSE(sink.Flush(0ms));  // cannot complete while influxd is down: the spool is not empty
  ASSERT_TRUE(influxd.Start()) << "influxd did not restart";
  ASSERT_TRUE(sink.Flush(120s)) << "spool not drained";
  auto st = sink.stats();
  EXPECT_EQ(st.points_dropped, 0u);
  EXPECT_GE(st.write_failures, 1u);
  EXPECT_EQ(st.spool_files, 0u);
  EXPECT_EQ(influxd.Scalar("aiot_test", "SELECT count(rotation) FROM fan"), 3000);
  for (int b = 0; b < 3000; b += 100) {
    double got = influxd.Scalar(
        "aiot_test",
        fmt::format("SELECT count(rotation) FROM fan WHERE time >= {}ms AND time < {}ms", base + b,
                    base + b + 100));
    if (got != 100) ADD_FAILURE() << "points " << b << ".." << b + 99 << ": " << got;
  }
  EXPECT_DOUBLE_EQ(influxd.Scalar("aiot_test", "SELECT sum(rotation) FROM fan"), expected_sum);
  sink.Stop();
  influxd.Stop();
}

// Every query of deploy/grafana/dashboards/aiot-fan.json returns data from what the sink wrote.
TEST(InfluxSinkIntegration, GrafanaDashboardQueriesReturnData) {
  if (!Influxd::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/bin/influxd not installed");
  std::ifstream f(testing::SourceDir() + "/deploy/grafana/dashboards/aiot-fan.json");
  ASSERT_TRUE(f) << "dashboard file missing";
  auto dash = nlohmann::json::parse(f, nullptr, false);
  ASSERT_FALSE(dash.is_discarded());
  Influxd influxd;
  ASSERT_TRUE(influxd.Start());
  InfluxConfig c;
  c.url = influxd.url();
  c.database = InfluxDatabase(InfluxConfig());  // what the provisioned datasource reads
  c.batch_max_points = 500;
  c.spool_dir = influxd.dir() + "/spool";
  InfluxSink sink(c, kSchema);
  ASSERT_TRUE(sink.Start());
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (int i = 0; i < 600; ++i) {
    TelemetryPoint p = Point(now - 1800 * 1000, i);
    sink.Add(Record(p));
    AnomalyPoint a;
    a.device = p.device;
    a.ts_ms = p.ts_ms;
    a.score = (i % 100) / 100.0;
    a.fault = a.score > 0.8;
    a.level = a.fault ? Level::kCritical : Level::kOk;
    a.model = "fan-mlp@3";
    sink.Add(Record(a));
  }
  ASSERT_TRUE(sink.Flush(60s));
  for (const auto& q : testing::DashboardQueries(dash)) {
    std::string expanded = testing::ExpandMacros(q.query);
    auto r = influxd.Query(c.database, expanded);
    ASSERT_TRUE(r.is_object()) << q.where << ": " << expanded;
    EXPECT_FALSE(r["results"][0].contains("error")) << q.where << ": " << r.dump();
    EXPECT_TRUE(r["results"][0].contains("series") && !r["results"][0]["series"].empty())
        << q.where << " returned no data: " << expanded;
  }
  sink.Stop();
}

}  // namespace
}  // namespace aiot::store
