// The broker core without sockets or threads: packets in, packets out, time from a ManualClock,
// cross-core posts run by hand.
#include "mqtt/broker/broker.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <thread>

#include <unistd.h>

namespace aiot::mqtt::broker {
namespace {

class QueueExecutor : public Executor {
 public:
  void Post(std::function<void()> fn) override {
    std::lock_guard lock(mu_);  // the persistence writer posts acks from its thread
    q_.push_back(std::move(fn));
  }
  void Clear() {
    std::lock_guard lock(mu_);
    q_.clear();
  }
  bool RunOne() {
    std::function<void()> fn;
    {
      std::lock_guard lock(mu_);
      if (q_.empty()) return false;
      fn = std::move(q_.front());
      q_.pop_front();
    }
    fn();
    return true;
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> q_;
};

class FakeLink : public Link {
 public:
  void Send(const Packet& p, uint8_t) override { sent.push_back(p); }
  void Close() override { closed = true; }
  void PauseReading(bool p) override { paused = p; }
  template <typename T>
  std::vector<T> All() const {
    std::vector<T> out;
    for (const auto& p : sent)
      if (auto* t = std::get_if<T>(&p)) out.push_back(*t);
    return out;
  }
  std::vector<Packet> sent;
  bool closed = false;
  bool paused = false;
};

Subscribe SubOf(const std::string& filter, uint8_t qos) {
  Subscribe s;
  s.packet_id = 1;
  Subscription sub;
  sub.filter = filter;
  sub.options.qos = static_cast<QoS>(qos);
  s.subscriptions.push_back(sub);
  return s;
}
Publish PubOf(const std::string& topic, const std::string& payload, uint8_t qos, uint16_t id = 0) {
  Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = static_cast<QoS>(qos);
  p.packet_id = id;
  return p;
}

class BrokerCore : public ::testing::Test {
 protected:
  BrokerCore() : broker_(BrokerConfig{}, registry_, clock_) {
    broker_.SetCores({&cores_[0], &cores_[1]});
  }
  // Runs every posted closure on every core until all are idle.
  void Drain() {
    bool any = true;
    while (any) {
      any = false;
      for (auto& c : cores_)
        while (c.RunOne()) any = true;
    }
  }
  ServerConnection* Open(uint32_t core, FakeLink& link, const std::string& id, bool clean = true,
                         uint32_t expiry = 0, uint16_t keep_alive = 0) {
    ServerConnection* c = broker_.Accept(core, link, true);
    Connect con;
    con.client_id = id;
    con.clean_start = clean;
    con.keep_alive = keep_alive;
    if (expiry) con.properties.session_expiry_interval = expiry;
    c->OnPacket(std::move(con));
    Drain();
    return c;
  }
  static Subscribe Sub(const std::string& filter, uint8_t qos) { return SubOf(filter, qos); }
  static Publish Pub(const std::string& topic, const std::string& payload, uint8_t qos,
                     uint16_t id = 0) {
    return PubOf(topic, payload, qos, id);
  }

  ManualClock clock_{1'000'000'000};
  metrics::Registry registry_;
  QueueExecutor cores_[2];
  Broker broker_;
};

TEST_F(BrokerCore, PublishCrossesCoresInOneBatch) {
  FakeLink a, b;
  ServerConnection* sub = Open(1, a, "sub");
  ServerConnection* pub = Open(0, b, "pub");
  sub->OnPacket(Sub("t/#", 1));
  ASSERT_EQ(a.All<Suback>().size(), 1u);
  for (int i = 0; i < 3; ++i) pub->OnPacket(Pub("t/x", "m" + std::to_string(i), 1, 10 + i));
  EXPECT_EQ(b.All<Puback>().size(), 3u);
  EXPECT_TRUE(a.All<Publish>().empty());  // not yet: posted to core 1
  ASSERT_TRUE(cores_[0].RunOne());        // core 0's flush: one post carries the batch
  EXPECT_FALSE(cores_[0].RunOne());
  ASSERT_TRUE(cores_[1].RunOne());
  EXPECT_FALSE(cores_[1].RunOne());
  auto got = a.All<Publish>();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].payload.view(), "m2");
  EXPECT_EQ(broker_.totals().msgs_received, 3u);
  EXPECT_EQ(broker_.totals().msgs_sent, 3u);
}

TEST_F(BrokerCore, SessionMovesToTheNewConnectionsCoreWithItsQueue) {
  FakeLink a1, p;
  ServerConnection* c1 = Open(0, a1, "mover", true, 600);
  c1->OnPacket(Sub("m/t", 1));
  c1->OnClosed();  // network failure; the session stays on core 0
  Drain();
  ServerConnection* pub = Open(1, p, "pub");
  pub->OnPacket(Pub("m/t", "while-away", 1, 1));
  Drain();
  FakeLink a2;
  Open(1, a2, "mover", /*clean=*/false, 600);  // resumes on core 1
  auto acks = a2.All<Connack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].session_present);
  auto got = a2.All<Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "while-away");
  // New messages now route to core 1 directly.
  pub->OnPacket(Pub("m/t", "after", 1, 2));
  Drain();
  got = a2.All<Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].payload.view(), "after");
}

TEST_F(BrokerCore, KeepAliveOneAndAHalfTimes_MQTT_3_1_2_22) {
  FakeLink a;
  Open(0, a, "ka", true, 0, /*keep_alive=*/10);
  clock_.Advance(std::chrono::seconds(14));
  broker_.Tick(0);
  EXPECT_FALSE(a.closed);  // 14 s < 15 s
  clock_.Advance(std::chrono::seconds(2));
  broker_.Tick(0);
  EXPECT_TRUE(a.closed);
  auto d = a.All<Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, ReasonCode::kKeepAliveTimeout);
}

