// MQTT 5.0 (and 3.1.1) conformance of the broker, driven by raw packets over a socket. Each test is
// named after the normative statements it checks. Every test runs twice: over the plain TCP
// listener (Conformance/Tcp) and over the TLS listener (Conformance/Tls, a certificate made with
// openssl at test time, tests/support/pki.h).
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/mqtt/raw_client.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/pki.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::WaitFor;
using namespace std::chrono_literals;

// The PKI of the TLS runs, made once per process and removed at exit; "" if openssl failed.
const std::string& ConformancePki() {
  struct Pki {
    std::string dir;
    Pki() {
      char tmpl[] = "/tmp/aiot-conformance-pki-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) return;
      if (aiot::test_support::MakePki(tmpl).exit_code == 0) dir = tmpl;
    }
    ~Pki() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  };
  static const Pki pki;
  return pki.dir;
}

// A broker for the test's transport: with TLS also an mqtts:// listener, whose port the clients
// use.
std::unique_ptr<TestBroker> MakeBroker(bool tls, broker::BrokerConfig cfg = {}) {
  if (!tls) return std::make_unique<TestBroker>(cfg);
  cfg.tls.cert = ConformancePki() + "/server.pem";
  cfg.tls.key = ConformancePki() + "/server.key";
  return std::make_unique<TestBroker>(cfg, 2, std::vector<std::string>{"mqtts://127.0.0.1:0"});
}

class Conformance : public ::testing::TestWithParam<bool> {  // param: over TLS
 protected:
  void SetUp() override {
    if (GetParam()) {
      ASSERT_FALSE(ConformancePki().empty()) << "openssl could not make the test certificates";
      tls_.ca = ConformancePki() + "/ca.pem";
    }
    broker_ = MakeBroker(GetParam());
    ASSERT_TRUE(broker_->ok());
  }
  // The port of the test's listener on `b` and the TLS settings of its clients (nullptr: TCP).
  uint16_t Port(TestBroker& b) const { return b.port(GetParam() ? 1 : 0); }
  uint16_t Port() { return Port(*broker_); }
  const RawTls* Tls() const { return GetParam() ? &tls_ : nullptr; }
  std::unique_ptr<RawClient> Client(const std::string& id, uint8_t version = kMqtt5,
                                    bool clean = true, uint32_t expiry = 0) {
    auto c = std::make_unique<RawClient>(Port(), version, Tls());
    EXPECT_TRUE(c->connected());
    auto ack = c->Connect(id, clean, expiry);
    EXPECT_TRUE(ack.has_value());
    if (ack) {
      EXPECT_EQ(ack->reason_code, ReasonCode::kSuccess);
    }
    return c;
  }
  RawTls tls_;
  std::unique_ptr<TestBroker> broker_;
};

TEST_P(Conformance, FirstPacketMustBeConnect_MQTT_3_1_0_1) {
  RawClient c(Port(), kMqtt5, Tls());
  c.SendBytes(std::string("\xC0\x00", 2));  // PINGREQ before CONNECT
  EXPECT_TRUE(c.WaitClosed());
}

TEST_P(Conformance, SecondConnectIsProtocolError_MQTT_3_1_0_2) {
  auto c = Client("twice");
  Connect again;
  again.client_id = "twice";
  c->Send(again);
  auto d = c->Expect<Disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kProtocolError);
  EXPECT_TRUE(c->WaitClosed());
}

TEST_P(Conformance, AssignedClientIdentifier_MQTT_3_1_3_6_MQTT_3_2_2_16) {
  RawClient c(Port(), kMqtt5, Tls());
  auto ack = c.Connect("");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reason_code, ReasonCode::kSuccess);
  ASSERT_TRUE(ack->properties.assigned_client_identifier);
  EXPECT_FALSE(ack->properties.assigned_client_identifier->empty());
}

