// Publisher backpressure over real sockets: a fast QoS 1 publisher and a subscriber that reads
// slowly. The subscriber does not read at all until the broker has held the publisher back (the
// backpressure counter moved), so without backpressure the session queue (1000) would overflow
// and messages would be lost; with it every message arrives, once, in order. No timing decides
// the outcome: the waits are conditions with generous timeouts.
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include "base/metrics.h"
#include "tests/mqtt/raw_client.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::broker {
namespace {

using aiot::test_support::WaitFor;
using test::RawClient;
using test::TestBroker;

constexpr int kMessages = 3000;  // three times the session queue limit

double CounterValue(const metrics::Registry& registry, const std::string& series) {
  std::istringstream in(metrics::SerializeText(registry));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

double Pauses(TestBroker& b) {
  return CounterValue(b.registry(), "aiot_mqtt_broker_backpressure_total{event=\"pause\"}");
}
double SlowConsumerDrops(TestBroker& b) {
  return CounterValue(b.registry(),
                      "aiot_mqtt_broker_messages_dropped_total{reason=\"slow_consumer\"}");
}
double QueueFullDrops(TestBroker& b) {
  return CounterValue(b.registry(),
                      "aiot_mqtt_broker_messages_dropped_total{reason=\"queue_full\"}");
}

std::string Payload(int i) {
  std::string p = "message-" + std::to_string(i);
  p.resize(64, '.');
  return p;
}

// Reads every PUBLISH (acknowledging it, a little slowly) and checks order and completeness.
void ReceiveAll(RawClient& sub) {
  for (int i = 0; i < kMessages; ++i) {
    auto p = sub.Expect<Publish>(std::chrono::seconds(60));
    ASSERT_TRUE(p.has_value()) << "message " << i << " never arrived";
    ASSERT_EQ(p->payload.view(), Payload(i)) << "lost or out of order at " << i;
    EXPECT_FALSE(p->dup);
    Puback ack;
    ack.packet_id = p->packet_id;
    sub.Send(ack);
    if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // slow reader
  }
  // Nothing more (no duplicate) arrives.
  EXPECT_FALSE(sub.Expect<Publish>(std::chrono::milliseconds(200)).has_value());
}

double BeyondLimit(TestBroker& b) {
  return CounterValue(b.registry(), "aiot_mqtt_broker_backpressure_total{event=\"beyond_limit\"}");
}

// A QoS 1 publisher that keeps Receive Maximum messages unacknowledged, a subscriber that starts
// reading only once the publisher has been held back (and, with `beyond_limit`, once the queue
// went beyond its limit): every message arrives, once, in order.
void PublishThroughAHold(const broker::BrokerConfig& cfg, bool beyond_limit) {
  TestBroker broker(cfg, 2);
  ASSERT_TRUE(broker.ok());
  RawClient sub(broker.port(), kMqtt5);
  ASSERT_TRUE(sub.Connect("bp-sub").has_value());
  auto suback = sub.Subscribe(1, "bp/t", 1);
  ASSERT_TRUE(suback.has_value());
  ASSERT_EQ(suback->reason_codes.at(0), ReasonCode::kGrantedQos1);

  // The publisher keeps at most Receive Maximum messages unacknowledged, as clients do.
  RawClient pub(broker.port(), kMqtt5);
  auto connack = pub.Connect("bp-pub");
  ASSERT_TRUE(connack.has_value());
  const int window = connack->properties.receive_maximum.value_or(65535);
  std::atomic<int> acked{0};
  std::thread publisher([&] {
    int unacked = 0;
    for (int i = 0; i < kMessages; ++i) {
      while (unacked >= window) {
        if (!pub.Expect<Puback>(std::chrono::seconds(60))) return;
        --unacked;
        ++acked;
      }
      pub.Publish("bp/t", Payload(i), 1, static_cast<uint16_t>(i % 60000 + 1));
      ++unacked;
    }
    while (unacked > 0 && pub.Expect<Puback>(std::chrono::seconds(60))) {
      --unacked;
      ++acked;
    }
  });
  // Start reading only once the broker has held the publisher back.
  bool held = WaitFor([&] { return Pauses(broker) > 0; }, std::chrono::seconds(60));
  EXPECT_TRUE(held) << "the publisher was never held back";
  if (beyond_limit) {
    EXPECT_TRUE(WaitFor([&] { return BeyondLimit(broker) > 0; }, std::chrono::seconds(60)))
        << "the queue never went beyond its limit";
  }
  ReceiveAll(sub);
  publisher.join();
  EXPECT_EQ(acked.load(), kMessages);
  EXPECT_EQ(QueueFullDrops(broker), 0);
}

TEST(BrokerBackpressure, FastQos1PublisherSlowSubscriberLosesNothingInOrder) {
  broker::BrokerConfig cfg;  // defaults: queue 1000, in flight 20, Receive Maximum 1000
  PublishThroughAHold(cfg, false);
}

// A Receive Maximum larger than the session queue: what the publisher had in flight when the
// hold reached it exceeds the queue limit; those messages are queued beyond it (counted), not
// dropped. The whole run (3x the queue) fits in one window, and the subscriber reads nothing
// until the queue is beyond its limit.
TEST(BrokerBackpressure, WindowLargerThanTheQueueLosesNothing) {
  broker::BrokerConfig cfg;
  cfg.receive_maximum = kMessages;
  PublishThroughAHold(cfg, true);
}

// A publisher that ignores the flow-control window (3.1.1 has no Receive Maximum) is not read
// while its acks are held. One core: the hold takes effect within the read that causes it.
TEST(BrokerBackpressure, PublisherIgnoringTheWindowIsNotReadMeanwhile) {
  broker::BrokerConfig cfg;
  TestBroker broker(cfg, 1);
  ASSERT_TRUE(broker.ok());
  RawClient sub(broker.port(), kMqtt5);
  ASSERT_TRUE(sub.Connect("bp-sub2").has_value());
  ASSERT_TRUE(sub.Subscribe(1, "bp/t", 1).has_value());
  RawClient pub(broker.port(), kMqtt311);
  ASSERT_TRUE(pub.Connect("bp-pub2").has_value());
  std::thread publisher([&] {  // blocks in send() while the broker does not read
    for (int i = 0; i < kMessages; ++i)
      pub.Publish("bp/t", Payload(i), 1, static_cast<uint16_t>(i + 1));
  });
  bool held = WaitFor([&] { return Pauses(broker) > 0; }, std::chrono::seconds(60));
  EXPECT_TRUE(held) << "the publisher was never held back";
  ReceiveAll(sub);
  publisher.join();
  for (int i = 0; i < kMessages; ++i) {  // every PUBACK, in PUBLISH order [MQTT-4.6.0-2]
    auto ack = pub.Expect<Puback>(std::chrono::seconds(60));
    ASSERT_TRUE(ack.has_value()) << "PUBACK " << i;
    ASSERT_EQ(ack->packet_id, i + 1);
  }
  EXPECT_EQ(QueueFullDrops(broker), 0);
}

// QoS 0 has no acks to withhold: a subscriber falling behind stops the broker reading its QoS 0
// publisher (TCP flow control), instead of the broker shedding messages at max_write_buffer.
// The subscriber reads nothing until the publisher has been held back, so without the hold the
// 40 MB sent would overflow the 2 MiB write buffer many times over.
TEST(BrokerBackpressure, Qos0PublisherIsSlowedToTheSubscriberInsteadOfShedding) {
  broker::BrokerConfig cfg;
  // Held from 256 KiB unwritten; deliveries already crossing cores (up to 256 messages) may
  // overshoot that before the hold reaches the publisher's core, well within the 2 MiB.
  cfg.max_write_buffer = 2 << 20;
  TestBroker broker(cfg, 2);
  ASSERT_TRUE(broker.ok());
  RawClient sub(broker.port(), kMqtt5);
  ASSERT_TRUE(sub.Connect("bp0-sub").has_value());
  ASSERT_TRUE(sub.Subscribe(1, "bp/q0", 0).has_value());
  RawClient pub(broker.port(), kMqtt311);
  ASSERT_TRUE(pub.Connect("bp0-pub").has_value());
  constexpr int kCount = 40000;
  auto payload = [](int i) {
    std::string p = "q0-" + std::to_string(i);
    p.resize(1024, '.');
    return p;
  };
  std::thread publisher([&] {  // blocks in send() while the broker does not read it
    for (int i = 0; i < kCount; ++i) pub.Publish("bp/q0", payload(i), 0, 0);
  });
  bool held = WaitFor([&] { return Pauses(broker) > 0; }, std::chrono::seconds(60));
  EXPECT_TRUE(held) << "the QoS 0 publisher was never held back";
  // Still not reading for a while: a held publisher waits, it is not shed.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int in_order = 0;
  for (; in_order < kCount; ++in_order) {
    auto p = sub.Expect<Publish>(std::chrono::seconds(60));
    if (!p.has_value() || p->payload.view() != payload(in_order)) break;
  }
  EXPECT_EQ(in_order, kCount) << "lost or out of order from message " << in_order;
  publisher.join();
  EXPECT_EQ(SlowConsumerDrops(broker), 0);
}

}  // namespace
}  // namespace aiot::mqtt::broker
