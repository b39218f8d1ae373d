// The broker's configured limits (`broker:` max_connections, connect_timeout_ms, max_topic_length,
// max_topic_levels, max_queued_bytes) as a client sees them over a socket, and the Prometheus
// counters that account for each refusal or drop.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>

#include "base/metrics.h"
#include "mqtt/broker/message.h"
#include "tests/mqtt/raw_client.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::WaitFor;
using namespace std::chrono_literals;

double CounterValue(const metrics::Registry& registry, const std::string& series) {
  std::istringstream in(metrics::SerializeText(registry));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

double Rejected(TestBroker& b, const std::string& reason) {
  return CounterValue(b.registry(),
                      "aiot_mqtt_broker_connections_rejected_total{reason=\"" + reason + "\"}");
}

double Dropped(TestBroker& b, const std::string& reason) {
  return CounterValue(b.registry(),
                      "aiot_mqtt_broker_messages_dropped_total{reason=\"" + reason + "\"}");
}

std::unique_ptr<RawClient> Connected(TestBroker& b, const std::string& id, uint8_t version = kMqtt5,
                                     bool clean = true, uint32_t expiry = 0) {
  auto c = std::make_unique<RawClient>(b.port(), version);
  EXPECT_TRUE(c->connected());
  auto ack = c->Connect(id, clean, expiry);
  EXPECT_TRUE(ack.has_value()) << id;
  if (ack) {
    EXPECT_EQ(ack->reason_code, ReasonCode::kSuccess) << id;
  }
  return c;
}

// max_connections counts open connections: the one beyond is closed before any CONNACK (counted);
// once one closes, a new client gets in.
TEST(BrokerLimits, MaxConnections) {
  broker::BrokerConfig cfg;
  cfg.max_connections = 2;
  TestBroker b(cfg);
  ASSERT_TRUE(b.ok());
  auto first = Connected(b, "first");
  auto second = Connected(b, "second");
  EXPECT_EQ(Rejected(b, "max_connections"), 0);
  {
    RawClient third(b.port(), kMqtt5);
    Connect c;
    c.client_id = "third";
    third.Send(c);
    EXPECT_FALSE(third.Expect<Connack>(2s)) << "a connection beyond max_connections got CONNACK";
    EXPECT_TRUE(third.WaitClosed());
  }
  EXPECT_EQ(Rejected(b, "max_connections"), 1);
  // The two admitted clients are unaffected.
  second->Send(Pingreq{});
  EXPECT_TRUE(second->Expect<Pingresp>());
  first.reset();
  ASSERT_TRUE(WaitFor([&] { return b.broker().stats().sockets.load() == 1; }));
  auto again = Connected(b, "again");
  again->Send(Pingreq{});
  EXPECT_TRUE(again->Expect<Pingresp>());
  EXPECT_EQ(Rejected(b, "max_connections"), 1);
}

// A connection that sends no CONNECT within connect_timeout_ms is closed (counted); one that
// connected in time stays.
TEST(BrokerLimits, ConnectTimeout) {
  broker::BrokerConfig cfg;
  cfg.connect_timeout_ms = 500;
  TestBroker b(cfg);
  ASSERT_TRUE(b.ok());
  auto prompt = Connected(b, "prompt");
  RawClient silent(b.port(), kMqtt5);
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.WaitClosed()) << "a connection without CONNECT was not closed";
  EXPECT_EQ(Rejected(b, "connect_timeout"), 1);
  prompt->Send(Pingreq{});
  EXPECT_TRUE(prompt->Expect<Pingresp>()) << "a connected client was closed too";
  EXPECT_EQ(Rejected(b, "connect_timeout"), 1);
}

class TopicLimits : public ::testing::Test {
 protected:
  static broker::BrokerConfig Config() {
    broker::BrokerConfig cfg;
    cfg.max_topic_length = 16;
    cfg.max_topic_levels = 3;
    return cfg;
  }
  void SetUp() override {
    ASSERT_TRUE(b_.ok());
    watcher_ = Connected(b_, "watcher");
    ASSERT_TRUE(watcher_->Subscribe(1, "#", 0));
  }
  // The watcher's next message is `topic`: nothing published before it reached the watcher.
  void ExpectNextDelivery(const std::string& topic) {
    auto got = watcher_->Expect<Publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, topic);
  }
  double LimitRejections() { return Rejected(b_, "limit_exceeded"); }

  TestBroker b_{Config()};
  std::unique_ptr<RawClient> watcher_;
};