TEST_P(Conformance, EmptyClientIdWithPersistentSessionRefusedV311_MQTT_3_1_3_8) {
  RawClient c(Port(), kMqtt311, Tls());
  auto ack = c.Connect("", /*clean_start=*/false);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reason_code, ReasonCode::kClientIdentifierNotValid);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_P(Conformance, UnsupportedProtocolVersion_MQTT_3_1_2_2) {
  RawClient c(Port(), kMqtt311, Tls());
  // CONNECT with protocol level 3 ("MQIsdp" is 3.1; here "MQTT" with level 3).
  c.SendBytes(std::string("\x10\x0d\x00\x04MQTT\x03\x02\x00\x3c\x00\x01x", 15));
  auto p = c.Receive();
  if (p) {
    auto* ack = std::get_if<Connack>(&*p);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->reason_code, ReasonCode::kUnsupportedProtocolVersion);
  }
  EXPECT_TRUE(c.WaitClosed());
}

TEST_P(Conformance, SessionTakeover_MQTT_3_1_4_3) {
  auto first = Client("same-id");
  auto second = Client("same-id");
  auto d = first->Expect<Disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kSessionTakenOver);
  EXPECT_TRUE(first->WaitClosed());
  // The new connection works.
  second->Send(Pingreq{});
  EXPECT_TRUE(second->Expect<Pingresp>());
}

TEST_P(Conformance, SessionPresentAndQueuedQos1AfterResume_MQTT_3_2_2_2_MQTT_4_4_0_1) {
  {
    auto c = Client("resume-raw", kMqtt5, true, 300);
    ASSERT_TRUE(c->Subscribe(1, "r/t", 1));
    auto pub = Client("pub-raw");
    pub->Publish("r/t", "one", 1, 7);
    ASSERT_TRUE(pub->Expect<Puback>());
    auto got = c->Expect<Publish>();  // received, deliberately not acknowledged
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->dup);
    pub->Publish("r/t", "two", 1, 8);  // may be queued or in flight
    ASSERT_TRUE(pub->Expect<Puback>());
  }
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().stats().connections.load() == 0; }));
  RawClient c(Port(), kMqtt5, Tls());
  auto ack = c.Connect("resume-raw", /*clean_start=*/false, 300);
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  // The unacknowledged PUBLISH is resent with DUP [MQTT-4.4.0-1] [MQTT-3.3.1-1], then "two".
  auto again = c.Expect<Publish>();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->payload.view(), "one");
  EXPECT_TRUE(again->dup);
  c.Send(Puback{again->packet_id, ReasonCode::kSuccess, {}});
  auto two = c.Expect<Publish>();
  ASSERT_TRUE(two);
  EXPECT_EQ(two->payload.view(), "two");
}

TEST_P(Conformance, CleanStartDiscardsSession_MQTT_3_1_2_4) {
  {
    auto c = Client("clean-me", kMqtt5, true, 300);
    ASSERT_TRUE(c->Subscribe(1, "cs/t", 1));
  }
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().stats().connections.load() == 0; }));
  RawClient c(Port(), kMqtt5, Tls());
  auto ack = c.Connect("clean-me", /*clean_start=*/true);
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present);
  EXPECT_TRUE(WaitFor([&] { return broker_->broker().index().size() == 0; }));
}

