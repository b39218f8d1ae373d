// `aiot bridge` as users run it, against real peers: mosquitto (the external broker, holding a
// persistent session for the bridge), librdkafka's mock cluster in this process (real TCP, fault
// injection) and kcat reading the Kafka topics back. Nothing acknowledged over MQTT may be missing
// from Kafka after a broker outage, injected produce errors, or kill -9 with a full buffer; per-key
// order holds; duplicates are counted and reported.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "kafka/mock_cluster.h"
#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"
#include "net/test_client.h"
#include "tests/kafka/aiot_process.h"
#include "tests/kafka/kafka_audit.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot {
namespace {

using aiot::test_support::FreePort;
using aiot::test_support::WaitFor;
using kafka::testing::Kcat;
using kafka::testing::KcatAvailable;
using kafka::testing::KcatWrite;
using kafka::testing::MockCluster;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using std::chrono::seconds;

// `aiot bridge` as a child process, serving /metrics on a free port.
class BridgeProcess {
 public:
  BridgeProcess(std::vector<std::string> args, int mappings) : mappings_(mappings) {
    args_ = {"--log-level", "warn"};
    args_.insert(args_.end(), args.begin(), args.end());
  }
  void Start() {
    http_port_ = FreePort();
    std::vector<std::string> argv = args_;
    argv.push_back("--http");
    argv.push_back(fmt::format("127.0.0.1:{}", http_port_));
    process_ = std::make_unique<kafka_test::AiotProcess>(std::move(argv));
    // Serving /metrics, and subscribed: mosquitto routes to it from now on.
    ASSERT_TRUE(process_->Start([&] {
      return MetricOr0("aiot_bridge_mqtt_subacks_total{result=\"granted\"}") >= mappings_;
    })) << "aiot bridge did not serve /metrics";
  }
  void Kill9() { process_->Kill9(); }
  int Terminate() { return process_->Terminate(); }
  std::optional<double> Metric(const std::string& prefix) const {
    return kafka_test::MetricAt(http_port_, prefix);
  }
  double MetricOr0(const std::string& prefix) const {
    return kafka_test::MetricAt(http_port_, prefix).value_or(0);
  }
  std::vector<double> MetricValues(const std::string& prefix) const {
    return kafka_test::MetricValuesAt(http_port_, prefix);
  }

 private:
  std::vector<std::string> args_;
  std::unique_ptr<kafka_test::AiotProcess> process_;
  uint16_t http_port_ = 0;
  int mappings_ = 1;
};

using KafkaRecordOut = kafka::testing::KcatRecord;

std::vector<KafkaRecordOut> ReadTopic(const MockCluster& cluster, const std::string& topic) {
  return kafka::testing::KcatReadTopic(cluster.bootstraps(), topic);
}

using kafka_test::Audit;
using kafka_test::AuditTopic;

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
    if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
    // An unbounded queue for the bridge's session while it is away (mosquitto's default is 1000).
    mosquitto_ = std::make_unique<Mosquitto>(0, "max_queued_messages 0\n");
    ASSERT_TRUE(mosquitto_->Start());
    auto c = MockCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status().message();
    cluster_ = std::move(*c);
    for (const char* t : {"aiot.telemetry", "aiot.control", "aiot.deadletter"}) {
      ASSERT_TRUE(cluster_->CreateTopic(t, 4).ok());
    }
  }
  void TearDown() override { bridge_.reset(); }

  std::unique_ptr<BridgeProcess> MakeBridge(std::vector<std::string> sets = {},
                                            std::vector<std::string> extra = {}) {
    std::vector<std::string> args;
    for (auto& s : sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    const std::vector<std::string> common = {"bridge",
                                             "--mqtt",
                                             mosquitto_->url(),
                                             "--kafka",
                                             cluster_->bootstraps(),
                                             "--client-id",
                                             "bridge-under-test",
                                             "--buffer-dir",
                                             dir_};
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), extra.begin(), extra.end());
    const auto maps = std::count(extra.begin(), extra.end(), std::string("--map"));
    return std::make_unique<BridgeProcess>(args, maps == 0 ? 1 : static_cast<int>(maps));
  }

  // Publishes `per_device` telemetry messages for each of `devices` devices at QoS 1, numbered
  // per device, interleaved; returns once mosquitto has acknowledged every one.
  void Publish(int devices, int per_device, int first = 0, size_t pad = 40) {
    IoThread io;
    mqtt::MqttClientConfig cfg;
    cfg.url = mosquitto_->url();
    cfg.client_id = "publisher";
    auto client = mqtt::Client::Create(io.io(), cfg);
    client->Start();
    std::atomic<int> acked{0}, failed{0};
    const int total = devices * per_device;
    for (int n = first; n < first + per_device; ++n) {
      for (int d = 0; d < devices; ++d) {
        const std::string payload = fmt::format(R"({{"deviceID":"fan-{:04d}","n":{},"pad":"{}"}})",
                                                d, n, std::string(pad, 'x'));
        // Within the client's offline queue (10000): never refused here.
        ASSERT_TRUE(client
                        ->Publish("fan/messages", payload, {.qos = mqtt::QoS::kAtLeastOnce},
                                  [&](std::error_code ec) { (ec ? failed : acked)++; })
                        .ok());
      }
    }
    ASSERT_TRUE(WaitFor([&] { return acked + failed == total; }, seconds(60)));
    EXPECT_EQ(failed.load(), 0);
    std::promise<void> stopped;
    client->Stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
  }

  // Waits until Kafka has every message of Publish(devices, per_device); the audit.
  Audit WaitForAll(int devices, int per_device) {
    Audit a;
    WaitFor(
        [&] {
          a = AuditTopic(ReadTopic(*cluster_, "aiot.telemetry"), devices, per_device);
          return a.missing.empty();
        },
        seconds(90), std::chrono::milliseconds(300));
    std::cout << fmt::format("kafka has {} distinct messages, {} duplicates, {} missing\n",
                             a.distinct, a.duplicates, a.missing.size());
    return a;
  }

  std::unique_ptr<Mosquitto> mosquitto_;
  std::unique_ptr<MockCluster> cluster_;
  std::unique_ptr<BridgeProcess> bridge_;
  test_support::TempDir tmp_{"aiot-bridge-test"};
  std::string dir_ = tmp_.path();
};

