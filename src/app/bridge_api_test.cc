#include "app/bridge_api.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

#include "base/errc.h"

namespace aiot::app {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr int64_t kStart = 1'800'000'000'000'000'000;  // 2027-01-15, wall and monotonic

// The bridge's metric families as src/kafka/bridge.cc registers them (names, labels, buckets).
struct FakeBridgeMetrics {
  explicit FakeBridgeMetrics(metrics::Registry& r)
      : messages(prometheus::BuildCounter().Name("aiot_bridge_messages_total").Register(r)),
        telemetry(messages.Add(
            {{"direction", "mqtt_to_kafka"}, {"mapping", "fan/messages -> aiot.telemetry"}})),
        delivered(
            prometheus::BuildCounter().Name("aiot_bridge_delivered_total").Register(r).Add({})),
        errors(prometheus::BuildCounter().Name("aiot_bridge_delivery_errors_total").Register(r)),
        dead(prometheus::BuildCounter().Name("aiot_bridge_dead_letters_total").Register(r)),
        latency(prometheus::BuildHistogram()
                    .Name("aiot_bridge_delivery_latency_seconds")
                    .Register(r)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005,
                                                                     0.01, 0.02, 0.05, 0.1, 0.2,
                                                                     0.5, 1, 2, 5, 10, 30, 60})),
        lag(prometheus::BuildGauge().Name("aiot_kafka_source_lag").Register(r)),
        bridge_lag(prometheus::BuildGauge().Name("aiot_bridge_consumer_lag").Register(r)) {}
  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Counter& telemetry;
  prometheus::Counter& delivered;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Family<prometheus::Counter>& dead;
  prometheus::Histogram& latency;
  prometheus::Family<prometheus::Gauge>& lag;
  prometheus::Family<prometheus::Gauge>& bridge_lag;  // {topic, partition}
};

class BridgeStatusTest : public ::testing::Test {
 protected:
  BridgeStatus MakeStatus() {
    return BridgeStatus(
        registry_, config_, [this] { return probe_; }, clock_);
  }
  metrics::Registry registry_;
  FakeBridgeMetrics m_{registry_};
  kafka::BridgeConfig config_;
  ManualClock clock_{kStart};
  std::optional<BridgeProbe> probe_ = BridgeProbe{};
};

TEST_F(BridgeStatusTest, NoBridgeIsDisabled) {
  probe_.reset();
  EXPECT_EQ(MakeStatus().Get(), Json({{"enabled", false}}));
}

TEST_F(BridgeStatusTest, RatesAreOverTheWindowSinceTheFirstSample) {
  BridgeStatus status = MakeStatus();
  m_.telemetry.Increment(1000);  // before the window: in the total, not in the rate
  Json first = status.Get();
  EXPECT_EQ(first["enabled"], true);
  EXPECT_TRUE(first["window_s"].is_null());
  ASSERT_EQ(first["mappings"].size(), 1u) << first.dump();
  EXPECT_EQ(first["mappings"][0]["mapping"], "fan/messages -> aiot.telemetry");
  EXPECT_EQ(first["mappings"][0]["direction"], "mqtt_to_kafka");
  EXPECT_EQ(first["mappings"][0]["total"], 1000);
  EXPECT_TRUE(first["mappings"][0]["per_s"].is_null());

  clock_.Advance(2s);
  m_.telemetry.Increment(100);
  m_.delivered.Increment(60);
  Json second = status.Get();
  EXPECT_EQ(second["window_s"], 2.0);
  EXPECT_EQ(second["mappings"][0]["per_s"], 50.0) << second.dump();
  EXPECT_EQ(second["delivered"]["per_s"], 30.0);
  EXPECT_EQ(second["delivered"]["total"], 60);

  // Samples older than 30 s leave the window: the rate follows the recent traffic.
  for (int i = 0; i < 40; ++i) {
    clock_.Advance(1s);
    m_.telemetry.Increment(10);
    (void)status.Get();
  }
  Json late = status.Get();
  EXPECT_LE(late["window_s"].get<double>(), 30.0);
  EXPECT_EQ(late["mappings"][0]["per_s"], 10.0) << late.dump();
}

TEST_F(BridgeStatusTest, LatencyPercentilesFromTheHistogram) {
  EXPECT_TRUE(MakeStatus().Get()["latency_ms"].is_null());  // nothing delivered yet
  BridgeStatus status = MakeStatus();
  for (int i = 0; i < 98; ++i) m_.latency.Observe(0.0015);  // (1, 2] ms
  for (int i = 0; i < 2; ++i) m_.latency.Observe(0.3);      // (200, 500] ms
  Json j = status.Get();
  ASSERT_TRUE(j["latency_ms"].is_object()) << j.dump();
  const double p50 = j["latency_ms"]["p50"], p99 = j["latency_ms"]["p99"];
  EXPECT_GT(p50, 1.0);
  EXPECT_LE(p50, 2.0);
  EXPECT_GT(p99, 200.0);
  EXPECT_LE(p99, 500.0);
  EXPECT_EQ(j["latency_ms"]["samples"], 100);
  EXPECT_EQ(j["latency_ms"]["over"], "start");  // no earlier sample: since the start

  // Over the window: only what was delivered since the first sample counts.
  clock_.Advance(2s);
  for (int i = 0; i < 10; ++i) m_.latency.Observe(0.04);  // (20, 50] ms
  j = status.Get();
  EXPECT_EQ(j["latency_ms"]["over"], "window");
  EXPECT_EQ(j["latency_ms"]["samples"], 10);
  EXPECT_GT(j["latency_ms"]["p50"].get<double>(), 20.0);
  EXPECT_LE(j["latency_ms"]["p99"].get<double>(), 50.0);
}