TEST_P(Conformance, ClientReceiveMaximumRespected_MQTT_3_3_4_9) {
  RawClient c(Port(), kMqtt5, Tls());
  Connect con;
  con.client_id = "slow";
  con.properties.receive_maximum = 2;
  ASSERT_TRUE(c.Connect(con));
  ASSERT_TRUE(c.Subscribe(1, "fc/t", 1));
  ASSERT_TRUE(c.Subscribe(2, "fc/marker", 0));
  auto pub = Client("fast");
  for (uint16_t i = 1; i <= 5; ++i) {
    pub->Publish("fc/t", "m" + std::to_string(i), 1, i);
    ASSERT_TRUE(pub->Expect<Puback>());
  }
  // QoS 0 is not held by the window: published after the five, it arrives after whatever of
  // them the broker sends now.
  pub->Publish("fc/marker", "marker");
  std::vector<Publish> got;
  while (auto p = c.Expect<Publish>()) {
    if (p->topic == "fc/marker") break;
    got.push_back(std::move(*p));
  }
  ASSERT_EQ(got.size(), 2u) << "more than Receive Maximum unacknowledged PUBLISH packets";
  // Each PUBACK opens the window for one more.
  c.Send(Puback{got[0].packet_id, ReasonCode::kSuccess, {}});
  auto third = c.Expect<Publish>();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->payload.view(), "m3");
}

TEST_P(Conformance, ServerReceiveMaximumExceeded_MQTT_3_3_4_7) {
  // The broker's Receive Maximum is in CONNACK; exceeding it with QoS 2 is 0x93.
  RawClient c(Port(), kMqtt5, Tls());
  auto ack = c.Connect("greedy");
  ASSERT_TRUE(ack);
  ASSERT_TRUE(ack->properties.receive_maximum);
  uint16_t max = *ack->properties.receive_maximum;
  for (uint32_t i = 1; i <= max + 1u; ++i) c.Publish("rm/t", "x", 2, static_cast<uint16_t>(i));
  std::optional<Disconnect> d;
  while (auto p = c.Receive()) {
    if (auto* x = std::get_if<Disconnect>(&*p)) {
      d = *x;
      break;
    }
  }
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kReceiveMaximumExceeded);
}

TEST_P(Conformance, Qos2ExactlyOnceWithDuplicatePublish_MQTT_4_3_3_MQTT_4_6_0_1) {
  auto sub = Client("q2-sub");
  ASSERT_TRUE(sub->Subscribe(1, "q2/t", 2));
  auto pub = Client("q2-pub");
  pub->Publish("q2/t", "once", 2, 42);
  ASSERT_TRUE(pub->Expect<Pubrec>());
  // Resend before PUBREL (DUP): must not be delivered again.
  Publish dup;
  dup.topic = "q2/t";
  dup.payload = "once";
  dup.qos = QoS::kExactlyOnce;
  dup.packet_id = 42;
  dup.dup = true;
  pub->Send(dup);
  ASSERT_TRUE(pub->Expect<Pubrec>());
  pub->Send(Pubrel{42, ReasonCode::kSuccess, {}});
  auto comp = pub->Expect<Pubcomp>();
  ASSERT_TRUE(comp);
  EXPECT_EQ(comp->reason_code, ReasonCode::kSuccess);
  // Subscriber side: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP.
  auto got = sub->Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->qos, QoS::kExactlyOnce);
  sub->Send(Pubrec{got->packet_id, ReasonCode::kSuccess, {}});
  auto rel = sub->Expect<Pubrel>();
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->packet_id, got->packet_id);
  sub->Send(Pubcomp{got->packet_id, ReasonCode::kSuccess, {}});
  // A duplicate would have been routed before this marker from the same publisher.
  pub->Publish("q2/t", "marker");
  auto next = sub->Expect<Publish>();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->payload.view(), "marker") << "QoS 2 message delivered twice";
}

TEST_P(Conformance, PubrelUnknownPacketId_MQTT_3_7_2_1) {
  auto c = Client("rel");
  c->Send(Pubrel{99, ReasonCode::kSuccess, {}});
  auto comp = c->Expect<Pubcomp>();
  ASSERT_TRUE(comp);
  EXPECT_EQ(comp->reason_code, ReasonCode::kPacketIdentifierNotFound);
}

