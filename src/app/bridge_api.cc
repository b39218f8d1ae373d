#include "app/bridge_api.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>

namespace aiot::app {
namespace {

using Json = nlohmann::json;
using prometheus::ClientMetric;

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kKeepNs = 30 * kSecondNs;  // the window's longest span
constexpr int64_t kSampleNs = kSecondNs;     // one sample a second at most
constexpr char kMessages[] = "aiot_bridge_messages_total";
constexpr char kDelivered[] = "aiot_bridge_delivered_total";
constexpr char kLatency[] = "aiot_bridge_delivery_latency_seconds";
constexpr char kLag[] = "aiot_kafka_source_lag";
constexpr char kBridgeLag[] = "aiot_bridge_consumer_lag";  // the bridge's Kafka -> MQTT side

// The error counters of the bridge: family -> (type in the JSON, label holding the kind).
struct ErrorFamily {
  const char* family;
  const char* type;
  const char* label;
};
constexpr ErrorFamily kErrorFamilies[] = {
    {"aiot_bridge_delivery_errors_total", "delivery", "kind"},
    {"aiot_bridge_dead_letters_total", "dead_letter", "reason"},
    {"aiot_bridge_dropped_total", "dropped", "reason"},
    {"aiot_bridge_refused_total", "refused", "reason"},
};

std::string LabelOf(const ClientMetric& m, std::string_view name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

Json Number(double v, int decimals) {
  if (!std::isfinite(v)) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// `now - base` per bucket (both cumulative, same bounds); `now` when the bounds differ.
std::vector<std::pair<double, uint64_t>> BucketDelta(
    const std::vector<std::pair<double, uint64_t>>& now,
    const std::vector<std::pair<double, uint64_t>>& base) {
  if (base.size() != now.size()) return now;
  std::vector<std::pair<double, uint64_t>> d = now;
  for (size_t i = 0; i < d.size(); ++i) {
    d[i].second = now[i].second >= base[i].second ? now[i].second - base[i].second : 0;
  }
  return d;
}

// The consumer lag of the services reading Kafka (`source: kafka`) and of the bridge's own
// Kafka -> MQTT side (service "bridge"), summed per service and topic.
Json ConsumerLag(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::pair<std::string, std::string>, std::pair<double, int>> lag;
  for (const auto& f : families) {
    if (f.name != kLag && f.name != kBridgeLag) continue;
    for (const auto& m : f.metric) {
      const std::string service = f.name == kBridgeLag ? "bridge" : LabelOf(m, "service");
      auto& e = lag[{service, LabelOf(m, "topic")}];
      e.first += m.gauge.value;
      e.second++;
    }
  }
  Json out = Json::array();
  for (const auto& [key, v] : lag) {
    out.push_back({{"service", key.first},
                   {"topic", key.second},
                   {"partitions", v.second},
                   {"lag", Number(v.first, 0)}});
  }
  return out;
}

// connected | buffering | failed, and why.
std::pair<const char*, std::string> StateOf(const BridgeProbe& p, double oldest_age_s) {
  if (p.fatal) return {"failed", p.fatal->message()};
  if (p.kafka_reachable == 0) {
    return {"buffering", fmt::format("Kafka unreachable (no broker of bootstrap.servers answers): "
                                     "{} record(s), {} bytes wait in the disk buffer for Kafka",
                                     p.buffer.records, p.buffer.bytes)};
  }
  if (p.buffer.records > 0 && oldest_age_s >= kBufferingAfterSeconds) {
    return {"buffering", fmt::format("{} record(s), {} bytes wait in the disk buffer for Kafka; "
                                     "the oldest for {:.1f} s",
                                     p.buffer.records, p.buffer.bytes, oldest_age_s)};
  }
  if (p.buffer.records > 0) {
    return {"connected", fmt::format("delivering: {} record(s) in flight", p.buffer.records)};
  }
  return {"connected", "every buffered record is acknowledged by Kafka"};
}

// The delivery latency's percentiles: over the window when records were delivered in it, else
// since the start; null without any.
Json LatencyJson(const std::vector<std::pair<double, uint64_t>>& now,
                 const std::vector<std::pair<double, uint64_t>>* base) {
  auto latency = base ? BucketDelta(now, *base) : now;
  const char* over = base ? "window" : "start";
  if (latency.empty() || latency.back().second == 0) {
    latency = now;
    over = "start";
  }
  auto p50 = HistogramQuantile(latency, 0.5);
  if (!p50) return nullptr;
  return {{"p50", Number(*p50 * 1000, 2)},
          {"p99", Number(HistogramQuantile(latency, 0.99).value_or(0) * 1000, 2)},
          {"samples", latency.back().second},
          {"over", over}};
}

}  // namespace

std::optional<double> HistogramQuantile(const std::vector<std::pair<double, uint64_t>>& buckets,
                                        double q) {
  if (buckets.empty() || buckets.back().second == 0) return std::nullopt;
  const double rank = q * static_cast<double>(buckets.back().second);
  double lower = 0;
  uint64_t below = 0;
  for (const auto& [upper, count] : buckets) {
    if (static_cast<double>(count) >= rank && count > below) {
      if (std::isinf(upper)) return lower;  // beyond the last finite bound
      const double within =
          (rank - static_cast<double>(below)) / static_cast<double>(count - below);
      return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
    }
    lower = upper;
    below = count;
  }
  return lower;
}

BridgeStatus::BridgeStatus(const metrics::Registry& registry, const kafka::BridgeConfig& config,
                           std::function<std::optional<BridgeProbe>()> probe, const Clock& clock)
    : registry_(registry), config_(config), probe_(std::move(probe)), clock_(clock) {}

BridgeStatus::Sample BridgeStatus::Collect(
    const std::vector<prometheus::MetricFamily>& families) const {
  Sample s;
  s.t_ns = clock_.MonotonicNanos();
  for (const auto& f : families) {
    if (f.name == kMessages) {
      for (const auto& m : f.metric) {
        s.counters["m|" + LabelOf(m, "direction") + "|" + LabelOf(m, "mapping")] = m.counter.value;
      }
    } else if (f.name == kDelivered) {
      for (const auto& m : f.metric) s.counters["delivered"] += m.counter.value;
    } else if (f.name == kLatency) {
      for (const auto& m : f.metric) {
        for (const auto& b : m.histogram.bucket) {
          s.latency.emplace_back(b.upper_bound, b.cumulative_count);
        }
        break;  // one unlabelled series
      }
    } else {
      for (const auto& e : kErrorFamilies) {
        if (f.name != e.family) continue;
        for (const auto& m : f.metric) {
          s.counters[std::string("e|") + e.type + "|" + LabelOf(m, e.label)] = m.counter.value;
        }
      }
    }
  }
  return s;
}

const BridgeStatus::Sample* BridgeStatus::Window(const Sample& now) {
  while (samples_.size() > 1 && now.t_ns - samples_[1].t_ns >= kKeepNs) samples_.pop_front();
  if (samples_.empty() || now.t_ns - samples_.back().t_ns >= kSampleNs) samples_.push_back(now);
  const Sample& base = samples_.front();
  return now.t_ns - base.t_ns >= kSampleNs / 2 ? &base : nullptr;
}

Json BridgeStatus::Get() {
  const std::optional<BridgeProbe> probe = probe_ ? probe_() : std::nullopt;
  if (!probe) return {{"enabled", false}};
  std::lock_guard lock(mu_);
  const std::vector<prometheus::MetricFamily> families = registry_.Collect();
  const Sample now = Collect(families);
  const Sample* base = Window(now);
  const double dt = base ? static_cast<double>(now.t_ns - base->t_ns) / 1e9 : 0;
  auto delta = [&](const std::string& key) -> std::optional<double> {
    if (!base) return std::nullopt;
    auto it = base->counters.find(key);
    return now.counters.at(key) - (it == base->counters.end() ? 0.0 : it->second);
  };
  auto rate = [&](const std::string& key) -> Json {
    auto d = delta(key);
    return d ? Number(*d / dt, 1) : Json(nullptr);
  };
  Json mappings = Json::array();
  Json errors = Json::array();
  for (const auto& [key, value] : now.counters) {
    const size_t a = key.find('|'), b = key.find('|', a + 1);
    if (key.starts_with("m|")) {
      mappings.push_back({{"direction", key.substr(a + 1, b - a - 1)},
                          {"mapping", key.substr(b + 1)},
                          {"total", Number(value, 0)},
                          {"per_s", rate(key)}});
    } else if (key.starts_with("e|") && value > 0) {
      auto d = delta(key);
      errors.push_back({{"type", key.substr(a + 1, b - a - 1)},
                        {"kind", key.substr(b + 1)},
                        {"total", Number(value, 0)},
                        {"recent", d ? Number(*d, 0) : Json(nullptr)}});
    }
  }
  Json latency_ms = LatencyJson(now.latency, base ? &base->latency : nullptr);
  const kafka::BufferStats& buf = probe->buffer;
  const double age =
      buf.oldest_ms == 0
          ? 0.0
          : std::max<double>(0, clock_.NowNanos() / 1'000'000 - buf.oldest_ms) / 1000.0;
  const auto [state, reason] = StateOf(*probe, age);
  const bool has_delivered = now.counters.count("delivered") > 0;
  return {{"enabled", true},
          {"state", state},
          {"reason", reason},
          {"kafka_reachable",
           probe->kafka_reachable < 0 ? Json(nullptr) : Json(probe->kafka_reachable == 1)},
          {"ack", config::NameOf(kafka::kAckPolicyNames, config_.ack)},
          {"when_full", config::NameOf(kafka::kWhenFullNames, config_.when_full)},
          {"window_s", base ? Number(dt, 1) : Json(nullptr)},
          {"mappings", mappings},
          {"delivered",
           {{"total", has_delivered ? Number(now.counters.at("delivered"), 0) : Json(0)},
            {"per_s", has_delivered ? rate("delivered") : Json(nullptr)}}},
          {"latency_ms", latency_ms},
          {"buffer",
           {{"bytes", buf.bytes},
            {"records", buf.records},
            {"segments", buf.segments},
            {"oldest_age_s", Number(age, 1)},
            {"max_bytes", config_.buffer.max_bytes},
            {"full", buf.full}}},
          {"consumer_lag", ConsumerLag(families)},
          {"errors", errors}};
}

void RegisterBridgeRoutes(net::Router& router, BridgeStatus& status) {
  router.Get("/api/v1/bridge",
             [&status](net::Request&) { return net::JsonResponse(status.Get()); });
}

}  // namespace aiot::app