TEST_F(BrokerCore, SessionExpiresAfterInterval_MQTT_3_1_2_23) {
  FakeLink a;
  ServerConnection* c = Open(0, a, "exp", true, 30);
  c->OnPacket(Sub("e/t", 0));
  c->OnClosed();
  EXPECT_EQ(broker_.index().size(), 1u);
  clock_.Advance(std::chrono::seconds(29));
  broker_.Tick(0);
  EXPECT_EQ(broker_.index().size(), 1u);
  clock_.Advance(std::chrono::seconds(2));
  broker_.Tick(0);
  EXPECT_EQ(broker_.index().size(), 0u);
  EXPECT_EQ(broker_.stats().sessions.load(), 0u);
}

// ---- Timers on the ManualClock: will delay, message expiry, keep alive, session expiry ---------
// Time passes only when the test advances the clock, and the timers run only in Broker::Tick: no
// sockets, no sleeps, the same result on any machine.

class BrokerTimers : public BrokerCore {
 protected:
  // A v5 client "id" with a will on `will_topic` delayed by `delay_s`, session expiry `expiry_s`.
  ServerConnection* OpenWithWill(FakeLink& link, const std::string& id, const std::string& topic,
                                 uint32_t delay_s, uint32_t expiry_s) {
    ServerConnection* c = broker_.Accept(0, link, true);
    Connect con;
    con.client_id = id;
    con.properties.session_expiry_interval = expiry_s;
    Will w;
    w.topic = topic;
    w.payload = std::string("gone");
    w.properties.will_delay_interval = delay_s;
    con.will = w;
    c->OnPacket(std::move(con));
    Drain();
    EXPECT_EQ(link.All<Connack>().size(), 1u);
    return c;
  }
  // A subscriber on core 1 (the will crosses cores) to `filter`.
  ServerConnection* Watch(FakeLink& link, const std::string& filter) {
    ServerConnection* w = Open(1, link, "watcher-" + filter);
    w->OnPacket(Sub(filter, 0));
    Drain();
    return w;
  }
  void AdvanceAndTick(std::chrono::milliseconds d) {
    clock_.Advance(d);
    broker_.Tick(0);
    broker_.Tick(1);
    Drain();
  }
  static std::vector<std::string> Topics(const FakeLink& link) {
    std::vector<std::string> out;
    for (const auto& p : link.All<Publish>()) out.push_back(p.topic);
    return out;
  }
};

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(BrokerTimers, WillDelayElapsesThenWillSent_MQTT_3_1_3_9) {
  FakeLink watcher, c;
  Watch(watcher, "wd/#");
  ServerConnection* conn = OpenWithWill(c, "wd", "wd/will", /*delay_s=*/10, /*expiry_s=*/300);
  conn->OnClosed();  // network failure: the will is due in 10 s
  Drain();
  AdvanceAndTick(milliseconds(9999));
  EXPECT_TRUE(watcher.All<Publish>().empty()) << "will sent before its delay";
  AdvanceAndTick(milliseconds(1));
  EXPECT_EQ(Topics(watcher), std::vector<std::string>{"wd/will"});
  AdvanceAndTick(seconds(60));
  EXPECT_EQ(watcher.All<Publish>().size(), 1u) << "will sent twice";
  EXPECT_EQ(broker_.stats().sessions.load(), 2u);  // the session lives on (expiry 300 s)
}

TEST_F(BrokerTimers, WillDelayCancelledWhenSessionResumes_MQTT_3_1_3_9) {
  FakeLink watcher, c1, c2;
  Watch(watcher, "wd/#");
  ServerConnection* conn = OpenWithWill(c1, "wd", "wd/will", 10, 300);
  conn->OnClosed();
  Drain();
  AdvanceAndTick(seconds(5));
  Open(1, c2, "wd", /*clean=*/false, 300);  // resumed (on another core) before the delay
  ASSERT_EQ(c2.All<Connack>().size(), 1u);
  EXPECT_TRUE(c2.All<Connack>()[0].session_present);
  AdvanceAndTick(seconds(30));
  EXPECT_TRUE(watcher.All<Publish>().empty()) << "will sent although the session was resumed";
}

TEST_F(BrokerTimers, WillSentWhenTheSessionEndsBeforeItsDelay_MQTT_3_1_3_9) {
  FakeLink watcher, c;
  Watch(watcher, "wd/#");
  ServerConnection* conn = OpenWithWill(c, "wd", "wd/early", /*delay_s=*/60, /*expiry_s=*/10);
  conn->OnClosed();
  Drain();
  AdvanceAndTick(milliseconds(9999));
  EXPECT_TRUE(watcher.All<Publish>().empty());
  AdvanceAndTick(milliseconds(1));  // the session ends at 10 s: the will goes with it
  EXPECT_EQ(Topics(watcher), std::vector<std::string>{"wd/early"});
  EXPECT_EQ(broker_.stats().sessions.load(), 1u);  // only the watcher's
}

TEST_F(BrokerTimers, WillWithoutDelayIsSentAtOnceAndNotAfterNormalDisconnect) {
  FakeLink watcher, a, b;
  Watch(watcher, "wn/#");
  ServerConnection* dies = OpenWithWill(a, "wn-dies", "wn/dies", 0, 300);
  dies->OnClosed();
  Drain();
  EXPECT_EQ(Topics(watcher), std::vector<std::string>{"wn/dies"});  // no tick needed
  ServerConnection* leaves = OpenWithWill(b, "wn-leaves", "wn/leaves", 5, 300);
  leaves->OnPacket(Disconnect{});  // 0x00: the will is discarded [MQTT-3.1.2-10]
  leaves->OnClosed();
  Drain();
  AdvanceAndTick(seconds(10));
  EXPECT_EQ(Topics(watcher), std::vector<std::string>{"wn/dies"});
}

