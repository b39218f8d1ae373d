#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aiot::store::testing {

// The InfluxQL queries of a Grafana dashboard (panel targets and template variables).
struct DashboardQuery {
  std::string where;  // "panel 3 Vibration" / "variable device"
  std::string query;
};
std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard);

// Measurements after FROM and fields inside aggregate calls (`mean("x")`, `last("x")`).
std::set<std::string> Measurements(const std::string& query);
std::set<std::string> AggregatedFields(const std::string& query);

// Grafana macros replaced so influxd can run the query directly.
std::string ExpandMacros(std::string query);

std::string SourceDir();  // $AIOT_SOURCE_DIR, else the compile-time source dir

}  // namespace aiot::store::testing