TEST_F(BridgeTest, NothingAcknowledgedIsLostThroughABrokerOutageAndProduceErrors) {
  bridge_ = MakeBridge();
  bridge_->Start();
  // (b) Produce requests fail (retriable errors) for a while.
  cluster_->PushProduceErrors({RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                               RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                               RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                               RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND});
  Publish(10, 50, 0);
  EXPECT_TRUE(
      WaitFor([&] { return bridge_->Metric("aiot_bridge_kafka_reachable") == 1.0; }, seconds(60)));
  // (a) Every Kafka broker down; the bridge keeps acknowledging MQTT into its buffer.
  cluster_->SetAllBrokersDown();
  Publish(10, 50, 50);
  EXPECT_TRUE(
      WaitFor([&] { return bridge_->Metric("aiot_bridge_kafka_reachable") == 0.0; }, seconds(60)));
  ASSERT_TRUE(WaitFor([&] {
    return bridge_->MetricOr0("aiot_bridge_messages_total{direction=\"mqtt_to_kafka\"") >= 1000;
  }));
  // The outage lasts until the oldest buffered record is 3 s old (a condition, not a sleep).
  ASSERT_TRUE(WaitFor(
      [&] { return bridge_->MetricOr0("aiot_bridge_buffer{value=\"oldest_age_seconds\"}") >= 3; }));
  EXPECT_GT(bridge_->MetricOr0("aiot_bridge_buffer{value=\"records\"}"), 0);
  cluster_->SetAllBrokersUp();
  const Audit a = WaitForAll(10, 100);
  EXPECT_TRUE(
      WaitFor([&] { return bridge_->Metric("aiot_bridge_kafka_reachable") == 1.0; }, seconds(60)));
  EXPECT_TRUE(a.missing.empty()) << a.missing.size() << " missing, first " << a.missing[0];
  EXPECT_TRUE(a.out_of_order.empty()) << a.out_of_order[0];
  std::cout << "duplicates after outage + produce errors: " << a.duplicates << "\n";
  // Delivered means the buffer is drained and its segments deleted.
  ASSERT_TRUE(
      WaitFor([&] { return bridge_->MetricOr0("aiot_bridge_buffer{value=\"records\"}") == 0; }));
  EXPECT_EQ(bridge_->Terminate(), 0);
}