TEST_F(BrokerTimers, ExpiredQueuedMessageIsNotDeliveredAndRemainingIntervalSent_MQTT_3_3_2_5) {
  FakeLink s1, p, s2;
  ServerConnection* sub = Open(1, s1, "exp-sub", true, 600);
  sub->OnPacket(Sub("exp/t", 1));
  sub->OnClosed();  // offline: messages are queued
  Drain();
  ServerConnection* pub = Open(0, p, "exp-pub");
  Publish shortlived = Pub("exp/t", "short", 1, 1);
  shortlived.properties.message_expiry_interval = 1;
  Publish longlived = Pub("exp/t", "long", 1, 2);
  longlived.properties.message_expiry_interval = 600;
  pub->OnPacket(std::move(shortlived));
  pub->OnPacket(std::move(longlived));
  Drain();
  AdvanceAndTick(seconds(2));
  Open(1, s2, "exp-sub", /*clean=*/false, 600);
  auto got = s2.All<Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.view(), "long");
  // The interval sent is what is left of it [MQTT-3.3.2-6].
  EXPECT_EQ(got[0].properties.message_expiry_interval, std::optional<uint32_t>(598));
}

TEST_F(BrokerTimers, ExpiredRetainedMessageIsNotSentOnSubscribe_MQTT_3_3_2_5) {
  FakeLink p, s1, s2;
  ServerConnection* pub = Open(0, p, "ret-pub");
  Publish r = Pub("ret/t", "kept", 0);
  r.retain = true;
  r.properties.message_expiry_interval = 5;
  pub->OnPacket(std::move(r));
  Drain();
  AdvanceAndTick(seconds(4));
  ServerConnection* early = Open(1, s1, "ret-early");
  early->OnPacket(Sub("ret/t", 0));
  Drain();
  auto got = s1.All<Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].properties.message_expiry_interval, std::optional<uint32_t>(1));
  AdvanceAndTick(seconds(1));
  ServerConnection* late = Open(1, s2, "ret-late");
  late->OnPacket(Sub("ret/t", 0));
  Drain();
  EXPECT_TRUE(s2.All<Publish>().empty()) << "expired retained message delivered";
}

TEST_F(BrokerTimers, KeepAliveCountsFromTheLastPacket_MQTT_3_1_2_22) {
  FakeLink a;
  ServerConnection* c = Open(0, a, "ka", true, 0, /*keep_alive=*/10);
  AdvanceAndTick(seconds(14));
  c->OnPacket(Pingreq{});  // any packet restarts the 15 s
  ASSERT_EQ(a.All<Pingresp>().size(), 1u);
  AdvanceAndTick(seconds(15));
  EXPECT_FALSE(a.closed);  // 15 s since the PINGREQ: not more than 1.5 x Keep Alive yet
  AdvanceAndTick(milliseconds(1));
  EXPECT_TRUE(a.closed);
  auto d = a.All<Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, ReasonCode::kKeepAliveTimeout);
}

TEST_F(BrokerTimers, KeepAliveZeroNeverTimesOut_MQTT_3_1_2_22) {
  FakeLink a;
  Open(0, a, "ka0", true, 0, /*keep_alive=*/0);
  AdvanceAndTick(seconds(24 * 3600));
  EXPECT_FALSE(a.closed);
}

// A broker with its own `cfg` on one core, for the tests of one configured limit.
struct OneCoreBroker {
  explicit OneCoreBroker(const BrokerConfig& cfg) : broker(cfg, registry, clock) {
    broker.SetCores({&core});
  }
  // Accepts a connection on the core and sends its CONNECT.
  ServerConnection* Open(FakeLink& link, Connect con) {
    ServerConnection* c = broker.Accept(0, link, true);
    c->OnPacket(std::move(con));
    return c;
  }
  void Tick(std::chrono::milliseconds d) {
    clock.Advance(d);
    broker.Tick(0);
  }
  metrics::Registry registry;
  ManualClock clock{1'000'000'000};
  QueueExecutor core;
  Broker broker;
};

TEST(BrokerTimersConfig, ServerKeepAliveIsEnforced_MQTT_3_2_2_21) {
  BrokerConfig cfg;
  cfg.max_keepalive = 20;
  OneCoreBroker b(cfg);
  FakeLink a;
  Connect con;
  con.client_id = "ska";
  con.keep_alive = 600;  // more than the server allows
  b.Open(a, std::move(con));
  auto ack = a.All<Connack>();
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].properties.server_keep_alive, std::optional<uint16_t>(20));
  b.Tick(seconds(30));
  EXPECT_FALSE(a.closed);  // 30 s = 1.5 x 20
  b.Tick(milliseconds(1));
  EXPECT_TRUE(a.closed);
}

TEST_F(BrokerTimers, SessionResumedBeforeExpiryKeepsSubscriptionsAndQueue_MQTT_3_1_2_23) {
  FakeLink a1, p, a2;
  ServerConnection* c = Open(0, a1, "keep", true, 30);
  c->OnPacket(Sub("k/t", 1));
  c->OnClosed();
  Drain();
  ServerConnection* pub = Open(1, p, "keep-pub");
  pub->OnPacket(Pub("k/t", "queued", 1, 1));
  Drain();
  AdvanceAndTick(milliseconds(29999));
  EXPECT_EQ(broker_.index().size(), 1u);
  Open(0, a2, "keep", /*clean=*/false, 30);
  ASSERT_TRUE(a2.All<Connack>()[0].session_present);
  ASSERT_EQ(a2.All<Publish>().size(), 1u);
  EXPECT_EQ(a2.All<Publish>()[0].payload.view(), "queued");
  AdvanceAndTick(seconds(60));  // online: no expiry
  EXPECT_EQ(broker_.index().size(), 1u);
  EXPECT_FALSE(a2.closed);
}

TEST_F(BrokerTimers, SessionExpiryZeroEndsAtDisconnect_MQTT_3_1_2_23) {
  FakeLink a1, a2;
  ServerConnection* c = Open(0, a1, "zero", true, /*expiry=*/0);
  c->OnPacket(Sub("z/t", 1));
  c->OnClosed();
  Drain();
  EXPECT_EQ(broker_.index().size(), 0u);  // no tick needed
  Open(0, a2, "zero", /*clean=*/false, 0);
  EXPECT_FALSE(a2.All<Connack>()[0].session_present);
}

