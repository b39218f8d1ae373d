#pragma once

// A check of what Kafka holds after a bridge test: per device key ("fan-NNNN"), which message
// numbers ("n" in the JSON payload) are there, how often, and in which order. Shared by the
// `aiot bridge` and the in-broker bridge tests (one helper, one place).
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "kafka/mock_cluster.h"

namespace aiot::kafka_test {

// What a check of Kafka's content found.
struct Audit {
  size_t distinct = 0;
  size_t duplicates = 0;
  std::vector<std::string> missing;
  std::vector<std::string> out_of_order;
};

// `records` against `expected`: per key, the message numbers that must be there (e.g. those
// acknowledged over MQTT). Order is checked over every number of those keys in Kafka.
inline Audit AuditTopic(const std::vector<kafka::testing::KcatRecord>& records,
                        const std::map<std::string, std::set<int>>& expected) {
  Audit a;
  std::map<std::string, std::vector<int>> seen;
  for (const auto& r : records) {
    auto j = nlohmann::json::parse(r.payload, nullptr, false);
    if (!j.is_object() || !j["n"].is_number_integer()) continue;
    seen[r.key].push_back(j["n"].get<int>());
  }
  for (const auto& [key, want] : expected) {
    const auto& ns = seen[key];
    std::set<int> unique(ns.begin(), ns.end());
    a.distinct += unique.size();
    a.duplicates += ns.size() - unique.size();
    for (int n : want) {
      if (!unique.contains(n)) a.missing.push_back(fmt::format("{}#{}", key, n));
    }
    // Order: ignoring re-sent copies (a resend repeats a run that was already delivered), the
    // first time each number appears it must be the next one.
    int next = 0;
    for (int n : ns) {
      if (n < next) continue;  // a duplicate of one already seen
      if (n != next) a.out_of_order.push_back(fmt::format("{}: {} after {}", key, n, next - 1));
      next = n + 1;
    }
  }
  return a;
}

// `records` against devices fan-0000 .. fan-<devices-1>, each expected to have numbers
// 0 .. per_device-1.
inline Audit AuditTopic(const std::vector<kafka::testing::KcatRecord>& records, int devices,
                        int per_device) {
  std::map<std::string, std::set<int>> expected;
  for (int d = 0; d < devices; ++d) {
    auto& ns = expected[fmt::format("fan-{:04d}", d)];
    for (int n = 0; n < per_device; ++n) ns.insert(n);
  }
  return AuditTopic(records, expected);
}

}  // namespace aiot::kafka_test