TEST_P(Conformance, SubscriptionIdentifiersOneCopyWithAll_MQTT_3_3_4_3_MQTT_3_3_4_5) {
  auto c = Client("subids");
  ASSERT_TRUE(c->Subscribe(1, "si/+", 1, 11));
  ASSERT_TRUE(c->Subscribe(2, "si/#", 0, 22));
  auto pub = Client("subids-pub");
  pub->Publish("si/x", "v", 1, 1);
  auto got = c->Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->qos, QoS::kAtLeastOnce);  // the highest granted
  std::vector<uint32_t> ids = got->properties.subscription_identifiers;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<uint32_t>{11, 22}));
  c->Send(Puback{got->packet_id, ReasonCode::kSuccess, {}});
  pub->Publish("si/x", "marker");  // a second copy of "v" would come before it
  auto next = c->Expect<Publish>();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->payload.view(), "marker") << "overlapping subscriptions delivered twice";
}

TEST_P(Conformance, NoLocal_MQTT_3_8_3_3) {
  auto c = Client("nolocal");
  SubscribeOptions o;
  o.no_local = true;
  ASSERT_TRUE(c->Subscribe(1, "nl/t", 0, 0, o));
  ASSERT_TRUE(c->Subscribe(2, "nl/other", 0));
  c->Publish("nl/t", "mine");
  c->Publish("nl/other", "marker");
  auto got = c->Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "nl/other") << "No Local message was delivered to its publisher";
}

TEST_P(Conformance, NoLocalOnSharedSubscriptionIsProtocolError_MQTT_3_8_3_4) {
  auto c = Client("nlshared");
  Subscribe s;
  s.packet_id = 1;
  Subscription sub;
  sub.filter = "$share/g/t";
  sub.options.no_local = true;
  s.subscriptions.push_back(sub);
  c->Send(s);
  auto d = c->Expect<Disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kProtocolError);
}

TEST_P(Conformance, RetainAsPublishedAndRetainHandling_MQTT_3_3_1_12_MQTT_3_3_1_9_MQTT_3_3_1_10) {
  auto pub = Client("rh-pub");
  pub->Publish("rh/t", "kept", 1, 1, /*retain=*/true);
  ASSERT_TRUE(pub->Expect<Puback>());
  auto c = Client("rh");
  SubscribeOptions never;
  never.retain_handling = RetainHandling::kDoNotSend;
  ASSERT_TRUE(c->Subscribe(1, "rh/t", 0, 0, never));
  // A retained message is sent with the SUBACK, before this live one.
  pub->Publish("rh/t", "live");
  auto live = c->Expect<Publish>();
  ASSERT_TRUE(live);
  EXPECT_EQ(live->payload.view(), "live") << "Retain Handling 2 sent a retained message";
  SubscribeOptions if_new;
  if_new.retain_handling = RetainHandling::kSendAtSubscribeIfNew;
  ASSERT_TRUE(c->Subscribe(2, "rh/+", 0, 0, if_new));
  auto first = c->Expect<Publish>();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->retain);  // retained delivery carries RETAIN [MQTT-3.3.1-8]
  ASSERT_TRUE(c->Subscribe(3, "rh/+", 0, 0, if_new));  // exists: not sent again
  pub->Publish("rh/marker", "marker");
  auto again = c->Expect<Publish>();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->payload.view(), "marker") << "Retain Handling 1 sent the retained message again";
  // Live delivery: RETAIN cleared unless Retain As Published.
  SubscribeOptions rap;
  rap.retain_as_published = true;
  auto c2 = Client("rh2");
  ASSERT_TRUE(c2->Subscribe(1, "rh/live", 0, 0, rap));
  ASSERT_TRUE(c->Subscribe(4, "rh/live", 0));
  pub->Publish("rh/live", "x", 0, 0, true);
  auto a = c->Expect<Publish>();
  auto b = c2->Expect<Publish>();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->retain);  // [MQTT-3.3.1-12]
  EXPECT_TRUE(b->retain);   // [MQTT-3.3.1-13]
}