TEST(BrokerTimersConfig, SessionExpiryIsCappedByMaxSessionExpiry) {
  BrokerConfig cfg;
  cfg.max_session_expiry = 60;
  OneCoreBroker b(cfg);
  FakeLink a;
  Connect con;
  con.client_id = "capped";
  con.properties.session_expiry_interval = 3600;
  ServerConnection* c = b.Open(a, std::move(con));
  auto ack = a.All<Connack>();
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].properties.session_expiry_interval, std::optional<uint32_t>(60));
  c->OnClosed();
  b.Tick(seconds(59));
  EXPECT_EQ(b.broker.stats().sessions.load(), 1u);
  b.Tick(seconds(1));
  EXPECT_EQ(b.broker.stats().sessions.load(), 0u);
}

TEST_F(BrokerCore, QueueLimitDropsAndCounts) {
  BrokerConfig cfg;
  cfg.max_queued_messages = 2;
  OneCoreBroker b(cfg);
  FakeLink a, p;
  Connect con;
  con.client_id = "q";
  con.properties.session_expiry_interval = 60;
  ServerConnection* c = b.Open(a, std::move(con));
  c->OnPacket(Sub("q/t", 1));
  c->OnClosed();
  Connect pc;
  pc.client_id = "p";
  ServerConnection* pub = b.Open(p, std::move(pc));
  for (uint16_t i = 1; i <= 5; ++i) pub->OnPacket(Pub("q/t", "x", 1, i));
  while (b.core.RunOne()) {
  }
  EXPECT_EQ(b.broker.stats().msgs_dropped.load(), 3u);
}

// Backpressure: a slow QoS 1 subscriber on another core holds the publisher back (its PUBACKs
// are withheld) instead of losing messages; released at the low watermark, acks in order.
class BrokerBackpressureCore : public ::testing::Test {
 protected:
  BrokerBackpressureCore() : broker_(Config(), registry_, clock_) {
    broker_.SetCores({&cores_[0], &cores_[1]});
  }
  static BrokerConfig Config() {
    BrokerConfig c;
    c.max_queued_messages = 20;  // held back from 2 queued (an eighth), released at 1
    c.max_inflight_messages = 1;
    c.receive_maximum = 8;
    c.max_publisher_pause_ms = 5000;
    return c;
  }
  void Drain() {
    bool any = true;
    while (any) {
      any = false;
      for (auto& c : cores_)
        while (c.RunOne()) any = true;
    }
  }
  ServerConnection* Open(uint32_t core, FakeLink& link, const std::string& id) {
    ServerConnection* c = broker_.Accept(core, link, true);
    Connect con;
    con.client_id = id;
    c->OnPacket(std::move(con));
    Drain();
    return c;
  }
  // The subscriber acknowledges every PUBLISH it has received so far that it has not acked.
  void AckAll(ServerConnection* sub, FakeLink& link) {
    auto got = link.All<mqtt::Publish>();
    for (; acked_ < got.size(); ++acked_) {
      Puback a;
      a.packet_id = got[acked_].packet_id;
      sub->OnPacket(std::move(a));
      Drain();
      got = link.All<mqtt::Publish>();
    }
  }
  static std::vector<uint16_t> Ids(const std::vector<Puback>& acks) {
    std::vector<uint16_t> v;
    for (const auto& a : acks) v.push_back(a.packet_id);
    return v;
  }

  ManualClock clock_{1'000'000'000};
  metrics::Registry registry_;
  QueueExecutor cores_[2];
  Broker broker_;
  size_t acked_ = 0;
};

// BrokerCore's helpers are protected statics; reach them through a subclass.
struct BrokerCoreAccess : BrokerCore {
  using BrokerCore::Pub;
  using BrokerCore::Sub;
};

TEST_F(BrokerBackpressureCore, SlowSubscriberHoldsPublisherAcksInsteadOfDropping) {
  FakeLink s, p;
  ServerConnection* sub = Open(1, s, "sub");
  ServerConnection* pub = Open(0, p, "pub");
  sub->OnPacket(BrokerCoreAccess::Sub("bp/#", 1));
  for (uint16_t i = 1; i <= 12; ++i)
    pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "m" + std::to_string(i), 1, i));
  EXPECT_EQ(p.All<Puback>().size(), 12u);  // the congestion is not known on core 0 yet
  Drain();  // core 1: 1 in flight, 11 queued >= 10 -> hold the publisher (posted to core 0)
  for (uint16_t i = 13; i <= 16; ++i)
    pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "m" + std::to_string(i), 1, i));
  Drain();
  EXPECT_EQ(p.All<Puback>().size(), 12u);  // held
  EXPECT_FALSE(p.paused);                  // 4 held acks < receive_maximum 8: still reading
  AckAll(sub, s);                          // the subscriber catches up: released at 5 queued
  auto acks = Ids(p.All<Puback>());
  std::vector<uint16_t> want;
  for (uint16_t i = 1; i <= 16; ++i) want.push_back(i);
  EXPECT_EQ(acks, want);  // in PUBLISH order [MQTT-4.6.0-2]
  auto got = s.All<mqtt::Publish>();
  ASSERT_EQ(got.size(), 16u);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].payload.view(), "m" + std::to_string(i + 1));
  EXPECT_EQ(broker_.stats().msgs_dropped.load(), 0u);
}

TEST_F(BrokerBackpressureCore, PublisherIgnoringTheWindowStopsBeingRead) {
  FakeLink s, p;
  ServerConnection* sub = Open(0, s, "sub");  // same core: the hold is immediate
  ServerConnection* pub = Open(0, p, "pub");
  sub->OnPacket(BrokerCoreAccess::Sub("bp/#", 1));
  for (uint16_t i = 1; i <= 10; ++i)
    pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "m" + std::to_string(i), 1, i));
  // The 3rd made 2 queued (1 in flight): its own PUBACK and every later one are held.
  EXPECT_EQ(p.All<Puback>().size(), 2u);
  EXPECT_FALSE(p.paused);  // 8 acks held = receive_maximum: still read
  pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "m11", 1, 11));
  EXPECT_TRUE(p.paused);  // 9 acks held > receive_maximum 8: the link stops reading
  AckAll(sub, s);
  EXPECT_FALSE(p.paused);
  EXPECT_EQ(p.All<Puback>().size(), 11u);
  EXPECT_EQ(s.All<mqtt::Publish>().size(), 11u);
  EXPECT_EQ(broker_.stats().msgs_dropped.load(), 0u);
}