TEST_F(BridgeTest, Kill9WithAFullBufferThenRestartLosesNothing) {
  // A small buffer: 64 KiB holds a few hundred of these messages; 3000 are sent.
  const std::vector<std::string> sets = {"bridge.buffer.max_bytes=65536",
                                         "bridge.buffer.segment_bytes=16384"};
  bridge_ = MakeBridge(sets);
  bridge_->Start();
  cluster_->SetAllBrokersDown();
  Publish(10, 300, 0, 100);
  ASSERT_TRUE(WaitFor([&] {  // full: the bridge waits for space, mosquitto holds the rest
    return bridge_->MetricOr0("aiot_bridge_buffer{value=\"bytes\"}") > 65536 - 2 * 400;
  }));
  const double buffered = bridge_->MetricOr0("aiot_bridge_buffer{value=\"records\"}");
  std::cout << "buffered (acknowledged over MQTT) before kill -9: " << buffered << "\n";
  EXPECT_GT(buffered, 100);
  bridge_->Kill9();
  cluster_->SetAllBrokersUp();
  bridge_ = MakeBridge(sets);
  bridge_->Start();
  EXPECT_GE(bridge_->MetricOr0("aiot_bridge_buffer{value=\"recovered_records\"}"), buffered);
  const Audit a = WaitForAll(10, 300);
  EXPECT_TRUE(a.missing.empty()) << a.missing.size() << " missing, first " << a.missing[0];
  EXPECT_TRUE(a.out_of_order.empty()) << a.out_of_order[0];
  std::cout << "duplicates after kill -9 + restart: " << a.duplicates << "\n";
  EXPECT_EQ(bridge_->Terminate(), 0);
}

TEST_F(BridgeTest, BadMqttInputIsDeadLetteredWithAReasonAndCounted) {
  bridge_ = MakeBridge({"bridge.max_message_bytes=1024"});
  bridge_->Start();
  const std::string bad[] = {"not json", R"({"rotation":1})", std::string(2000, 'x')};
  for (const auto& payload : bad) {
    ASSERT_EQ(std::system(fmt::format("mosquitto_pub -p {} -q 1 -t fan/messages -m '{}'",
                                      mosquitto_->port(), payload)
                              .c_str()),
              0);
  }
  Publish(1, 1);  // a good one after them: bad input does not stall the bridge
  std::vector<KafkaRecordOut> dead;
  ASSERT_TRUE(WaitFor([&] {
    dead = ReadTopic(*cluster_, "aiot.deadletter");
    return dead.size() >= 3;
  }));
  std::multiset<std::string> reasons;
  for (auto& r : dead) {
    reasons.insert(r.headers["aiot.error"]);
    EXPECT_EQ(r.headers["mqtt.topic"], "fan/messages");
  }
  EXPECT_EQ(reasons, (std::multiset<std::string>{"malformed", "no_key", "oversized"}));
  EXPECT_TRUE(WaitForAll(1, 1).missing.empty());
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_dead_letters_total{reason=\"malformed\"}"), 1);
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_dead_letters_total{reason=\"oversized\"}"), 1);
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_dead_letters_total{reason=\"no_key\"}"), 1);
}

TEST_F(BridgeTest, KafkaControlMessageReachesTheRightDeviceAndLoopsAreCut) {
  bridge_ = MakeBridge({}, {"--map", "fan/messages -> aiot.telemetry", "--map",
                            "fan/control/+ -> aiot.control key={2}"});
  bridge_->Start();
  IoThread io;
  mqtt::MqttClientConfig cfg;
  cfg.url = mosquitto_->url();
  cfg.client_id = "fan-0007";
  auto device = mqtt::Client::Create(io.io(), cfg);
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;
  std::atomic<bool> subscribed{false};
  device->Subscribe(
      "fan/control/+", mqtt::SubscribeOptions{.qos = mqtt::QoS::kAtLeastOnce},
      [&](const mqtt::Message& m) {
        std::lock_guard lock(mu);
        got.emplace_back(m.topic, std::string(m.payload.view()));
      },
      [&](mqtt::ReasonCode) { subscribed = true; });
  device->Start();
  ASSERT_TRUE(WaitFor([&] { return subscribed.load(); }));
  // Written to Kafka by an independent producer: one good control message, one with a key that
  // is not a device id, one whose value is not JSON, one marked as coming from a bridge.
  ASSERT_TRUE(KcatWrite(cluster_->bootstraps(), "-P -t aiot.control -K '|'",
                        "fan/x|{\"command\":\"report-status\"}\n"
                        "fan-0007|not json\n"));
  ASSERT_TRUE(KcatWrite(cluster_->bootstraps(),
                        "-P -t aiot.control -K '|' -H aiot-bridge-origin=elsewhere",
                        "fan-0007|{\"command\":\"looped\"}\n"));
  ASSERT_TRUE(KcatWrite(cluster_->bootstraps(), "-P -t aiot.control -K '|'",
                        "fan-0007|{\"command\":\"report-status\"}\n"));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return !got.empty();
  }));
  // The bridge's own publish on fan/control/fan-0007 matches its mapping fan/control/+ but
  // carries its origin mark: not carried back to Kafka.
  ASSERT_TRUE(WaitFor([&] {
    return bridge_->MetricOr0("aiot_bridge_loop_skipped_total{direction=\"mqtt_to_kafka\"}") >= 1 &&
           bridge_->MetricOr0("aiot_bridge_loop_skipped_total{direction=\"kafka_to_mqtt\"}") >= 1;
  }));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(got.size(), 1u);  // the bad, looped ones were not published (they came first)
    EXPECT_EQ(got[0].first, "fan/control/fan-0007");
    EXPECT_EQ(got[0].second, R"({"command":"report-status"})");
  }
  std::vector<KafkaRecordOut> dead;
  ASSERT_TRUE(WaitFor([&] {
    dead = ReadTopic(*cluster_, "aiot.deadletter");
    return dead.size() >= 2;
  }));
  std::multiset<std::string> reasons;
  for (auto& r : dead) reasons.insert(r.headers["aiot.error"]);
  EXPECT_EQ(reasons, (std::multiset<std::string>{"bad_key", "bad_payload"}));
  EXPECT_EQ(ReadTopic(*cluster_, "aiot.control").size(), 4u);  // nothing carried back
  std::promise<void> stopped;
  device->Stop([&] { stopped.set_value(); });
  stopped.get_future().wait();
}