TEST_P(Conformance, TopicAliasFromClient_MQTT_3_3_2_12_and_invalid_MQTT_3_3_2_9) {
  auto sub = Client("ta-sub");
  ASSERT_TRUE(sub->Subscribe(1, "ta/#", 0));
  auto c = Client("ta");
  Publish p;
  p.topic = "ta/long/topic";
  p.payload = "1";
  p.properties.topic_alias = 3;
  c->Send(p);
  p.topic.clear();  // alias only
  p.payload = "2";
  c->Send(p);
  for (const char* want : {"1", "2"}) {
    auto got = sub->Expect<Publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "ta/long/topic");
    EXPECT_EQ(got->payload.view(), want);
  }
  p.properties.topic_alias = 60000;  // above the Topic Alias Maximum in CONNACK
  c->Send(p);
  auto d = c->Expect<Disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kTopicAliasInvalid);
}

TEST_P(Conformance, TopicAliasToClient_MQTT_3_3_2_17) {
  RawClient c(Port(), kMqtt5, Tls());
  Connect con;
  con.client_id = "ta-recv";
  con.properties.topic_alias_maximum = 2;
  ASSERT_TRUE(c.Connect(con));
  ASSERT_TRUE(c.Subscribe(1, "tb/#", 0));
  auto pub = Client("tb-pub");
  for (int i = 0; i < 2; ++i) pub->Publish("tb/x", "v");
  auto first = c.Expect<Publish>();
  auto second = c.Expect<Publish>();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->topic, "tb/x");
  ASSERT_TRUE(first->properties.topic_alias);
  EXPECT_LE(*first->properties.topic_alias, 2);
  EXPECT_EQ(second->topic, "");
  EXPECT_EQ(second->properties.topic_alias, first->properties.topic_alias);
}

TEST_P(Conformance, MaximumPacketSizeOfClient_MQTT_3_1_2_24) {
  RawClient c(Port(), kMqtt5, Tls());
  Connect con;
  con.client_id = "small";
  con.properties.maximum_packet_size = 64;
  ASSERT_TRUE(c.Connect(con));
  ASSERT_TRUE(c.Subscribe(1, "mp/#", 0));
  auto pub = Client("mp-pub");
  pub->Publish("mp/big", std::string(200, 'x'));
  pub->Publish("mp/small", "ok");
  auto got = c.Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "mp/small");
}

TEST_P(Conformance, KeepAliveTimeout_MQTT_3_1_2_22) {
  RawClient c(Port(), kMqtt5, Tls());
  Connect con;
  con.client_id = "sleepy";
  con.keep_alive = 1;
  ASSERT_TRUE(c.Connect(con));
  auto d = c.Expect<Disconnect>(10s);  // silence for 1.5 x 1 s
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kKeepAliveTimeout);
}

TEST_P(Conformance, DollarTopicsNotMatchedByWildcards_MQTT_4_7_2_1) {
  auto c = Client("dollar");
  ASSERT_TRUE(c->Subscribe(1, "#", 0));
  ASSERT_TRUE(c->Subscribe(2, "+/broker/uptime", 0));
  auto pub = Client("dollar-pub");
  pub->Publish("$app/x", "hidden");
  pub->Publish("plain", "seen");
  auto got = c->Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "plain");
}

TEST_P(Conformance, InvalidTopicFilterGetsFailureReason_MQTT_4_7_1_1) {
  auto c = Client("badfilter");
  auto ack = c->Subscribe(1, "a/#/b", 0);
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->reason_codes.size(), 1u);
  EXPECT_EQ(ack->reason_codes[0], ReasonCode::kTopicFilterInvalid);
}

TEST_P(Conformance, UnsubscribeReasonCodes_MQTT_3_11_3_1) {
  auto c = Client("unsub");
  ASSERT_TRUE(c->Subscribe(1, "u/t", 0));
  Unsubscribe u;
  u.packet_id = 2;
  u.filters = {"u/t", "u/none"};
  c->Send(u);
  auto ack = c->Expect<Unsuback>();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reason_codes,
            (std::vector<ReasonCode>{ReasonCode::kSuccess, ReasonCode::kNoSubscriptionExisted}));
}