TEST_F(BrokerBackpressureCore, HoldLongerThanMaxPauseTurnsIntoDropping) {
  FakeLink s, p;
  ServerConnection* sub = Open(1, s, "sub");
  ServerConnection* pub = Open(0, p, "pub");
  sub->OnPacket(BrokerCoreAccess::Sub("bp/#", 1));
  for (uint16_t i = 1; i <= 15; ++i) pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "x", 1, i));
  Drain();
  for (uint16_t i = 16; i <= 18; ++i) pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "x", 1, i));
  Drain();
  EXPECT_EQ(p.All<Puback>().size(), 15u);
  clock_.Advance(std::chrono::seconds(4));
  broker_.Tick(1);
  Drain();
  EXPECT_EQ(p.All<Puback>().size(), 15u);  // 4 s < 5 s: still held
  clock_.Advance(std::chrono::seconds(2));
  broker_.Tick(1);  // the subscriber never acked: give up holding
  Drain();
  EXPECT_EQ(p.All<Puback>().size(), 18u);
  for (uint16_t i = 19; i <= 30; ++i) pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "x", 1, i));
  Drain();
  EXPECT_EQ(p.All<Puback>().size(), 30u);  // not held again while it overflows
  // 1 in flight + 20 queued; the other 9 were dropped and counted.
  EXPECT_EQ(broker_.stats().msgs_dropped.load(), 9u);
}

// Until a delivery has reached its session on the other core, that session cannot hold the
// publisher back: the publisher's core bounds what it has in transit (256 deliveries).
TEST_F(BrokerBackpressureCore, DeliveriesInTransitToAnotherCoreBoundThePublisher) {
  FakeLink s, p;
  ServerConnection* sub = Open(1, s, "sub");
  ServerConnection* pub = Open(0, p, "pub");
  sub->OnPacket(BrokerCoreAccess::Sub("bp/#", 0));  // QoS 0: never queued, never congested
  for (uint16_t i = 1; i <= 300; ++i)
    pub->OnPacket(BrokerCoreAccess::Pub("bp/t", "x", 1, i));  // core 1 is "busy": not drained
  EXPECT_EQ(p.All<Puback>().size(), 256u);  // from the 257th in transit on, acks are held
  Drain();                                  // delivered: released
  EXPECT_EQ(p.All<Puback>().size(), 300u);
  EXPECT_EQ(s.All<mqtt::Publish>().size(), 300u);
}

// The ingest gate (the Kafka bridge inside the broker): a PUBLISH the gate takes is routed at
// once but acknowledged only when the gate is done with it, acks in PUBLISH order; a refusal
// gives v5 the gate's reason code and closes a 3.1.1 connection.
class RecordingGate : public IngestGate {
 public:
  IngestVerdict Offer(const MessagePtr& m, IngestDone done) override {
    if (m->topic == "pass") return {};
    if (m->topic == "refuse") return {IngestVerdict::kRefuse, ReasonCode::kQuotaExceeded};
    dones.push_back(std::move(done));
    return {IngestVerdict::kTaken};
  }
  std::vector<IngestDone> dones;
};

TEST_F(BrokerCore, IngestGateWithholdsAcksUntilDoneInPublishOrder) {
  RecordingGate gate;
  broker_.SetIngestGate(&gate);
  FakeLink l, s;
  ServerConnection* sub = Open(0, s, "sub");
  sub->OnPacket(Sub("#", 0));
  ServerConnection* pub = Open(0, l, "dev");
  pub->OnPacket(Pub("k/1", "a", 1, 1));
  pub->OnPacket(Pub("k/2", "b", 2, 2));
  pub->OnPacket(Pub("pass", "c", 1, 3));
  pub->OnPacket(Pub("k/0", "q0", 0));
  Drain();
  ASSERT_EQ(gate.dones.size(), 3u);
  EXPECT_FALSE(gate.dones[2]);             // QoS 0: best effort, nothing to withhold
  EXPECT_EQ(s.All<Publish>().size(), 4u);  // routed at once
  EXPECT_TRUE(l.All<Puback>().empty());
  EXPECT_TRUE(l.All<Pubrec>().empty());
  pub->OnPacket(Pub("k/2", "b", 2, 2));  // a QoS 2 resend is not acknowledged early
  gate.dones[1](ReasonCode::kSuccess);
  Drain();
  EXPECT_TRUE(l.All<Pubrec>().empty());  // waits for packet 1's ack
  gate.dones[0](ReasonCode::kSuccess);
  Drain();
  std::vector<uint16_t> order;
  for (const auto& p : l.sent) {
    if (auto* a = std::get_if<Puback>(&p)) order.push_back(a->packet_id);
    if (auto* r = std::get_if<Pubrec>(&p)) order.push_back(r->packet_id);
  }
  EXPECT_EQ(order, (std::vector<uint16_t>{1, 2, 3}));

  pub->OnPacket(Pub("refuse", "x", 1, 4));
  pub->OnPacket(Pub("k/3", "d", 1, 5));
  Drain();
  ASSERT_EQ(gate.dones.size(), 4u);
  gate.dones[3](ReasonCode::kQuotaExceeded);
  Drain();
  auto acks = l.All<Puback>();
  ASSERT_EQ(acks.size(), 4u);
  EXPECT_EQ(acks[2].packet_id, 4);
  EXPECT_EQ(acks[2].reason_code, ReasonCode::kQuotaExceeded);
  EXPECT_EQ(acks[3].packet_id, 5);
  EXPECT_EQ(acks[3].reason_code, ReasonCode::kQuotaExceeded);
  EXPECT_EQ(s.All<Publish>().size(), 5u);  // the refused one was not routed
  EXPECT_FALSE(l.closed);
  broker_.SetIngestGate(nullptr);
}

