// The Grafana files in deploy/grafana are valid JSON/YAML, and every panel queries the
// measurement and fields the InfluxDB sink writes (store_influx_integration_test also runs them
// against a real influxd).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "grafana_dashboard.h"
#include "store/store_config.h"

namespace aiot::store {
namespace {

using namespace testing;

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

const std::string kGrafana = "/deploy/grafana";

TEST(GrafanaFiles, DatasourceProvisioningMatchesTheSink) {
  YAML::Node doc;
  ASSERT_NO_THROW(
      doc = YAML::LoadFile(SourceDir() + kGrafana + "/provisioning/datasources/influxdb.yaml"));
  ASSERT_TRUE(doc["datasources"].IsSequence());
  auto ds = doc["datasources"][0];
  EXPECT_EQ(ds["type"].as<std::string>(), "influxdb");
  EXPECT_EQ(ds["uid"].as<std::string>(), "aiot-influxdb");
  EXPECT_EQ(ds["jsonData"]["dbName"].as<std::string>(), InfluxDatabase(InfluxConfig()));
  EXPECT_TRUE(ds["isDefault"].as<bool>());
  // The reference's dashboard names its datasource `influxdb` and reads what
  // store.influx.schema: telegraf writes.
  InfluxConfig telegraf;
  telegraf.schema = InfluxSchema::kTelegraf;
  std::set<std::string> uids;
  int found = -1;
  for (size_t i = 0; i < doc["datasources"].size(); ++i) {
    auto d = doc["datasources"][i];
    EXPECT_TRUE(uids.insert(d["uid"].as<std::string>()).second) << "duplicate uid";
    if (d["name"].as<std::string>() == "influxdb") found = static_cast<int>(i);
  }
  ASSERT_GE(found, 0) << "no datasource named influxdb (the reference dashboard's)";
  auto reference = doc["datasources"][found];
  EXPECT_EQ(reference["type"].as<std::string>(), "influxdb");
  EXPECT_EQ(reference["jsonData"]["dbName"].as<std::string>(), InfluxDatabase(telegraf));
  EXPECT_FALSE(reference["isDefault"].as<bool>());
}

TEST(GrafanaFiles, DashboardProviderIsValid) {
  YAML::Node doc;
  ASSERT_NO_THROW(
      doc = YAML::LoadFile(SourceDir() + kGrafana + "/provisioning/dashboards/aiot.yaml"));
  ASSERT_TRUE(doc["providers"].IsSequence());
  EXPECT_EQ(doc["providers"][0]["type"].as<std::string>(), "file");
  EXPECT_FALSE(doc["providers"][0]["options"]["path"].as<std::string>().empty());
}

TEST(GrafanaFiles, PanelsQueryWhatTheSinkWrites) {
  auto dash = nlohmann::json::parse(Read(SourceDir() + kGrafana + "/dashboards/aiot-fan.json"),
                                    nullptr, false);
  ASSERT_FALSE(dash.is_discarded()) << "aiot-fan.json is not valid JSON";
  ASSERT_TRUE(dash["panels"].is_array());
  ASSERT_FALSE(dash["panels"].empty());

  const InfluxConfig influx;
  const StoreConfig store;
  // What the sink writes: telemetry columns in `fan`, score and fault in `fan_anomaly`.
  std::set<std::string> fan_fields(store.fields.begin(), store.fields.end());
  const std::set<std::string> anomaly_fields = {"score", "fault"};

  std::set<std::string> plotted;
  auto queries = DashboardQueries(dash);
  ASSERT_GE(queries.size(), 5u);
  for (const auto& q : queries) {
    ASSERT_FALSE(q.query.empty()) << q.where << " has no query";
    auto ms = Measurements(q.query);
    ASSERT_FALSE(ms.empty()) << q.where << ": no FROM";
    for (const auto& m : ms) {
      EXPECT_TRUE(m == influx.measurement || m == influx.anomaly_measurement)
          << q.where << " queries measurement " << m;
    }
    for (const auto& f : AggregatedFields(q.query)) {
      if (f == "deviceID") continue;  // the tag (count(distinct("deviceID")))
      bool in_fan = ms.count(influx.measurement) && fan_fields.count(f);
      bool in_anomaly = ms.count(influx.anomaly_measurement) && anomaly_fields.count(f);
      EXPECT_TRUE(in_fan || in_anomaly)
          << q.where << " uses field " << f << " that the sink does not write there";
      plotted.insert(f);
    }
    if (q.where.rfind("panel", 0) == 0 && q.query.find("GROUP BY") != std::string::npos &&
        q.query.find("time(") != std::string::npos) {
      EXPECT_NE(q.query.find("\"deviceID\""), std::string::npos)
          << q.where << ": series should be split by the deviceID tag";
    }
  }
  for (const auto& f : store.fields) EXPECT_TRUE(plotted.count(f)) << "no panel plots " << f;
  EXPECT_TRUE(plotted.count("score")) << "no panel plots the anomaly score";
  for (const auto& p : dash["panels"]) {
    EXPECT_EQ(p["datasource"]["uid"], "aiot-influxdb") << p["title"];
  }
}

}  // namespace
}  // namespace aiot::store