// Bad input: a malformed packet ends that connection (DISCONNECT 0x81 for v5, close for 3.1.1)
// while other clients keep receiving.
TEST_P(Conformance, MalformedPacketDisconnectsOnlyTheSender_MQTT_4_13_1_1) {
  auto watcher = Client("watcher");
  ASSERT_TRUE(watcher->Subscribe(1, "live/#", 1));
  auto pub = Client("steady");
  for (uint8_t version : {kMqtt5, kMqtt311}) {
    auto bad = Client(version == kMqtt5 ? "bad5" : "bad311", version);
    // PUBLISH with QoS 3 (both QoS bits set) is malformed [MQTT-3.3.1-4].
    bad->SendBytes(std::string("\x36\x05\x00\x01t\x00\x01", 7));
    if (version == kMqtt5) {
      auto d = bad->Expect<Disconnect>();
      ASSERT_TRUE(d);
      EXPECT_EQ(d->reason_code, ReasonCode::kMalformedPacket);
    }
    EXPECT_TRUE(bad->WaitClosed());
    // Garbage remaining length on another connection.
    auto bad2 = Client("bad-len", version);
    bad2->SendBytes(std::string("\x30\xff\xff\xff\xff\x7f", 6));
    EXPECT_TRUE(bad2->WaitClosed());
    pub->Publish("live/t", "still here", 1, version);
    ASSERT_TRUE(pub->Expect<Puback>());
    auto got = watcher->Expect<Publish>();
    ASSERT_TRUE(got) << "other clients must be unaffected";
    EXPECT_EQ(got->payload.view(), "still here");
    watcher->Send(Puback{got->packet_id, ReasonCode::kSuccess, {}});
  }
}

TEST_P(Conformance, PacketTooLargeForServer_MQTT_3_2_2_15) {
  broker::BrokerConfig cfg;
  cfg.max_packet_size = 1024;
  auto small = MakeBroker(GetParam(), cfg);
  ASSERT_TRUE(small->ok());
  RawClient c(Port(*small), kMqtt5, Tls());
  auto ack = c.Connect("big");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->properties.maximum_packet_size, 1024u);
  c.Publish("t", std::string(4096, 'x'));
  auto d = c.Expect<Disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason_code, ReasonCode::kPacketTooLarge);
}

TEST_P(Conformance, DisconnectWithWillMessageSendsWill_MQTT_3_14_4_3) {
  auto watcher = Client("will-watch");
  ASSERT_TRUE(watcher->Subscribe(1, "wl/#", 0));
  for (ReasonCode rc : {ReasonCode::kSuccess, ReasonCode::kDisconnectWithWillMessage}) {
    RawClient c(Port(), kMqtt5, Tls());
    Connect con;
    con.client_id = "willer";
    Will w;
    w.topic = rc == ReasonCode::kSuccess ? "wl/normal" : "wl/withwill";
    w.payload = "bye";
    con.will = w;
    ASSERT_TRUE(c.Connect(con));
    Disconnect d;
    d.reason_code = rc;
    c.Send(d);
    EXPECT_TRUE(c.WaitClosed());
  }
  auto got = watcher->Expect<Publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "wl/withwill") << "normal disconnection must discard the will";
}

INSTANTIATE_TEST_SUITE_P(Transport, Conformance, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Tls" : "Tcp";
                         });

// Will Delay [MQTT-3.1.3-9] (sent after the delay, not when the session is resumed in time, at
// session end at the latest) is tested on the broker core's ManualClock in
// src/mqtt/broker/broker_test.cc (BrokerTimers), without sockets or waiting.

}  // namespace
}  // namespace aiot::mqtt::test