// The gate's answer names the connection, not its slot: a connection gone before its answer
// gets nothing, and the next connection in the same slot (same client, same packet id) is not
// acknowledged by the old answer, only by its own.
TEST_F(BrokerCore, IngestGateAnswerForAGoneConnectionIsNotSentToItsSuccessor) {
  RecordingGate gate;
  broker_.SetIngestGate(&gate);
  FakeLink l1, l2;
  ServerConnection* c1 = Open(0, l1, "dev");
  c1->OnPacket(Pub("k/1", "a", 1, 1));
  Drain();
  c1->OnClosed();  // before Kafka's answer: the client resends after reconnecting
  Drain();
  ServerConnection* c2 = Open(0, l2, "dev");
  c2->OnPacket(Pub("k/1", "a", 1, 1));
  Drain();
  ASSERT_EQ(gate.dones.size(), 2u);
  // The same slot (low 32 bits), another connection: only the id's sequence tells them apart.
  EXPECT_EQ(static_cast<uint32_t>(gate.dones[0].conn), static_cast<uint32_t>(gate.dones[1].conn));
  EXPECT_NE(gate.dones[0].conn, gate.dones[1].conn);
  gate.dones[0](ReasonCode::kSuccess);  // the old connection's answer
  Drain();
  EXPECT_TRUE(l1.All<Puback>().empty());
  EXPECT_TRUE(l2.All<Puback>().empty());  // no stray ack for the resent message
  gate.dones[1](ReasonCode::kSuccess);
  Drain();
  ASSERT_EQ(l2.All<Puback>().size(), 1u);
  EXPECT_EQ(l2.All<Puback>()[0].packet_id, 1);
  broker_.SetIngestGate(nullptr);
}

TEST_F(BrokerCore, IngestGateRefusalClosesA311Connection) {
  RecordingGate gate;
  broker_.SetIngestGate(&gate);
  FakeLink l;
  ServerConnection* c = broker_.Accept(0, l, true);
  Connect con;
  con.protocol_version = kMqtt311;
  con.client_id = "old";
  c->OnPacket(std::move(con));
  Drain();
  c->OnPacket(Pub("k/1", "a", 1, 1));
  Drain();
  ASSERT_EQ(gate.dones.size(), 1u);
  gate.dones[0](ReasonCode::kQuotaExceeded);
  Drain();
  EXPECT_TRUE(l.All<Puback>().empty());  // 3.1.1 has no reason code: never a false success
  EXPECT_TRUE(l.closed);
  broker_.SetIngestGate(nullptr);
}

// ---- Persistence: the core restarted on the same log (a new Broker, as after a crash) ----------

class PersistentBroker : public ::testing::Test {
 protected:
  PersistentBroker() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("aiot-broker-persist-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
  }
  ~PersistentBroker() override {
    // The test's links are gone: nothing posted may run any more.
    broker_.reset();
    for (auto& c : cores_) c.Clear();
    std::filesystem::remove_all(dir_);
  }
  void Start(PersistenceMode mode = PersistenceMode::kEveryAck) {
    BrokerConfig cfg;
    cfg.persistence.mode = mode;
    cfg.persistence.dir = dir_;
    cfg.persistence.interval_ms = 5;
    registry_ = std::make_unique<metrics::Registry>();
    broker_ = std::make_unique<Broker>(cfg, *registry_, clock_);
    broker_->SetCores({&cores_[0], &cores_[1]});
    Status s = broker_->OpenPersistence();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // What is on disk survives; the process and its connections do not.
  void Stop() {
    if (!broker_) return;
    Drain();
    broker_->persister()->Flush();
    Drain();
    broker_.reset();
    registry_.reset();
  }
  void Restart(PersistenceMode mode = PersistenceMode::kEveryAck) {
    Stop();
    Start(mode);
  }
  // "sub" (core 0, a persistent session) subscribed to "t" at `qos`, then offline.
  void OfflineSubscriber(FakeLink& link, uint8_t qos) {
    ServerConnection* sub = Open(0, link, "sub", false, 600);
    sub->OnPacket(SubOf("t", qos));
    sub->OnClosed();
  }
  void Drain() {
    bool any = true;
    while (any) {
      any = false;
      for (auto& c : cores_)
        while (c.RunOne()) any = true;
    }
  }
  // Runs the cores until `done` holds (the writer thread answers asynchronously).
  template <typename Pred>
  bool DrainUntil(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      Drain();
      std::this_thread::yield();
    }
    return true;
  }
  ServerConnection* Open(uint32_t core, FakeLink& link, const std::string& id, bool clean,
                         uint32_t expiry) {
    ServerConnection* c = broker_->Accept(core, link, true);
    Connect con;
    con.client_id = id;
    con.clean_start = clean;
    if (expiry) con.properties.session_expiry_interval = expiry;
    c->OnPacket(std::move(con));
    Drain();
    return c;
  }
  static std::vector<std::string> Payloads(const FakeLink& l) {
    std::vector<std::string> out;
    for (const auto& p : l.All<Publish>()) out.emplace_back(p.payload.view());
    return out;
  }