// A PUBLISH to a topic beyond max_topic_length or max_topic_levels ends the connection (v5:
// DISCONNECT 0x90 Topic Name Invalid; 3.1.1: closed), is not delivered, and is counted.
TEST_F(TopicLimits, PublishBeyondTopicLengthOrLevels) {
  auto ok = Connected(b_, "ok");
  ok->Publish("a/b/c", "within", 1, 1);  // 5 bytes, 3 levels: at the limit, accepted
  ASSERT_TRUE(ok->Expect<Puback>());
  ExpectNextDelivery("a/b/c");
  EXPECT_EQ(LimitRejections(), 0);
  struct Case {
    const char* topic;
    uint8_t version;
  };
  const Case cases[] = {{"seventeen-bytes-x", kMqtt5},  // 17 bytes, 1 level
                        {"a/b/c/d", kMqtt5},            // 4 levels
                        {"seventeen-bytes-x", kMqtt311},
                        {"a/b/c/d", kMqtt311}};
  double rejected = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.topic) + " v" + std::to_string(c.version));
    auto p = Connected(b_, "long", c.version);
    p->Publish(c.topic, "too long", 1, 1);
    if (c.version == kMqtt5) {
      auto d = p->Expect<Disconnect>();
      ASSERT_TRUE(d);
      EXPECT_EQ(d->reason_code, ReasonCode::kTopicNameInvalid);
    }
    EXPECT_TRUE(p->WaitClosed());
    EXPECT_EQ(LimitRejections(), ++rejected);
    ok->Publish("marker", "m");
    ExpectNextDelivery("marker");
  }
}

// A SUBSCRIBE filter beyond the limits is refused in SUBACK (v5 0x97 Quota Exceeded, 3.1.1 0x80)
// and counted; the connection and its other filters stay.
TEST_F(TopicLimits, SubscribeBeyondTopicLengthOrLevels) {
  for (uint8_t version : {kMqtt5, kMqtt311}) {
    SCOPED_TRACE(version);
    auto c = Connected(b_, "subber", version);
    double before = LimitRejections();
    Subscribe s;
    s.packet_id = 7;
    for (const char* f : {"seventeen-bytes/#", "a/+/c/#", "a/+/c"}) {
      Subscription sub;
      sub.filter = f;
      sub.options.qos = QoS::kAtMostOnce;
      s.subscriptions.push_back(sub);
    }
    c->Send(s);
    auto ack = c->Expect<Suback>();
    ASSERT_TRUE(ack);
    ReasonCode refused =
        version == kMqtt5 ? ReasonCode::kQuotaExceeded : ReasonCode::kUnspecifiedError;
    EXPECT_EQ(ack->reason_codes, (std::vector<ReasonCode>{refused, refused, kGrantedQos0}));
    EXPECT_EQ(LimitRejections(), before + 2);
    auto pub = Connected(b_, "pub");
    pub->Publish("a/b/c", "to the granted filter");
    auto got = c->Expect<Publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "a/b/c");
  }
}

// An offline session queues QoS 1 messages up to max_queued_bytes; the rest are dropped (counted
// as queue_full) while the publisher still gets its PUBACKs. On resume exactly the ones that fit
// arrive, in order.
TEST(BrokerLimits, MaxQueuedBytes) {
  constexpr size_t kPayload = 200;
  const std::string topic = "qb/t";
  // What the broker charges a queued message (broker::Message::Bytes()).
  const size_t per_message = sizeof(broker::Message) + topic.size() + kPayload;
  constexpr size_t kFit = 3;
  broker::BrokerConfig cfg;
  cfg.max_queued_bytes = kFit * per_message + per_message / 2;
  cfg.max_queued_messages = 0;  // only the byte limit applies
  TestBroker b(cfg);
  ASSERT_TRUE(b.ok());
  {
    auto sub = Connected(b, "qb-sub", kMqtt5, true, 300);
    ASSERT_TRUE(sub->Subscribe(1, topic, 1));
  }
  ASSERT_TRUE(WaitFor([&] { return b.broker().stats().connections.load() == 0; }));
  auto pub = Connected(b, "qb-pub");
  constexpr int kSent = 8;
  for (int i = 0; i < kSent; ++i) {
    std::string payload = "m" + std::to_string(i);
    payload.resize(kPayload, '.');
    pub->Publish(topic, payload, 1, static_cast<uint16_t>(i + 1));
    auto ack = pub->Expect<Puback>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->reason_code, ReasonCode::kSuccess);
  }
  // The PUBACK does not wait for the delivery: the session may be on another core.
  EXPECT_TRUE(WaitFor([&] { return Dropped(b, "queue_full") >= kSent - static_cast<int>(kFit); }));
  EXPECT_EQ(Dropped(b, "queue_full"), kSent - static_cast<int>(kFit));
  RawClient sub(b.port(), kMqtt5);
  auto ack = sub.Connect("qb-sub", /*clean_start=*/false, 300);
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  for (size_t i = 0; i < kFit; ++i) {
    auto got = sub.Expect<Publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload.view().substr(0, 2), "m" + std::to_string(i));
    sub.Send(Puback{got->packet_id, ReasonCode::kSuccess, {}});
  }
  // Live messages still flow, and nothing dropped comes before them.
  pub->Publish(topic, "live", 1, 100);
  auto live = sub.Expect<Publish>();
  ASSERT_TRUE(live);
  EXPECT_EQ(live->payload.view(), "live");
}

