// The bridge inside the broker (`aiot broker` with bridge.enabled) as users run it: a child
// process, librdkafka's mock cluster in this process (real TCP, brokers taken down and up), kcat
// reading Kafka back, aiot's MQTT client as the device. A QoS 1/2 PUBLISH the bridge takes is
// acknowledged only after Kafka's delivery report; with a full buffer and when_full: refuse, a v5
// device gets PUBACK 0x97.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
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
using std::chrono::seconds;

// `aiot broker` with the bridge enabled, as a child process.
class BrokerProcess {
 public:
  explicit BrokerProcess(std::vector<std::string> sets) : sets_(std::move(sets)) {}
  void Start() {
    port_ = FreePort();
    http_port_ = FreePort();
    std::vector<std::string> argv = {"--log-level", "warn", "--set",
                                     fmt::format("broker.listeners=[127.0.0.1:{}]", port_)};
    for (const auto& s : sets_) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    argv.insert(argv.end(), {"broker", "--http", fmt::format("127.0.0.1:{}", http_port_)});
    process_ = std::make_unique<kafka_test::AiotProcess>(std::move(argv));
    // The gate is installed before the listeners accept: a connection means the bridge is on.
    // --http starts after the MQTT listeners; until it accepts, Metric() would read 0 (a restart's
    // recovered_records once read 0 that way, with every record then delivered from the buffer).
    ASSERT_TRUE(process_->Start([&] {
      return net::testing::TestClient(port_).connected() &&
             net::testing::TestClient(http_port_).connected();
    })) << "aiot broker did not listen";
  }
  void Kill9() { process_->Kill9(); }
  // SIGTERM; the exit code.
  int Terminate() { return process_->Terminate(); }
  std::string url() const { return fmt::format("tcp://127.0.0.1:{}", port_); }
  uint16_t port() const { return port_; }
  // From its /metrics (--http), 0 when absent.
  double Metric(const std::string& prefix) const {
    return kafka_test::MetricAt(http_port_, prefix).value_or(0);
  }
  std::vector<double> MetricValues(const std::string& prefix) const {
    return kafka_test::MetricValuesAt(http_port_, prefix);
  }

 private:
  std::vector<std::string> sets_;
  std::unique_ptr<kafka_test::AiotProcess> process_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
};

// The (key, payload) pairs of a topic, read by kcat.
std::multimap<std::string, std::string> KeyedPayloads(const MockCluster& cluster,
                                                      const std::string& topic) {
  std::multimap<std::string, std::string> out;
  for (auto& r : kafka::testing::KcatReadTopic(cluster.bootstraps(), topic)) {
    out.emplace(std::move(r.key), std::move(r.payload));
  }
  return out;
}

class BrokerBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
    auto c = MockCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status().message();
    cluster_ = std::move(*c);
    for (const char* t : {"aiot.telemetry", "aiot.control", "aiot.deadletter"}) {
      ASSERT_TRUE(cluster_->CreateTopic(t, 3).ok());
    }
  }

  std::unique_ptr<BrokerProcess> StartBroker(std::vector<std::string> sets = {}) {
    sets.push_back("bridge.enabled=true");
    sets.push_back("bridge.bootstrap_servers=" + cluster_->bootstraps());
    sets.push_back("bridge.buffer.dir=" + tmp_.path());
    auto b = std::make_unique<BrokerProcess>(std::move(sets));
    b->Start();
    return b;
  }

  std::shared_ptr<mqtt::Client> Device(const BrokerProcess& broker, const std::string& id) {
    mqtt::MqttClientConfig cfg;
    cfg.url = broker.url();
    cfg.client_id = id;
    auto client = mqtt::Client::Create(io_.io(), cfg);
    client->Start();
    return client;
  }

  // Publishes and returns the future of its acknowledgement (the error code, 0 = acked).
  static std::future<std::error_code> PublishAcked(mqtt::Client& c, const std::string& payload,
                                                   mqtt::QoS qos) {
    auto p = std::make_shared<std::promise<std::error_code>>();
    auto f = p->get_future();
    EXPECT_TRUE(c.Publish("fan/messages", payload, {.qos = qos}, [p](std::error_code ec) {
                   p->set_value(ec);
                 }).ok());
    return f;
  }

  static void Stop(mqtt::Client& c) {
    std::promise<void> stopped;
    c.Stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
  }

  test_support::TempDir tmp_{"aiot-broker-bridge"};
  std::unique_ptr<MockCluster> cluster_;
  IoThread io_;
};