  ManualClock clock_{1'000'000'000};
  QueueExecutor cores_[2];
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<Broker> broker_;
  std::string dir_;
};

TEST_F(PersistentBroker, QueuedMessagesSubscriptionsAndRetainedSurviveARestart) {
  Start();
  FakeLink s1, p1;
  ServerConnection* sub = Open(0, s1, "sub", false, 600);
  sub->OnPacket(SubOf("t/#", 1));
  sub->OnPacket(SubOf("q2/#", 2));
  sub->OnClosed();  // offline: what follows is queued
  Drain();
  ServerConnection* pub = Open(1, p1, "pub", true, 0);
  for (int i = 0; i < 5; ++i)
    pub->OnPacket(PubOf("t/1", "m" + std::to_string(i), 1, static_cast<uint16_t>(1 + i)));
  pub->OnPacket(PubOf("q2/x", "exactly-once", 2, 6));
  Publish retained = PubOf("r/x", "kept", 1, 7);
  retained.retain = true;
  pub->OnPacket(std::move(retained));
  EXPECT_TRUE(p1.All<Puback>().empty());  // every_ack: not before the log is on disk
  ASSERT_TRUE(
      DrainUntil([&] { return p1.All<Puback>().size() == 6 && p1.All<Pubrec>().size() == 1; }));

  Restart();
  FakeLink s2;
  Open(1, s2, "sub", false, 600);
  ASSERT_EQ(s2.All<Connack>().size(), 1u);
  EXPECT_TRUE(s2.All<Connack>()[0].session_present);
  EXPECT_EQ(Payloads(s2), (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "exactly-once"}));
  EXPECT_EQ(s2.All<Publish>()[5].qos, QoS::kExactlyOnce);
  // Subscriptions are back in the index: a new message is routed to the session.
  FakeLink p2, r;
  ServerConnection* pub2 = Open(0, p2, "pub", true, 0);
  pub2->OnPacket(PubOf("t/2", "after", 1, 1));
  ASSERT_TRUE(DrainUntil([&] { return Payloads(s2).size() == 7; }));
  EXPECT_EQ(Payloads(s2).back(), "after");
  // The retained message is back.
  ServerConnection* reader = Open(0, r, "reader", true, 0);
  reader->OnPacket(SubOf("r/#", 1));
  Drain();
  ASSERT_EQ(Payloads(r), std::vector<std::string>{"kept"});
  EXPECT_TRUE(r.All<Publish>()[0].retain);
}

TEST_F(PersistentBroker, AcknowledgedMessagesAreNotDeliveredAgain) {
  Start();
  FakeLink s1, p1;
  ServerConnection* sub = Open(0, s1, "sub", false, 600);
  sub->OnPacket(SubOf("t", 1));
  ServerConnection* pub = Open(0, p1, "pub", true, 0);
  pub->OnPacket(PubOf("t", "a", 1, 1));
  pub->OnPacket(PubOf("t", "b", 1, 2));
  ASSERT_TRUE(DrainUntil([&] { return s1.All<Publish>().size() == 2; }));
  Puback ack;
  ack.packet_id = s1.All<Publish>()[0].packet_id;
  sub->OnPacket(ack);  // "a" done, "b" not
  Drain();
  Restart();
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  EXPECT_EQ(Payloads(s2), std::vector<std::string>{"b"});
}

TEST_F(PersistentBroker, OutgoingQos2KeepsItsPacketIdAndStage) {
  Start();
  FakeLink s1, p1;
  ServerConnection* sub = Open(0, s1, "sub", false, 600);
  sub->OnPacket(SubOf("t", 2));
  ServerConnection* pub = Open(0, p1, "pub", true, 0);
  pub->OnPacket(PubOf("t", "one", 2, 1));
  pub->OnPacket(PubOf("t", "two", 2, 2));
  ASSERT_TRUE(DrainUntil([&] { return s1.All<Publish>().size() == 2; }));
  uint16_t id1 = s1.All<Publish>()[0].packet_id;
  uint16_t id2 = s1.All<Publish>()[1].packet_id;
  Pubrec rec;
  rec.packet_id = id1;
  sub->OnPacket(rec);  // "one": PUBREL outstanding; "two": PUBREC outstanding
  Drain();
  ASSERT_EQ(s1.All<Pubrel>().size(), 1u);
  Restart();
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  ASSERT_EQ(s2.All<Pubrel>().size(), 1u);
  EXPECT_EQ(s2.All<Pubrel>()[0].packet_id, id1);
  ASSERT_EQ(s2.All<Publish>().size(), 1u);  // "one" is not sent again
  EXPECT_EQ(s2.All<Publish>()[0].packet_id, id2);
  EXPECT_TRUE(s2.All<Publish>()[0].dup);
  EXPECT_EQ(s2.All<Publish>()[0].payload.view(), "two");
}

TEST_F(PersistentBroker, IncomingQos2AwaitingPubrelIsNotRoutedTwice) {
  Start();
  FakeLink s1, p1;
  OfflineSubscriber(s1, 2);
  ServerConnection* pub = Open(1, p1, "pub", false, 600);
  pub->OnPacket(PubOf("t", "once", 2, 42));
  ASSERT_TRUE(DrainUntil([&] { return p1.All<Pubrec>().size() == 1; }));
  Restart();
  FakeLink p2;
  ServerConnection* pub2 = Open(1, p2, "pub", false, 600);
  Publish again = PubOf("t", "once", 2, 42);
  again.dup = true;  // the client did not see the PUBREC: it sends again
  pub2->OnPacket(std::move(again));
  ASSERT_TRUE(DrainUntil([&] { return p2.All<Pubrec>().size() == 1; }));
  Pubrel rel;
  rel.packet_id = 42;
  pub2->OnPacket(rel);
  ASSERT_TRUE(DrainUntil([&] { return p2.All<Pubcomp>().size() == 1; }));  // once on disk
  EXPECT_EQ(p2.All<Pubcomp>()[0].reason_code, ReasonCode::kSuccess);
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  EXPECT_EQ(Payloads(s2), std::vector<std::string>{"once"});  // exactly once
}

// every_ack: PUBCOMP only once the release is on disk. After PUBCOMP the client may reuse the
// packet id for a new message; if the release were lost in a crash, that message would be taken
// for a resend of the old one and not routed.
TEST_F(PersistentBroker, PubcompWaitsForTheReleaseOnDiskAndTheIdCanBeReused) {
  Start();
  FakeLink s1, p1;
  OfflineSubscriber(s1, 2);
  ServerConnection* pub = Open(1, p1, "pub", false, 600);
  pub->OnPacket(PubOf("t", "first", 2, 42));
  ASSERT_TRUE(DrainUntil([&] { return p1.All<Pubrec>().size() == 1; }));
  Pubrel rel;
  rel.packet_id = 42;
  pub->OnPacket(rel);
  EXPECT_TRUE(p1.All<Pubcomp>().empty());  // not before RecPubrel is durable
  ASSERT_TRUE(DrainUntil([&] { return p1.All<Pubcomp>().size() == 1; }));
  EXPECT_EQ(p1.All<Pubcomp>()[0].reason_code, ReasonCode::kSuccess);
  Restart();
  FakeLink p2;
  ServerConnection* pub2 = Open(1, p2, "pub", false, 600);
  pub2->OnPacket(PubOf("t", "second", 2, 42));  // the id again, for a new message
  ASSERT_TRUE(DrainUntil([&] { return p2.All<Pubrec>().size() == 1; }));
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  EXPECT_EQ(Payloads(s2), (std::vector<std::string>{"first", "second"}));
}

