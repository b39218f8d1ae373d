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
    std::vector<std::string> argv = {"--log-level", "warn", "--set",
                                     fmt::format("broker.listeners=[127.0.0.1:{}]", port_)};
    for (const auto& s : sets_) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    argv.push_back("broker");
    process_ = std::make_unique<kafka_test::AiotProcess>(std::move(argv));
    // The gate is installed before the listeners accept: a connection means the bridge is on.
    ASSERT_TRUE(process_->Start([&] { return net::testing::TestClient(port_).connected(); }))
        << "aiot broker did not listen";
  }
  void Kill9() { process_->Kill9(); }
  // SIGTERM; the exit code.
  int Terminate() { return process_->Terminate(); }
  std::string url() const { return fmt::format("tcp://127.0.0.1:{}", port_); }

 private:
  std::vector<std::string> sets_;
  std::unique_ptr<kafka_test::AiotProcess> process_;
  uint16_t port_ = 0;
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
  Stop(*device);
  EXPECT_EQ(broker->Terminate(), 0);
}

}  // namespace
}  // namespace aiot