TEST_F(BrokerBridgeTest, PubackAndPubrecComeOnlyAfterKafkaHasTheRecord) {
  auto broker = StartBroker();
  ASSERT_TRUE(broker);
  auto device = Device(*broker, "fan-0001");
  // Kafka up: acknowledged, and by then kcat reads it.
  auto first = PublishAcked(*device, R"({"deviceID":"fan-0001","n":0})", mqtt::QoS::kAtLeastOnce);
  ASSERT_EQ(first.wait_for(seconds(60)), std::future_status::ready);
  EXPECT_FALSE(first.get());
  EXPECT_EQ(KeyedPayloads(*cluster_, "aiot.telemetry").count("fan-0001"), 1u);

  // Every Kafka broker down: no PUBACK / PUBREC while Kafka cannot have the records.
  cluster_->SetAllBrokersDown();
  auto q1 = PublishAcked(*device, R"({"deviceID":"fan-0001","n":1})", mqtt::QoS::kAtLeastOnce);
  auto q2 = PublishAcked(*device, R"({"deviceID":"fan-0001","n":2})", mqtt::QoS::kExactlyOnce);
  EXPECT_EQ(q1.wait_for(seconds(4)), std::future_status::timeout);
  EXPECT_EQ(q2.wait_for(seconds(0)), std::future_status::timeout);
  cluster_->SetAllBrokersUp();
  ASSERT_EQ(q1.wait_for(seconds(60)), std::future_status::ready);
  ASSERT_EQ(q2.wait_for(seconds(60)), std::future_status::ready);
  EXPECT_FALSE(q1.get());
  EXPECT_FALSE(q2.get());
  // Read once, no waiting: acknowledged means Kafka has it.
  std::set<std::string> payloads;
  for (const auto& [key, payload] : KeyedPayloads(*cluster_, "aiot.telemetry")) {
    if (key == "fan-0001") payloads.insert(payload);
  }
  EXPECT_EQ(payloads.size(), 3u);
  EXPECT_TRUE(payloads.contains(R"({"deviceID":"fan-0001","n":2})"));
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

TEST_F(BrokerBridgeTest, FullBufferUnderRefuseAnswersQuotaExceededAndLosesNothingAcked) {
  auto broker = StartBroker({"bridge.when_full=refuse", "bridge.buffer.max_bytes=65536",
                             "bridge.buffer.segment_bytes=8192"});
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  auto device = Device(*broker, "fan-0002");
  constexpr int kMessages = 200;  // 1 KiB each: three times the buffer
  std::atomic<int> acked{0}, quota{0}, other{0};
  std::mutex mu;
  std::set<int> acked_ns;
  for (int n = 0; n < kMessages; ++n) {
    const std::string payload =
        fmt::format(R"({{"deviceID":"fan-0002","n":{},"pad":"{}"}})", n, std::string(1000, 'x'));
    ASSERT_TRUE(device
                    ->Publish("fan/messages", payload, {.qos = mqtt::QoS::kAtLeastOnce},
                              [&, n](std::error_code ec) {
                                if (!ec) {
                                  std::lock_guard lock(mu);
                                  acked_ns.insert(n);
                                  acked++;
                                } else if (ec ==
                                           make_error_code(mqtt::ReasonCode::kQuotaExceeded)) {
                                  quota++;
                                } else {
                                  other++;
                                }
                              })
                    .ok());
  }
  // While Kafka is down nothing is answered: what fitted waits for Kafka, and the 0x97 of what
  // did not fit keeps the PUBLISH order [MQTT-4.6.0-2], behind those acks.
  EXPECT_FALSE(WaitFor([&] { return acked + quota + other > 0; }, seconds(3)));
  cluster_->SetAllBrokersUp();
  ASSERT_TRUE(WaitFor([&] { return acked + quota + other == kMessages; }, seconds(90)))
      << acked.load() << " acknowledged, " << quota.load() << " refused, " << other.load()
      << " failed otherwise";
  EXPECT_GT(quota.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(acked.load(), 0);
  std::cout << fmt::format("{} acknowledged, {} refused with 0x97\n", acked.load(), quota.load());
  std::set<int> in_kafka;
  for (const auto& [key, payload] : KeyedPayloads(*cluster_, "aiot.telemetry")) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (key == "fan-0002" && j.is_object()) in_kafka.insert(j["n"].get<int>());
  }
  std::lock_guard lock(mu);
  for (int n : acked_ns) EXPECT_TRUE(in_kafka.contains(n)) << "acknowledged but missing: " << n;
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

// Publishes `count` QoS `qos` messages of ~1 KiB numbered from `first`; `acked` counts the
// successful acknowledgements, `failed` the others.
void PublishMany(mqtt::Client& device, const std::string& id, int first, int count, mqtt::QoS qos,
                 std::atomic<int>& acked, std::atomic<int>& failed) {
  for (int n = first; n < first + count; ++n) {
    const std::string payload =
        fmt::format(R"({{"deviceID":"{}","n":{},"pad":"{}"}})", id, n, std::string(1000, 'x'));
    ASSERT_TRUE(device
                    .Publish("fan/messages", payload, {.qos = qos},
                             [&](std::error_code ec) { (ec ? failed : acked)++; })
                    .ok());
  }
}

// The message numbers of `id` in Kafka, with how often.
std::map<int, int> NumbersInKafka(const MockCluster& cluster, const std::string& id) {
  std::map<int, int> out;
  for (const auto& [key, payload] : KeyedPayloads(cluster, "aiot.telemetry")) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (key == id && j.is_object() && j["n"].is_number_integer()) out[j["n"].get<int>()]++;
  }
  return out;
}

TEST_F(BrokerBridgeTest, FullBufferUnderBlockSlowsThePublisherAndLosesNothing) {
  // ack: durable, so acknowledgements come while the buffer has room and stop when it is full:
  // the device is held at its in-flight window (flow control), nothing is refused or dropped.
  auto broker = StartBroker({"bridge.when_full=block", "bridge.ack=durable",
                             "bridge.buffer.max_bytes=65536", "bridge.buffer.segment_bytes=8192"});
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  auto device = Device(*broker, "fan-0004");
  constexpr int kMessages = 200;  // 1 KiB each: three times the buffer
  std::atomic<int> acked{0}, failed{0};
  PublishMany(*device, "fan-0004", 0, kMessages, mqtt::QoS::kAtLeastOnce, acked, failed);
  // What fits is acknowledged; then nothing more while Kafka is down.
  ASSERT_TRUE(WaitFor([&] { return acked >= 40; }, seconds(30))) << acked.load();
  EXPECT_FALSE(WaitFor([&] { return acked + failed == kMessages; }, seconds(3)));
  const int held_at = acked.load();
  EXPECT_LE(held_at, 64);  // at most the 64 KiB buffer's worth
  EXPECT_GT(broker->Metric(R"(aiot_bridge_buffer{value="bytes"})"), 65536 - 2 * 1100);
  cluster_->SetAllBrokersUp();
  ASSERT_TRUE(WaitFor([&] { return acked + failed == kMessages; }, seconds(90)))
      << acked.load() << " acknowledged, " << failed.load() << " failed";
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(broker->Metric("aiot_bridge_refused_total"), 0);
  EXPECT_EQ(broker->Metric("aiot_bridge_dropped_total"), 0);
  ASSERT_TRUE(WaitFor([&] { return NumbersInKafka(*cluster_, "fan-0004").size() == kMessages; },
                      seconds(60), std::chrono::milliseconds(300)));
  std::cout << fmt::format(
      "block: held at {} acknowledged of {} while Kafka was down; all {} in "
      "Kafka after\n",
      held_at, kMessages, kMessages);
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

TEST_F(BrokerBridgeTest, FullBufferUnderDropOldestQos0DropsQos0AndKeepsQos1) {
  auto broker = StartBroker({"bridge.when_full=drop_oldest_qos0", "bridge.buffer.max_bytes=65536",
                             "bridge.buffer.segment_bytes=8192"});
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  auto device = Device(*broker, "fan-0005");
  constexpr int kQos0 = 150, kQos1 = 5;
  std::atomic<int> acked{0}, failed{0}, sent0{0}, failed0{0};
  PublishMany(*device, "fan-0005", 0, kQos0, mqtt::QoS::kAtMostOnce, sent0, failed0);
  PublishMany(*device, "fan-0005", kQos0, kQos1, mqtt::QoS::kAtLeastOnce, acked, failed);
  // The QoS 0 beyond the buffer are dropped and counted; the QoS 1 wait for Kafka.
  ASSERT_TRUE(WaitFor([&] {
    return broker->Metric(R"(aiot_bridge_dropped_total{reason="drop_oldest_qos0"})") >= 50;
  }));
  EXPECT_EQ(acked + failed, 0);
  cluster_->SetAllBrokersUp();
  ASSERT_TRUE(WaitFor([&] { return acked + failed == kQos1; }, seconds(90)));
  EXPECT_EQ(failed.load(), 0);
  const double dropped = broker->Metric(R"(aiot_bridge_dropped_total{reason="drop_oldest_qos0"})");
  std::map<int, int> in_kafka;
  ASSERT_TRUE(WaitFor(
      [&] {
        in_kafka = NumbersInKafka(*cluster_, "fan-0005");
        return in_kafka.size() + static_cast<size_t>(dropped) == kQos0 + kQos1;
      },
      seconds(60), std::chrono::milliseconds(300)))
      << in_kafka.size() << " in Kafka, " << dropped << " dropped";
  for (int n = kQos0; n < kQos0 + kQos1; ++n) EXPECT_TRUE(in_kafka.contains(n)) << "QoS 1 " << n;
  std::cout << fmt::format("drop_oldest_qos0: {} QoS 0 dropped (counted), {} in Kafka\n", dropped,
                           in_kafka.size() - kQos1);
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

// MQTT 3.1.1 has no reason code in PUBACK: under refuse a v3.1.1 publisher whose PUBLISH does
// not fit is disconnected without a PUBACK (it resends after reconnecting).
TEST_F(BrokerBridgeTest, RefuseClosesTheConnectionOfAV311Publisher) {
  auto broker = StartBroker({"bridge.when_full=refuse", "bridge.buffer.max_bytes=65536",
                             "bridge.buffer.segment_bytes=8192"});
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  auto filler = Device(*broker, "fan-0006");
  std::atomic<int> acked{0}, failed{0};
  PublishMany(*filler, "fan-0006", 0, 100, mqtt::QoS::kAtLeastOnce, acked, failed);
  ASSERT_TRUE(WaitFor([&] { return broker->Metric("aiot_bridge_refused_total") >= 1; }));
  // Every filler message decided: buffered (its PUBACK held: Kafka is down) or refused (0x97).
  // Then the space left is known, and nothing frees any (CI once had a record delivered just
  // before the brokers went down free a segment after the first refusal, and the v3.1.1
  // message, sized for what was left then, fitted).
  auto refused_now = [&] { return broker->Metric("aiot_bridge_refused_total"); };
  auto buffered_now = [&] { return broker->Metric(R"(aiot_bridge_buffer{value="records"})"); };
  ASSERT_TRUE(WaitFor([&] { return refused_now() + buffered_now() >= 100; }))
      << refused_now() << " refused, " << buffered_now() << " buffered";
  const double refused = refused_now();
  const double used = broker->Metric(R"(aiot_bridge_buffer{value="bytes"})");
  const size_t left = used < 65536 ? static_cast<size_t>(65536 - used) : 0;

  // A v3.1.1 device over a plain socket: CONNECT, CONNACK, then one QoS 1 PUBLISH.
  auto remaining = [](size_t n) {
    std::string out;
    do {
      uint8_t b = n % 128;
      n /= 128;
      out.push_back(static_cast<char>(n > 0 ? b | 0x80 : b));
    } while (n > 0);
    return out;
  };
  auto str = [](std::string_view s) {
    return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} +
           std::string(s);
  };
  const std::string connect_body =
      str("MQTT") + std::string("\x04\x02\x00\x3c", 4) + str("v311-device");
  // Larger than what is left in the buffer, by more than a record's topic and headers.
  const std::string payload = fmt::format(R"({{"deviceID":"v311-device","n":0,"pad":"{}"}})",
                                          std::string(left + 2000, 'x'));
  const std::string publish_body = str("fan/messages") + std::string("\x00\x01", 2) + payload;
  net::testing::TestClient v311(broker->port());
  ASSERT_TRUE(v311.connected());
  ASSERT_TRUE(v311.Send("\x10" + remaining(connect_body.size()) + connect_body));
  ASSERT_TRUE(v311.Send("\x32" + remaining(publish_body.size()) + publish_body));
  auto received = v311.ReadUntilClosed(20000);
  ASSERT_TRUE(received.has_value()) << "the connection was not closed";
  EXPECT_EQ(*received, std::string("\x20\x02\x00\x00", 4)) << "only the CONNACK, no PUBACK";
  EXPECT_EQ(broker->Metric("aiot_bridge_refused_total"), refused + 1);
  cluster_->SetAllBrokersUp();
  ASSERT_TRUE(WaitFor([&] { return acked + failed == 100; }, seconds(90)));
  EXPECT_EQ(NumbersInKafka(*cluster_, "v311-device").size(), 0u);  // refused: not taken
  Stop(*filler);
  EXPECT_EQ(broker->Terminate(), 0);
}

TEST_F(BrokerBridgeTest, AckDurableAcknowledgesOnceBufferedEvenWithKafkaDown) {
  auto broker = StartBroker({"bridge.ack=durable"});
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  auto device = Device(*broker, "fan-0003");
  auto q1 = PublishAcked(*device, R"({"deviceID":"fan-0003","n":0})", mqtt::QoS::kAtLeastOnce);
  ASSERT_EQ(q1.wait_for(seconds(30)), std::future_status::ready);  // in the disk buffer
  EXPECT_FALSE(q1.get());
  cluster_->SetAllBrokersUp();
  EXPECT_TRUE(
      WaitFor([&] { return KeyedPayloads(*cluster_, "aiot.telemetry").count("fan-0003") == 1; },
              seconds(60), std::chrono::milliseconds(300)));
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

TEST_F(BrokerBridgeTest, ControlMessageFromKafkaReachesTheDeviceThroughTheBroker) {
  auto broker = StartBroker();
  ASSERT_TRUE(broker);
  auto device = Device(*broker, "fan-0007");
  std::promise<std::string> got;
  std::atomic<bool> once{false};
  std::promise<void> subscribed;
  device->Subscribe(
      "fan/control/fan-0007", mqtt::SubscribeOptions{.qos = mqtt::QoS::kAtLeastOnce},
      [&](const mqtt::Message& m) {
        if (!once.exchange(true)) got.set_value(std::string(m.payload.view()));
      },
      [&](mqtt::ReasonCode) { subscribed.set_value(); });
  ASSERT_EQ(subscribed.get_future().wait_for(seconds(10)), std::future_status::ready);
  ASSERT_TRUE(KcatWrite(cluster_->bootstraps(),
                        "-P -t aiot.control -K :", "fan-0007:{\"command\":\"stop\"}\n"));
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(seconds(60)), std::future_status::ready);
  EXPECT_EQ(f.get(), R"({"command":"stop"})");
  // The in-process consumer's lag on /metrics: every partition of aiot.control (3) at 0 once the
  // record is acknowledged by the broker.
  EXPECT_TRUE(WaitFor([&] {
    const auto lags = broker->MetricValues("aiot_bridge_consumer_lag{");
    return lags == std::vector<double>(3, 0.0);
  })) << broker->MetricValues("aiot_bridge_consumer_lag{").size()
      << " partitions";
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

// A fleet publishing at once, each device beyond its window (broker.receive_maximum 100): every
// PUBACK comes and every message is in Kafka. (A delivery report that came before the intake
// thread had registered its record once left that device's ack held for good: its window, and
// so the device, stalled.)
TEST_F(BrokerBridgeTest, ManyDevicesPublishingAtOnceAreAllAcknowledged) {
  // The window set below each device's 300 messages (the default is 1000).
  auto broker = StartBroker({"broker.receive_maximum=100"});
  ASSERT_TRUE(broker);
  constexpr int kDevices = 16, kEach = 300;
  std::vector<std::shared_ptr<mqtt::Client>> devices;
  for (int d = 0; d < kDevices; ++d)
    devices.push_back(Device(*broker, fmt::format("fan-{:04d}", d)));
  std::atomic<int> acked{0}, failed{0};
  for (int n = 0; n < kEach; ++n) {
    for (int d = 0; d < kDevices; ++d) {
      ASSERT_TRUE(devices[d]
                      ->Publish("fan/messages",
                                fmt::format(R"({{"deviceID":"fan-{:04d}","n":{}}})", d, n),
                                {.qos = mqtt::QoS::kAtLeastOnce},
                                [&](std::error_code ec) { (ec ? failed : acked)++; })
                      .ok());
    }
  }
  ASSERT_TRUE(WaitFor([&] { return acked + failed == kDevices * kEach; }, seconds(120)))
      << acked.load() << " of " << kDevices * kEach << " acknowledged, " << failed.load()
      << " failed";
  EXPECT_EQ(failed.load(), 0);
  std::map<std::string, std::set<std::string>> in_kafka;
  for (const auto& [key, payload] : KeyedPayloads(*cluster_, "aiot.telemetry")) {
    in_kafka[key].insert(payload);
  }
  for (int d = 0; d < kDevices; ++d) {
    EXPECT_EQ(in_kafka[fmt::format("fan-{:04d}", d)].size(), static_cast<size_t>(kEach)) << d;
  }
  for (auto& c : devices) Stop(*c);
  EXPECT_EQ(broker->Terminate(), 0);
}

// kill -9 of the broker while Kafka is down and QoS 1 publishers have filled the disk buffer
// (ack: durable, so the buffered ones were acknowledged; when_full: block holds the rest back),
// then a restart on the same buffer dir with Kafka up: every message acknowledged over MQTT
// before the kill is in Kafka, per-key order holds; duplicates are counted and printed.
TEST_F(BrokerBridgeTest, Kill9WithAFullBufferThenRestartLosesNothingAcknowledged) {
  const std::vector<std::string> sets = {"bridge.ack=durable", "bridge.when_full=block",
                                         "bridge.buffer.max_bytes=65536",
                                         "bridge.buffer.segment_bytes=8192"};
  auto broker = StartBroker(sets);
  ASSERT_TRUE(broker);
  cluster_->SetAllBrokersDown();
  constexpr int kDevices = 4, kEach = 100;  // ~1 KiB each: six times the buffer
  std::vector<std::shared_ptr<mqtt::Client>> devices;
  std::mutex mu;
  std::map<std::string, std::set<int>> acked_ns;
  std::atomic<int> acked{0}, failed{0};
  for (int d = 0; d < kDevices; ++d) {
    const std::string id = fmt::format("fan-{:04d}", d);
    devices.push_back(Device(*broker, id));
    acked_ns[id];
  }
  for (int n = 0; n < kEach; ++n) {
    for (int d = 0; d < kDevices; ++d) {
      const std::string id = fmt::format("fan-{:04d}", d);
      const std::string payload =
          fmt::format(R"({{"deviceID":"{}","n":{},"pad":"{}"}})", id, n, std::string(1000, 'x'));
      ASSERT_TRUE(devices[d]
                      ->Publish("fan/messages", payload, {.qos = mqtt::QoS::kAtLeastOnce},
                                [&, id, n](std::error_code ec) {
                                  if (ec) {
                                    failed++;
                                    return;
                                  }
                                  std::lock_guard lock(mu);
                                  acked_ns[id].insert(n);
                                  acked++;
                                })
                      .ok());
    }
  }
  // Full: what fitted is acknowledged, the rest held back by the gate.
  ASSERT_TRUE(WaitFor([&] {
    return broker->Metric(R"(aiot_bridge_buffer{value="bytes"})") > 65536 - 2 * 1100 && acked >= 40;
  })) << acked.load()
      << " acknowledged";
  EXPECT_FALSE(WaitFor([&] { return acked + failed == kDevices * kEach; }, seconds(2)));
  broker->Kill9();
  std::map<std::string, std::set<int>> expected;
  {
    std::lock_guard lock(mu);
    expected = acked_ns;  // acknowledged before the kill
  }
  size_t acked_before_kill = 0;
  for (const auto& [id, ns] : expected) acked_before_kill += ns.size();
  std::cout << fmt::format("acknowledged over MQTT before kill -9: {}\n", acked_before_kill);
  EXPECT_EQ(failed.load(), 0);
  for (auto& c : devices) Stop(*c);

  cluster_->SetAllBrokersUp();
  broker = StartBroker(sets);  // the same buffer dir
  ASSERT_TRUE(broker);
  EXPECT_GE(broker->Metric(R"(aiot_bridge_buffer{value="recovered_records"})"),
            static_cast<double>(acked_before_kill));
  kafka_test::Audit a;
  WaitFor(
      [&] {
        a = kafka_test::AuditTopic(
            kafka::testing::KcatReadTopic(cluster_->bootstraps(), "aiot.telemetry"), expected);
        return a.missing.empty();
      },
      seconds(90), std::chrono::milliseconds(300));
  std::cout << fmt::format("kafka has {} distinct messages, {} duplicates, {} missing\n",
                           a.distinct, a.duplicates, a.missing.size());
  EXPECT_TRUE(a.missing.empty()) << a.missing.size() << " missing, first " << a.missing[0];
  EXPECT_TRUE(a.out_of_order.empty()) << a.out_of_order[0];
  EXPECT_GE(a.distinct, acked_before_kill);
  EXPECT_EQ(broker->Terminate(), 0);
}

}  // namespace
}  // namespace aiot