TEST_F(PersistentBroker, PeriodicAcknowledgesAtOnce) {
  Start(PersistenceMode::kPeriodic);
  FakeLink s1, p1;
  OfflineSubscriber(s1, 1);
  ServerConnection* pub = Open(0, p1, "pub", true, 0);
  pub->OnPacket(PubOf("t", "x", 1, 1));
  EXPECT_EQ(p1.All<Puback>().size(), 1u);
  Restart(PersistenceMode::kPeriodic);
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  EXPECT_EQ(Payloads(s2), std::vector<std::string>{"x"});
}

TEST_F(PersistentBroker, DelayedWillSurvivesARestart) {
  Start();
  FakeLink w1, c1;
  ServerConnection* watcher = Open(1, w1, "watcher", false, 600);
  watcher->OnPacket(SubOf("will/#", 1));
  Drain();
  ServerConnection* c = broker_->Accept(0, c1, true);
  Connect con;
  con.client_id = "dying";
  con.properties.session_expiry_interval = 600;
  Will w;
  w.topic = "will/dying";
  w.payload = std::string("gone");
  w.qos = QoS::kAtLeastOnce;
  w.properties.will_delay_interval = 30;
  con.will = w;
  c->OnPacket(std::move(con));
  Drain();
  c->OnClosed();  // network failure: the will waits 30 s
  Drain();
  Restart();
  FakeLink w2;
  Open(1, w2, "watcher", false, 600);
  EXPECT_TRUE(w2.All<Publish>().empty());
  clock_.Advance(std::chrono::seconds(31));
  broker_->Tick(0);
  broker_->Tick(1);
  Drain();
  EXPECT_EQ(Payloads(w2), std::vector<std::string>{"gone"});
}

// Session expiry counts from the disconnect, not from the restart [MQTT-3.1.2-23]: 60 s offline
// before the restart, then 30 s after it the session (expiry 100 s) is still there, 50 s after it
// is gone. A session that was online when the broker stopped counts from the restart.
TEST_F(PersistentBroker, SessionExpiryKeepsItsDeadlineAcrossARestart) {
  Start();
  FakeLink s1, s2;
  ServerConnection* off = Open(0, s1, "offline", false, 100);
  off->OnPacket(SubOf("t", 1));
  off->OnClosed();
  Open(1, s2, "online", false, 100);  // still connected when the broker stops
  Drain();
  clock_.Advance(std::chrono::seconds(60));
  Restart();
  auto sessions = [&] { return broker_->stats().sessions.load(); };
  EXPECT_EQ(sessions(), 2u);
  clock_.Advance(std::chrono::seconds(30));  // 90 s after the disconnect
  broker_->Tick(0);
  broker_->Tick(1);
  Drain();
  EXPECT_EQ(sessions(), 2u);
  clock_.Advance(std::chrono::seconds(20));  // 110 s after the disconnect, 50 s after the restart
  broker_->Tick(0);
  broker_->Tick(1);
  Drain();
  EXPECT_EQ(sessions(), 1u);  // "online" went offline at the restart: 50 of its 100 s
  // Across a second restart, "online" keeps the deadline its first restart gave it.
  Restart();
  clock_.Advance(std::chrono::seconds(51));  // 101 s after the first restart
  broker_->Tick(0);
  broker_->Tick(1);
  Drain();
  EXPECT_EQ(sessions(), 0u);
  FakeLink s3;
  Open(0, s3, "offline", false, 100);
  EXPECT_FALSE(s3.All<Connack>()[0].session_present);
}

// Message expiry counts from when the message was published, across a restart: 40 s before it
// and 30 s after it, a message with 60 s is gone and one with 100 s is delivered with 30 s left.
TEST_F(PersistentBroker, MessageExpiryKeepsItsDeadlineAcrossARestart) {
  Start();
  FakeLink s1, p1;
  OfflineSubscriber(s1, 1);
  Drain();
  ServerConnection* pub = Open(1, p1, "pub", true, 0);
  Publish short_lived = PubOf("t", "60s", 1, 1);
  short_lived.properties.message_expiry_interval = 60;
  pub->OnPacket(std::move(short_lived));
  Publish long_lived = PubOf("t", "100s", 1, 2);
  long_lived.properties.message_expiry_interval = 100;
  pub->OnPacket(std::move(long_lived));
  ASSERT_TRUE(DrainUntil([&] { return p1.All<Puback>().size() == 2; }));
  clock_.Advance(std::chrono::seconds(40));
  Restart();
  clock_.Advance(std::chrono::seconds(30));
  FakeLink s2;
  Open(0, s2, "sub", false, 600);
  ASSERT_EQ(Payloads(s2), std::vector<std::string>{"100s"});
  ASSERT_TRUE(s2.All<Publish>()[0].properties.message_expiry_interval.has_value());
  EXPECT_EQ(*s2.All<Publish>()[0].properties.message_expiry_interval, 30u);
}

TEST_F(PersistentBroker, CleanStartForgetsThePersistedSession) {
  Start();
  FakeLink s1;
  OfflineSubscriber(s1, 1);
  Drain();
  FakeLink s2;
  Open(0, s2, "sub", true, 0)->OnClosed();  // clean start, expiry 0: the session ends
  Drain();
  Restart();
  EXPECT_TRUE(broker_->persister()->loaded().sessions().empty());
  FakeLink s3;
  Open(0, s3, "sub", false, 600);
  EXPECT_FALSE(s3.All<Connack>()[0].session_present);
}

}  // namespace
}  // namespace aiot::mqtt::broker
