#include "grafana_dashboard.h"

#include <cstdlib>
#include <regex>

namespace aiot::store::testing {

std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<DashboardQuery> out;
  for (const auto& p : dashboard.value("panels", nlohmann::json::array())) {
    for (const auto& t : p.value("targets", nlohmann::json::array())) {
      out.push_back({"panel " + std::to_string(p.value("id", 0)) + " " + p.value("title", ""),
                     t.value("query", "")});
    }
  }
  for (const auto& v : dashboard["templating"].value("list", nlohmann::json::array())) {
    if (v.value("type", "") == "query") {
      out.push_back({"variable " + v.value("name", ""), v.value("query", "")});
    }
  }
  return out;
}

std::set<std::string> Measurements(const std::string& query) {
  std::set<std::string> out;
  static const std::regex re(R"re(FROM\s+"?([A-Za-z_][A-Za-z0-9_]*)"?)re", std::regex::icase);
  for (std::sregex_iterator it(query.begin(), query.end(), re), end; it != end; ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

std::set<std::string> AggregatedFields(const std::string& query) {
  std::set<std::string> out;
  static const std::regex re(R"re((mean|max|min|sum|last|first|count|median)\(\s*"([^"]+)"\s*\))re",
                             std::regex::icase);
  for (std::sregex_iterator it(query.begin(), query.end(), re), end; it != end; ++it) {
    out.insert((*it)[2]);
  }
  return out;
}

std::string ExpandMacros(std::string q) {
  q = std::regex_replace(q, std::regex(R"(\$timeFilter)"), "time > now() - 2h");
  q = std::regex_replace(q, std::regex(R"(\$__interval)"), "10s");
  q = std::regex_replace(q, std::regex(R"(\$device)"), ".*");
  return q;
}

std::string SourceDir() {
  const char* env = std::getenv("AIOT_SOURCE_DIR");
  return env ? env : AIOT_TEST_SOURCE_DIR;
}

}  // namespace aiot::store::testing