TEST_F(BridgeStatusTest, StateFollowsTheBufferAndTheProducer) {
  BridgeStatus status = MakeStatus();
  EXPECT_EQ(status.Get()["state"], "connected");
  // A record in flight for a moment is still connected.
  probe_->buffer.records = 3;
  probe_->buffer.bytes = 300;
  probe_->buffer.oldest_ms = kStart / 1'000'000 - 500;
  EXPECT_EQ(status.Get()["state"], "connected");
  // Records waiting longer: Kafka is unreachable or slow.
  probe_->buffer.oldest_ms = kStart / 1'000'000 - 5000;
  Json j = status.Get();
  EXPECT_EQ(j["state"], "buffering");
  EXPECT_EQ(j["buffer"]["records"], 3);
  EXPECT_EQ(j["buffer"]["bytes"], 300);
  EXPECT_EQ(j["buffer"]["oldest_age_s"], 5.0);
  EXPECT_EQ(j["buffer"]["max_bytes"], config_.buffer.max_bytes);
  EXPECT_NE(j["reason"].get<std::string>().find("oldest for 5.0 s"), std::string::npos);
  probe_->fatal = aiot::Status(errc::internal, "idempotent producer: fatal: _FENCED");
  j = status.Get();
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["reason"], "idempotent producer: fatal: _FENCED");
}

TEST_F(BridgeStatusTest, KafkaReachableIsReportedAndUnreachableMeansBuffering) {
  BridgeStatus status = MakeStatus();
  EXPECT_TRUE(status.Get()["kafka_reachable"].is_null());  // not known yet
  probe_->kafka_reachable = 1;
  EXPECT_EQ(status.Get()["kafka_reachable"], true);
  EXPECT_EQ(status.Get()["state"], "connected");
  probe_->kafka_reachable = 0;
  probe_->buffer.records = 3;
  probe_->buffer.oldest_ms = kStart / 1'000'000;  // fresh: not yet buffering by age
  const Json j = status.Get();
  EXPECT_EQ(j["kafka_reachable"], false);
  EXPECT_EQ(j["state"], "buffering");
  EXPECT_NE(j["reason"].get<std::string>().find("Kafka unreachable"), std::string::npos)
      << j["reason"];
}

TEST_F(BridgeStatusTest, ErrorsByKindAndConsumerLag) {
  BridgeStatus status = MakeStatus();
  m_.errors.Add({{"kind", "_TRANSPORT"}}).Increment(3);
  m_.errors.Add({{"kind", "_MSG_TIMED_OUT"}});  // zero: not listed
  (void)status.Get();
  clock_.Advance(2s);
  m_.errors.Add({{"kind", "_TRANSPORT"}}).Increment(2);
  m_.dead.Add({{"reason", "oversized"}}).Increment();
  m_.lag.Add({{"service", "predictor"}, {"topic", "aiot.telemetry"}, {"partition", "0"}}).Set(7);
  m_.lag.Add({{"service", "predictor"}, {"topic", "aiot.telemetry"}, {"partition", "1"}}).Set(5);
  m_.bridge_lag.Add({{"topic", "aiot.control"}, {"partition", "0"}}).Set(3);
  m_.bridge_lag.Add({{"topic", "aiot.control"}, {"partition", "3"}}).Set(0);
  Json j = status.Get();
  ASSERT_EQ(j["errors"].size(), 2u) << j.dump();
  EXPECT_EQ(j["errors"][0],
            Json({{"type", "dead_letter"}, {"kind", "oversized"}, {"total", 1}, {"recent", 1}}));
  EXPECT_EQ(j["errors"][1],
            Json({{"type", "delivery"}, {"kind", "_TRANSPORT"}, {"total", 5}, {"recent", 2}}));
  ASSERT_EQ(j["consumer_lag"].size(), 2u);
  EXPECT_EQ(
      j["consumer_lag"][0],
      Json({{"service", "bridge"}, {"topic", "aiot.control"}, {"partitions", 2}, {"lag", 3}}));
  EXPECT_EQ(
      j["consumer_lag"][1],
      Json(
          {{"service", "predictor"}, {"topic", "aiot.telemetry"}, {"partitions", 2}, {"lag", 12}}));
}

TEST(HistogramQuantile, EdgeCases) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(HistogramQuantile({}, 0.5));
  EXPECT_FALSE(HistogramQuantile({{1, 0}, {inf, 0}}, 0.5));
  // Everything beyond the last finite bound: that bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile({{1, 0}, {2, 0}, {inf, 10}}, 0.99), 2.0);
  // Linear within the bucket.
  EXPECT_DOUBLE_EQ(*HistogramQuantile({{1, 0}, {2, 10}, {inf, 10}}, 0.5), 1.5);
  EXPECT_DOUBLE_EQ(*HistogramQuantile({{1, 10}, {inf, 10}}, 0.5), 0.5);
}

}  // namespace
}  // namespace aiot::app