// The Kafka -> MQTT side's consumer lag: records written to aiot.control while the MQTT broker
// is down are read but not acknowledged, so they count in aiot_bridge_consumer_lag (per
// partition) until the broker is back and has acknowledged every publish; then 0.
TEST_F(BridgeTest, ConsumerLagCountsControlMessagesUntilMqttAcknowledgesThem) {
  bridge_ = MakeBridge({}, {"--map", "fan/messages -> aiot.telemetry"});
  bridge_->Start();
  auto lag = [&] {  // (sum, partitions exported)
    const std::vector<double> v = bridge_->MetricValues("aiot_bridge_consumer_lag{");
    double sum = 0;
    for (double x : v) sum += x;
    return std::pair<double, size_t>{sum, v.size()};
  };
  // Assigned all 4 partitions of aiot.control, nothing to read: 0 each.
  ASSERT_TRUE(WaitFor(
      [&] {
        return lag() == std::pair<double, size_t>{0, 4};
      },
      seconds(60)))
      << "lag " << lag().first << " over " << lag().second << " partitions";
  mosquitto_->Kill();
  constexpr int kRecords = 40;
  std::string lines;
  for (int i = 0; i < kRecords; ++i) {
    lines += fmt::format("fan-{:04d}|{{\"command\":\"report-status\",\"n\":{}}}\n", i % 8, i);
  }
  ASSERT_TRUE(KcatWrite(cluster_->bootstraps(), "-P -t aiot.control -K '|'", lines));
  // Read (the publishes wait in the MQTT client's offline queue) but not acknowledged.
  ASSERT_TRUE(WaitFor([&] { return lag().first == kRecords; }, seconds(60)))
      << "lag " << lag().first;
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_messages_total{direction=\"kafka_to_mqtt\""), 0);
  ASSERT_TRUE(mosquitto_->Start());
  ASSERT_TRUE(WaitFor(
      [&] {
        return lag() == std::pair<double, size_t>{0, 4};
      },
      seconds(90)))
      << "lag " << lag().first;
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_messages_total{direction=\"kafka_to_mqtt\""), kRecords);
}

// A bootstrap address nothing listens on: the bridge says so (aiot_bridge_kafka_reachable 0, one
// error line naming the servers), keeps acknowledging MQTT into its disk buffer.
TEST_F(BridgeTest, UnreachableBootstrapServerIsReportedAndMessagesAreBuffered) {
  const std::string nowhere = fmt::format("127.0.0.1:{}", FreePort());
  bridge_ = std::make_unique<BridgeProcess>(
      std::vector<std::string>{"bridge", "--mqtt", mosquitto_->url(), "--kafka", nowhere,
                               "--client-id", "bridge-under-test", "--buffer-dir", dir_},
      1);
  bridge_->Start();
  ASSERT_TRUE(
      WaitFor([&] { return bridge_->Metric("aiot_bridge_kafka_reachable") == 0.0; }, seconds(60)))
      << "aiot_bridge_kafka_reachable "
      << bridge_->Metric("aiot_bridge_kafka_reachable").value_or(-99);
  Publish(2, 5);
  EXPECT_TRUE(
      WaitFor([&] { return bridge_->MetricOr0("aiot_bridge_buffer{value=\"records\"}") == 10; }));
  EXPECT_EQ(bridge_->Metric("aiot_bridge_kafka_reachable"), 0.0);
  EXPECT_EQ(bridge_->MetricOr0("aiot_bridge_delivered_total"), 0);
  EXPECT_EQ(bridge_->Terminate(), 0);
}

}  // namespace
}  // namespace aiot