// A server-sent DISCONNECT reaches a client that is still writing (issue 15): a v5 client sends
// QoS 2 past the broker's Receive Maximum without reading, then goes on writing after the
// DISCONNECT 0x93 arrived. Every write succeeds (the broker half-closes and drains instead of
// closing with unread input, which would reset the connection: EPIPE for the writer, ECONNRESET
// for the reader), and once the client stops writing the broker closes cleanly (EOF, no reset).
TEST(BrokerLimits, DisconnectReachesAClientThatKeepsWriting) {
  broker::BrokerConfig cfg;
  cfg.receive_maximum = 5;
  TestBroker b(cfg);
  ASSERT_TRUE(b.ok());
  auto c = Connected(b, "writer");
  uint16_t id = 1;
  auto publish = [&] {
    Publish p;
    p.topic = "drain/t";
    p.payload = std::string(100, 'x');
    p.qos = QoS::kExactlyOnce;
    p.packet_id = id++;
    return c->Send(p);
  };
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(publish()) << i << ": " << std::strerror(errno);
  auto d = c->Expect<Disconnect>();  // skips the PUBRECs within the window
  ASSERT_TRUE(d) << "no DISCONNECT";
  EXPECT_EQ(d->reason_code, ReasonCode::kReceiveMaximumExceeded);
  // The client goes on writing (the broker has closed its side: without the drain the first of
  // these writes already fails).
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(publish()) << "write " << i << " after DISCONNECT: " << std::strerror(errno);
  }
  ::shutdown(c->fd(), SHUT_WR);
  // The broker half-closed after the DISCONNECT: EOF, not a reset.
  char buf[4096];
  ssize_t n;
  do {
    pollfd pfd{c->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "the broker did not close";
    n = ::recv(c->fd(), buf, sizeof buf, 0);
  } while (n > 0);
  EXPECT_EQ(n, 0) << std::strerror(errno);
}

// 3.1.1 has no Receive Maximum: a client with more QoS 2 in flight than the broker's
// receive_maximum is not disconnected (v5 is, with 0x93: the conformance test). Each PUBLISH gets
// its PUBREC, and the PUBRELs complete them.
TEST(BrokerLimits, V311ClientBeyondReceiveMaximumIsServed) {
  broker::BrokerConfig cfg;
  cfg.receive_maximum = 5;
  TestBroker b(cfg);
  ASSERT_TRUE(b.ok());
  auto c = Connected(b, "wide", kMqtt311);
  constexpr uint16_t kN = 20;
  for (uint16_t id = 1; id <= kN; ++id) {
    Publish p;
    p.topic = "wide/t";
    p.payload = std::string("x");
    p.qos = QoS::kExactlyOnce;
    p.packet_id = id;
    ASSERT_TRUE(c->Send(p)) << id;
  }
  for (uint16_t id = 1; id <= kN; ++id) {
    auto rec = c->Expect<Pubrec>();
    ASSERT_TRUE(rec) << "no PUBREC for " << id << " (disconnected?)";
    EXPECT_EQ(rec->packet_id, id);
  }
  for (uint16_t id = 1; id <= kN; ++id) {
    ASSERT_TRUE(c->Send(Pubrel{id, ReasonCode::kSuccess, {}})) << id;
    auto comp = c->Expect<Pubcomp>();
    ASSERT_TRUE(comp) << id;
    EXPECT_EQ(comp->packet_id, id);
  }
}

}  // namespace
}  // namespace aiot::mqtt::test
