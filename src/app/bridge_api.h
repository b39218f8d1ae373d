#pragma once

// GET /api/v1/bridge: the state of the MQTT <-> Kafka bridge inside `aiot up` (`bridge.enabled`,
// src/kafka/README.md) as the dashboard's bridge panel shows it. The one place where the bridge's
// Prometheus metrics become figures: rates and latency percentiles over a recent window, the disk
// buffer, the consumer lag (the services' and the bridge's own Kafka -> MQTT side), errors by kind.
// No token needed, like /metrics.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "kafka/bridge_config.h"
#include "kafka/disk_buffer.h"
#include "net/router.h"

namespace aiot::app {

// What a running bridge says of itself besides its metrics.
struct BridgeProbe {
  std::optional<Status> fatal;  // the idempotent producer's fatal error
  kafka::BufferStats buffer;
  // 1: a Kafka broker answers, 0: none of bootstrap.servers does, -1: not known yet.
  int kafka_reachable = -1;
};

// The bridge is `buffering` when its oldest unacknowledged record has waited this long.
inline constexpr double kBufferingAfterSeconds = 2.0;

// `{"enabled": false}` while `probe` answers nothing (no bridge runs); else
// {"enabled", "state" (connected | buffering | failed), "reason", "kafka_reachable" (true, false:
//  no broker of bootstrap.servers answers, null: not known yet), "ack", "when_full",
//  "window_s" (null: no earlier sample yet), "mappings": [{direction, mapping, total, per_s}],
//  "delivered": {total, per_s}, "latency_ms": {p50, p99, samples, over: window | start} or null,
//  "buffer": {bytes, records, segments, oldest_age_s, max_bytes, full},
//  "consumer_lag": [{service, topic, partitions, lag}] (service "bridge": the bridge's Kafka ->
//  MQTT consumer, aiot_bridge_consumer_lag),
//  "errors": [{type: delivery | dead_letter | dropped | refused, kind, total, recent}]}.
// Rates and percentiles are over the window since the oldest sample of the last 30 s (a sample
// is kept per request, at most one a second), so every client sees the same figures.
class BridgeStatus {
 public:
  BridgeStatus(const metrics::Registry& registry, const kafka::BridgeConfig& config,
               std::function<std::optional<BridgeProbe>()> probe,
               const Clock& clock = SystemClock::Instance());
  nlohmann::json Get();

 private:
  struct Sample {
    int64_t t_ns = 0;
    std::map<std::string, double> counters;            // "<family>|<label>" -> value
    std::vector<std::pair<double, uint64_t>> latency;  // (upper bound, cumulative count)
  };
  Sample Collect(const std::vector<prometheus::MetricFamily>& families) const;
  // The sample the window starts at (nullptr: none yet), after keeping `now`.
  const Sample* Window(const Sample& now);

  const metrics::Registry& registry_;
  kafka::BridgeConfig config_;
  std::function<std::optional<BridgeProbe>()> probe_;
  const Clock& clock_;
  std::mutex mu_;
  std::deque<Sample> samples_;
};

// A quantile (0..1) of a Prometheus histogram's cumulative buckets (upper bound, count), as
// Prometheus' histogram_quantile: linear within the bucket; the +Inf bucket answers the largest
// finite bound. nullopt without samples.
std::optional<double> HistogramQuantile(const std::vector<std::pair<double, uint64_t>>& buckets,
                                        double q);

void RegisterBridgeRoutes(net::Router& router, BridgeStatus& status);

}  // namespace aiot::app
