// The client against a real broker: Debian's mosquitto on a free loopback port, and interop with
// mosquitto_pub / mosquitto_sub.
#include "mqtt/client/client.h"

#include <gtest/gtest.h>

#include "tests/support/config.h"
#include "tests/support/run.h"
#include "tests/support/testing.h"

#include <boost/asio/post.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>

#include "base/errc.h"
#include "mqtt/client/tcp_transport.h"
#include "mqtt/client/test_util.h"

namespace aiot::mqtt {
namespace {

using aiot::test_support::Capture;
using aiot::test_support::LoadProblems;
using aiot::test_support::RunCommand;
using aiot::test_support::WaitFor;
using testing::IoThread;
using testing::Mosquitto;
namespace asio = boost::asio;

// Wraps the TCP transport to observe packets and inject faults: drop PUBLISHes (a lost network
// write), refuse to connect (a gate), close abruptly (no DISCONNECT).
struct Tap {
  std::mutex mu;
  std::vector<Packet> sent;
  std::vector<Packet> received;
  std::atomic<bool> drop_publishes{false};
  std::atomic<bool> gate_open{true};
  std::atomic<int> inflight{0};
  std::atomic<int> max_inflight{0};
  Transport* current = nullptr;                // on the client's strand only
  std::function<void(const Packet&)> on_send;  // on the client's strand, before the send

  template <class T>
  int CountSent(const std::function<bool(const T&)>& pred = nullptr) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& p : sent) {
      if (const T* t = std::get_if<T>(&p); t && (!pred || pred(*t))) ++n;
    }
    return n;
  }
};

class TapTransport final : public Transport, public TransportHandler {
 public:
  TapTransport(const asio::any_io_executor& ex, const TransportOptions& o, std::shared_ptr<Tap> tap)
      : ex_(ex), inner_(MakeTcpTransport(ex, o)), tap_(std::move(tap)) {}
  ~TapTransport() override {
    if (tap_->current == this) tap_->current = nullptr;
  }
  void Connect(TransportHandler* h) override {
    handler_ = h;
    if (!tap_->gate_open) {
      gated_ = true;
      asio::post(
          ex_, [h] { h->OnTransportClosed(std::make_error_code(std::errc::connection_refused)); });
      return;
    }
    tap_->current = this;
    inner_->Connect(this);
  }
  void Send(Packet p) override {
    if (tap_->on_send) tap_->on_send(p);
    {
      std::lock_guard lock(tap_->mu);
      tap_->sent.push_back(p);
    }
    if (const auto* pub = std::get_if<Publish>(&p)) {
      if (pub->qos == QoS::kAtLeastOnce && !pub->dup) {
        const int now = ++tap_->inflight;
        int prev = tap_->max_inflight.load();
        while (now > prev && !tap_->max_inflight.compare_exchange_weak(prev, now)) {
        }
      }
      if (tap_->drop_publishes) return;
    }
    inner_->Send(std::move(p));
  }
  void Close() override {
    if (!gated_) inner_->Close();
  }
  size_t QueuedBytes() const override { return inner_->QueuedBytes(); }

  void OnTransportConnected() override { handler_->OnTransportConnected(); }
  void OnTransportPacket(Packet&& p) override {
    if (std::holds_alternative<Puback>(p)) --tap_->inflight;
    {
      std::lock_guard lock(tap_->mu);
      tap_->received.push_back(p);
    }
    handler_->OnTransportPacket(std::move(p));
  }
  void OnTransportClosed(std::error_code ec) override { handler_->OnTransportClosed(ec); }
  void OnTransportDrained() override { handler_->OnTransportDrained(); }
  void OnTransportBatchBegin() override { handler_->OnTransportBatchBegin(); }
  void OnTransportBatchEnd() override { handler_->OnTransportBatchEnd(); }

 private:
  asio::any_io_executor ex_;
  std::unique_ptr<Transport> inner_;
  std::shared_ptr<Tap> tap_;
  TransportHandler* handler_ = nullptr;
  bool gated_ = false;
};

TransportFactory TapFactory(std::shared_ptr<Tap> tap) {
  return [tap](const asio::any_io_executor& ex, const TransportOptions& o) {
    return std::make_unique<TapTransport>(ex, o, tap);
  };
}

// Messages received by one subscriber, thread-safe.
struct Inbox {
  std::mutex mu;
  std::vector<Message> messages;
  void Add(const Message& m) {
    std::lock_guard lock(mu);
    messages.push_back(m);
  }
  size_t size() {
    std::lock_guard lock(mu);
    return messages.size();
  }
  std::vector<Message> Copy() {
    std::lock_guard lock(mu);
    return messages;
  }
  MessageHandler Handler() {
    return [this](const Message& m) { Add(m); };
  }
};

class ClientTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    broker_ = std::make_unique<Mosquitto>();
    ASSERT_TRUE(broker_->Start()) << "mosquitto did not start";
  }
  void TearDown() override {
    for (auto& c : clients_) StopClient(c);
    clients_.clear();
  }

  MqttClientConfig Config(const std::string& id) {
    MqttClientConfig cfg;
    cfg.url = broker_->url();
    cfg.client_id = id;
    cfg.protocol_version = GetParam();
    cfg.reconnect_min_ms = 50;
    cfg.reconnect_max_ms = 500;
    return cfg;
  }

  std::shared_ptr<Client> Make(MqttClientConfig cfg, TransportFactory f = {}) {
    auto c = Client::Create(io_.io(), std::move(cfg), std::move(f));
    clients_.push_back(c);
    return c;
  }

  static bool Connected(const std::shared_ptr<Client>& c) {
    return WaitFor([&] { return c->state() == ConnectionState::kConnected; });
  }

  // Subscribes and waits for the SUBACK.
  static ReasonCode SubscribeSync(const std::shared_ptr<Client>& c, const std::string& filter,
                                  SubscribeOptions o, MessageHandler h) {
    auto result = std::make_shared<std::atomic<int>>(-1);
    c->Subscribe(filter, o, std::move(h),
                 [result](ReasonCode rc) { *result = static_cast<int>(rc); });
    EXPECT_TRUE(WaitFor([&] { return *result >= 0; }));
    return static_cast<ReasonCode>(result->load());
  }

  static void StopClient(const std::shared_ptr<Client>& c) {
    std::atomic<bool> stopped{false};
    c->Stop([&] { stopped = true; });
    EXPECT_TRUE(WaitFor([&] { return stopped.load(); }));
  }

  IoThread io_;
  std::unique_ptr<Mosquitto> broker_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_P(ClientTest, Qos012RoundTrip) {
  auto sub = Make(Config("sub"));
  auto pub = Make(Config("pub"));
  Inbox inbox;
  sub->Start();
  pub->Start();
  ASSERT_TRUE(Connected(sub));
  EXPECT_EQ(SubscribeSync(sub, "rt/#", {.qos = QoS::kExactlyOnce}, inbox.Handler()),
            ReasonCode::kGrantedQos2);
  std::atomic<int> acked{0};
  for (int q = 0; q <= 2; ++q) {
    ASSERT_TRUE(pub->Publish("rt/q" + std::to_string(q), "payload-" + std::to_string(q),
                             {.qos = static_cast<QoS>(q)},
                             [&](std::error_code ec) {
                               EXPECT_FALSE(ec) << ec.message();
                               ++acked;
                             })
                    .ok());
  }
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 3 && acked == 3; }));
  std::map<std::string, Message> by_topic;
  for (auto& m : inbox.Copy()) by_topic[m.topic] = m;
  for (int q = 0; q <= 2; ++q) {
    const auto& m = by_topic.at("rt/q" + std::to_string(q));
    EXPECT_EQ(m.payload.view(), "payload-" + std::to_string(q));
    EXPECT_EQ(static_cast<int>(m.qos), q);
  }
  EXPECT_EQ(pub->stats().completed, 3u);
}

TEST_P(ClientTest, ManyQos1MessagesRespectInflightWindow) {
  auto tap = std::make_shared<Tap>();
  auto cfg = Config("pub-window");
  cfg.max_inflight = 4;
  auto pub = Make(cfg, TapFactory(tap));
  auto sub = Make(Config("sub-window"));
  Inbox inbox;
  sub->Start();
  pub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "win", {.qos = QoS::kAtLeastOnce}, inbox.Handler());
  constexpr int kCount = 500;
  std::atomic<int> acked{0};
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub->Publish("win", std::to_string(i), {.qos = QoS::kAtLeastOnce},
                             [&](std::error_code ec) { acked += ec ? 0 : 1; })
                    .ok());
  }
  ASSERT_TRUE(WaitFor([&] { return acked == kCount && inbox.size() == kCount; }));
  EXPECT_LE(tap->max_inflight.load(), 4);
  EXPECT_GE(tap->max_inflight.load(), 1);
  // Per-publisher order is kept.
  auto msgs = inbox.Copy();
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(msgs[i].payload.view(), std::to_string(i));
}

// mosquitto 2.0.11 (Debian 12) with its default max_inflight_messages 20 stops sending a mixed
// QoS 1/2 burst to a 3.1.1 subscriber: after the first 20 QoS 1 messages it sends only the QoS 2
// ones, every message acknowledged, the rest of the QoS 1 ones stay queued: 220-226 of 400 with
// this client, 242 with mosquitto_sub as the subscriber, nothing dropped in its log. An
// inflight-quota fault of mosquitto (inflight-quota fixes are listed for 2.0.13; no newer mosquitto
// tried), not of the client; `max_inflight_messages 0` (no limit) avoids it (src/mqtt/README.md).
constexpr const char* kMosquittoUnlimitedInflight = "max_inflight_messages 0\nlog_type all\n";

// SetBatchFlushHandler (`aiot bridge`: records appended once per read): no PUBACK / PUBREC
// leaves while a message handed to the handler waits for its flush; every message is flushed and
// acknowledged once.
TEST_P(ClientTest, BatchFlushRunsBeforeTheAcksOfItsMessages) {
  broker_ = std::make_unique<Mosquitto>(0, kMosquittoUnlimitedInflight);
  ASSERT_TRUE(broker_->Start());
  auto tap = std::make_shared<Tap>();
  auto sub = Make(Config("sub-batch"), TapFactory(tap));
  auto pub = Make(Config("pub-batch"));
  int unflushed = 0;  // the subscriber's strand only
  std::atomic<int> handled{0}, flushed{0}, flushes{0}, acks{0}, early_acks{0};
  tap->on_send = [&](const Packet& p) {
    if (std::holds_alternative<Puback>(p) || std::holds_alternative<Pubrec>(p)) {
      ++acks;
      if (unflushed > 0 || acks > flushed) ++early_acks;
    }
  };
  sub->SetMessageHandler([&](const Message&) {
    ++unflushed;
    ++handled;
  });
  sub->SetBatchFlushHandler([&] {
    flushed += unflushed;
    unflushed = 0;
    ++flushes;
  });
  sub->Start();
  pub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "batch/#", {.qos = QoS::kExactlyOnce}, {});
  constexpr int kCount = 400;
  // QoS 1 and 2 mixed (on 3.1.1 mosquitto needs kMosquittoUnlimitedInflight for that).
  std::atomic<int> published{0};
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub->Publish("batch/" + std::to_string(i % 7), std::to_string(i),
                             {.qos = i % 2 == 1 ? QoS::kExactlyOnce : QoS::kAtLeastOnce},
                             [&](std::error_code ec) { published += ec ? 0 : 1; })
                    .ok());
  }
  ASSERT_TRUE(WaitFor([&] { return published == kCount && acks >= kCount; }))
      << published.load() << " published, " << acks.load() << " acks, " << handled.load()
      << " handled";
  EXPECT_EQ(acks.load(), kCount);
  EXPECT_EQ(handled.load(), kCount);
  EXPECT_EQ(flushed.load(), kCount);
  EXPECT_EQ(early_acks.load(), 0);
  EXPECT_GE(flushes.load(), 1);
  std::cout << kCount << " messages in " << flushes.load() << " flushes\n";
}

// A burst of QoS 1 and 2 alternating to one QoS 2 subscriber: each message arrives once (the
// receive-side QoS 2 state: PUBREC, PUBREL, PUBCOMP).
TEST_P(ClientTest, MixedQos12BurstReachesAQos2SubscriberOnce) {
  broker_ = std::make_unique<Mosquitto>(0, kMosquittoUnlimitedInflight);
  ASSERT_TRUE(broker_->Start());
  auto tap = std::make_shared<Tap>();
  auto sub = Make(Config("sub-mixed"), TapFactory(tap));
  auto pub = Make(Config("pub-mixed"));
  std::mutex mu;
  std::map<std::string, int> seen;  // payload -> deliveries
  std::atomic<int> received{0};
  sub->Start();
  pub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "mixed/#", {.qos = QoS::kExactlyOnce}, [&](const Message& m) {
    std::lock_guard lock(mu);
    ++seen[std::string(m.payload.view())];
    ++received;
  });
  constexpr int kCount = 400;
  std::atomic<int> published{0};
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub->Publish("mixed/" + std::to_string(i % 7), std::to_string(i),
                             {.qos = i % 2 == 1 ? QoS::kExactlyOnce : QoS::kAtLeastOnce},
                             [&](std::error_code ec) { published += ec ? 0 : 1; })
                    .ok());
  }
  // Every exchange completed on the subscriber's side: PUBACK for the QoS 1 half; PUBREC, then
  // PUBCOMP for each PUBREL, for the QoS 2 half.
  const auto pubcomps = [&] { return tap->CountSent<Pubcomp>(); };
  const bool all = WaitFor(
      [&] { return published == kCount && received >= kCount && pubcomps() >= kCount / 2; });
  std::string log;
  if (!all) {
    std::ifstream in(broker_->dir() + "/mosquitto.log");
    log.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_TRUE(all) << published.load() << " published, " << received.load() << " received, "
                   << pubcomps() << " PUBCOMPs sent; mosquitto's log:\n"
                   << log;
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(seen[std::to_string(i)], 1) << "message " << i;
  EXPECT_EQ(sub->stats().received, static_cast<uint64_t>(kCount));
  EXPECT_EQ(tap->CountSent<Puback>(), kCount / 2);
  EXPECT_EQ(tap->CountSent<Pubrec>(), kCount / 2);
  EXPECT_EQ(pubcomps(), kCount / 2);
}

TEST_P(ClientTest, RetainedMessageDeliveredOnSubscribe) {
  auto pub = Make(Config("pub-retain"));
  pub->Start();
  std::atomic<bool> done{false};
  ASSERT_TRUE(pub->Publish("status/fan-1", "{\"online\":true}",
                           {.qos = QoS::kAtLeastOnce, .retain = true},
                           [&](std::error_code) { done = true; })
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return done.load(); }));
  auto sub = Make(Config("sub-retain"));
  Inbox inbox;
  sub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "status/+", {.qos = QoS::kAtLeastOnce}, inbox.Handler());
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  auto m = inbox.Copy()[0];
  EXPECT_TRUE(m.retain);
  EXPECT_EQ(m.payload.view(), "{\"online\":true}");
}

TEST_P(ClientTest, WillPublishedWhenConnectionDropsWithoutDisconnect) {
  auto watcher = Make(Config("watcher"));
  Inbox inbox;
  watcher->Start();
  ASSERT_TRUE(Connected(watcher));
  SubscribeSync(watcher, "will/#", {.qos = QoS::kAtLeastOnce}, inbox.Handler());

  auto tap = std::make_shared<Tap>();
  auto cfg = Config("device-with-will");
  cfg.will_topic = "will/device";
  cfg.will_payload = "{\"online\":false}";
  cfg.will_qos = 1;
  auto device = Make(cfg, TapFactory(tap));
  device->Start();
  ASSERT_TRUE(Connected(device));
  tap->gate_open = false;  // stay away after the drop
  asio::post(device->executor(), [tap] {
    if (tap->current) tap->current->Close();  // no DISCONNECT: the broker sends the will
  });
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.Copy()[0].payload.view(), "{\"online\":false}");
}

TEST_P(ClientTest, NoWillAfterStop) {
  auto watcher = Make(Config("watcher2"));
  Inbox inbox;
  watcher->Start();
  ASSERT_TRUE(Connected(watcher));
  SubscribeSync(watcher, "will2/#", {.qos = QoS::kAtLeastOnce}, inbox.Handler());
  auto cfg = Config("device2");
  cfg.will_topic = "will2/device";
  cfg.will_payload = "gone";
  auto device = Make(cfg);
  device->Start();
  ASSERT_TRUE(Connected(device));
  StopClient(device);
  // A barrier message after the stop: when it arrives, a will would have arrived first.
  auto other = Make(Config("barrier"));
  other->Start();
  ASSERT_TRUE(other->Publish("will2/barrier", "x", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return inbox.size() >= 1; }));
  for (auto& m : inbox.Copy()) EXPECT_NE(m.topic, "will2/device");
}

TEST_P(ClientTest, ReconnectAfterBrokerRestartResubscribesAndDeliversOfflineQueue) {
  auto sub = Make(Config("sub-restart"));
  auto tap = std::make_shared<Tap>();
  auto pub = Make(Config("pub-restart"), TapFactory(tap));
  Inbox inbox;
  std::atomic<int> connects{0};
  sub->SetConnectionHandler([&](const ConnectionEvent& e) {
    if (e.state == ConnectionState::kConnected) ++connects;
  });
  sub->Start();
  pub->Start();
  ASSERT_TRUE(Connected(sub));
  ASSERT_TRUE(Connected(pub));
  SubscribeSync(sub, "restart/#", {.qos = QoS::kAtLeastOnce}, inbox.Handler());

  broker_->Kill();
  ASSERT_TRUE(WaitFor([&] {
    return sub->state() != ConnectionState::kConnected &&
           pub->state() != ConnectionState::kConnected;
  }));
  tap->gate_open = false;  // the publisher comes back only once the subscriber is ready
  constexpr int kOffline = 20;
  std::atomic<int> acked{0};
  for (int i = 0; i < kOffline; ++i) {
    ASSERT_TRUE(pub->Publish("restart/data", "offline-" + std::to_string(i),
                             {.qos = QoS::kAtLeastOnce},
                             [&](std::error_code ec) { acked += ec ? 0 : 1; })
                    .ok());
  }
  ASSERT_TRUE(broker_->Start());
  ASSERT_TRUE(WaitFor([&] { return connects.load() >= 2; }));
  // The fresh broker has no session: the client resubscribed by itself. Probe until the
  // subscription is active.
  auto probe = Make(Config("probe"));
  probe->Start();
  auto probe_arrived = [&] {
    for (auto& m : inbox.Copy()) {
      if (m.topic == "restart/probe") return true;
    }
    return false;
  };
  // A probe sent before the resubscription is lost: send another until one arrives.
  ASSERT_TRUE(WaitFor([&] {
    (void)probe->Publish("restart/probe", "p", {.qos = QoS::kAtLeastOnce});
    return WaitFor(probe_arrived, std::chrono::milliseconds(50));
  }));
  tap->gate_open = true;
  ASSERT_TRUE(WaitFor([&] { return acked == kOffline; }));
  ASSERT_TRUE(WaitFor([&] {
    std::set<std::string> got;
    for (auto& m : inbox.Copy()) {
      if (m.topic == "restart/data") got.insert(std::string(m.payload.view()));
    }
    return got.size() == kOffline;
  }));
}

TEST_P(ClientTest, UnacknowledgedQos1And2ResentWithDupAfterReconnect) {
  auto sub = Make(Config("sub-dup"));
  Inbox inbox;
  sub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "dup/#", {.qos = QoS::kExactlyOnce}, inbox.Handler());

  auto tap = std::make_shared<Tap>();
  auto pub = Make(Config("pub-dup"), TapFactory(tap));
  pub->Start();
  ASSERT_TRUE(Connected(pub));
  tap->drop_publishes = true;  // the PUBLISHes are "lost on the wire"
  std::atomic<int> acked{0};
  ASSERT_TRUE(pub->Publish("dup/1", "one", {.qos = QoS::kAtLeastOnce},
                           [&](std::error_code ec) { acked += ec ? 0 : 1; })
                  .ok());
  ASSERT_TRUE(pub->Publish("dup/2", "two", {.qos = QoS::kExactlyOnce},
                           [&](std::error_code ec) { acked += ec ? 0 : 1; })
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return tap->CountSent<Publish>() == 2; }));
  tap->drop_publishes = false;
  asio::post(pub->executor(), [tap] {
    if (tap->current) tap->current->Close();
  });
  ASSERT_TRUE(WaitFor([&] { return acked == 2 && inbox.size() == 2; }));
  EXPECT_EQ(tap->CountSent<Publish>([](const Publish& p) { return p.dup; }), 2);
  EXPECT_EQ(pub->stats().connects, 2u);
}

TEST_P(ClientTest, UnsubscribeStopsDelivery) {
  auto c = Make(Config("unsub"));
  Inbox a, b;
  c->Start();
  ASSERT_TRUE(Connected(c));
  SubscribeSync(c, "u/a", {.qos = QoS::kAtLeastOnce}, a.Handler());
  SubscribeSync(c, "u/b", {.qos = QoS::kAtLeastOnce}, b.Handler());
  std::atomic<int> unsub_rc{-1};
  c->Unsubscribe("u/a", [&](ReasonCode rc) { unsub_rc = static_cast<int>(rc); });
  ASSERT_TRUE(WaitFor([&] { return unsub_rc >= 0; }));
  EXPECT_EQ(static_cast<ReasonCode>(unsub_rc.load()), ReasonCode::kSuccess);
  ASSERT_TRUE(c->Publish("u/a", "1", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(c->Publish("u/b", "2", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return b.size() == 1; }));
  EXPECT_EQ(a.size(), 0u);
}

TEST_P(ClientTest, InteropWithMosquittoPubAndSub) {
  auto c = Make(Config("interop"));
  Inbox inbox;
  c->Start();
  ASSERT_TRUE(Connected(c));
  SubscribeSync(c, "interop/in", {.qos = QoS::kExactlyOnce}, inbox.Handler());
  const std::string v = GetParam() == 5 ? "mqttv5" : "mqttv311";
  const std::string port = std::to_string(broker_->port());
  RunCommand("mosquitto_pub -h 127.0.0.1 -p " + port + " -V " + v +
             " -q 2 -t interop/in -m 'from mosquitto_pub'");
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.Copy()[0].payload.view(), "from mosquitto_pub");
  EXPECT_EQ(inbox.Copy()[0].qos, QoS::kExactlyOnce);

  // mosquitto_sub waits for one message; publish retained so it gets it whenever it subscribes.
  ASSERT_TRUE(
      c->Publish("interop/out", "from aiot", {.qos = QoS::kAtLeastOnce, .retain = true}).ok());
  const std::string out = RunCommand("timeout 20 mosquitto_sub -h 127.0.0.1 -p " + port + " -V " +
                                         v + " -q 1 -C 1 -t interop/out",
                                     Capture::kStdout)
                              .output;
  EXPECT_EQ(out, "from aiot\n");
}

TEST_P(ClientTest, V5PropertiesPassThrough) {
  if (GetParam() != 5) GTEST_SKIP() << "v5 only";
  auto c = Make(Config("props"));
  Inbox inbox;
  c->Start();
  ASSERT_TRUE(Connected(c));
  SubscribeSync(c, "props/#", {.qos = QoS::kAtLeastOnce}, inbox.Handler());
  PublishOptions o{.qos = QoS::kAtLeastOnce};
  o.properties.content_type = "application/json";
  o.properties.response_topic = "props/reply";
  o.properties.correlation_data = "corr-1";
  o.properties.message_expiry_interval = 3600;
  o.properties.user_properties = {{"device", "fan-0001"}};
  ASSERT_TRUE(c->Publish("props/x", "{}", o).ok());
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  const auto m = inbox.Copy()[0];
  EXPECT_EQ(m.properties.content_type, "application/json");
  EXPECT_EQ(m.properties.response_topic, "props/reply");
  EXPECT_EQ(m.properties.correlation_data, "corr-1");
  ASSERT_TRUE(m.properties.message_expiry_interval);
  EXPECT_LE(*m.properties.message_expiry_interval, 3600u);
  EXPECT_EQ(m.properties.user_properties, (UserProperties{{"device", "fan-0001"}}));
}

TEST_P(ClientTest, V5NoLocal) {
  if (GetParam() != 5) GTEST_SKIP() << "v5 only";
  auto c = Make(Config("nolocal"));
  Inbox mine, all;
  c->Start();
  ASSERT_TRUE(Connected(c));
  SubscribeSync(c, "nl/own", {.qos = QoS::kAtLeastOnce, .no_local = true}, mine.Handler());
  SubscribeSync(c, "nl/barrier", {.qos = QoS::kAtLeastOnce}, all.Handler());
  ASSERT_TRUE(c->Publish("nl/own", "x", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(c->Publish("nl/barrier", "y", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return all.size() == 1; }));
  EXPECT_EQ(mine.size(), 0u);
}

// Outgoing topic aliases against mosquitto (which accepts up to 10 from a client): the first
// PUBLISH to a topic binds an alias (topic + alias), later ones carry only the alias, the least
// recently used alias is rebound when all are taken, and a new connection starts afresh. The
// subscriber gets every message with its full topic. 3.1.1 has no aliases.
TEST_P(ClientTest, OutgoingTopicAliases) {
  auto sub = Make(Config("sub-alias"));
  Inbox inbox;
  sub->Start();
  ASSERT_TRUE(Connected(sub));
  SubscribeSync(sub, "alias/#", {.qos = QoS::kAtLeastOnce}, inbox.Handler());
  auto tap = std::make_shared<Tap>();
  MqttClientConfig cfg = Config("pub-alias");
  cfg.topic_alias_maximum_out = 2;
  auto pub = Make(cfg, TapFactory(tap));
  pub->Start();
  ASSERT_TRUE(Connected(pub));
  const std::vector<std::string> topics = {"alias/a", "alias/b", "alias/a", "alias/a",
                                           "alias/c", "alias/b", "alias/a"};
  std::atomic<int> acked{0};
  for (size_t i = 0; i < topics.size(); ++i) {
    ASSERT_TRUE(pub->Publish(topics[i], std::to_string(i), {.qos = QoS::kAtLeastOnce},
                             [&](std::error_code ec) { acked += ec ? 0 : 1; })
                    .ok());
  }
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == topics.size(); }));
  ASSERT_TRUE(WaitFor([&] { return acked.load() == static_cast<int>(topics.size()); }));
  auto got = inbox.Copy();
  for (size_t i = 0; i < topics.size(); ++i) {
    EXPECT_EQ(got[i].topic, topics[i]) << i;
    EXPECT_EQ(got[i].payload.view(), std::to_string(i));
  }
  std::vector<std::pair<std::string, int>> sent;  // (topic on the wire, alias or 0)
  {
    std::lock_guard lock(tap->mu);
    for (const auto& p : tap->sent) {
      if (const auto* pb = std::get_if<Publish>(&p))
        sent.emplace_back(pb->topic, pb->properties.topic_alias.value_or(0));
    }
  }
  if (GetParam() == 5) {
    // a->1, b->2, a, a, c rebinds 2 (b least recent), b rebinds 1, a rebinds 2.
    std::vector<std::pair<std::string, int>> want = {{"alias/a", 1}, {"alias/b", 2}, {"", 1},
                                                     {"", 1},        {"alias/c", 2}, {"alias/b", 1},
                                                     {"alias/a", 2}};
    EXPECT_EQ(sent, want);
    EXPECT_EQ(pub->stats().aliased, 2u);
  } else {
    for (const auto& [t, alias] : sent) EXPECT_EQ(alias, 0) << t;
    EXPECT_EQ(pub->stats().aliased, 0u);
  }

  // A new connection has no aliases: the next PUBLISH to alias/a carries the topic again.
  broker_->Kill();
  ASSERT_TRUE(WaitFor([&] { return pub->state() != ConnectionState::kConnected; }));
  ASSERT_TRUE(broker_->Start());
  ASSERT_TRUE(WaitFor([&] { return pub->state() == ConnectionState::kConnected; }));
  std::atomic<int> after{-1};
  ASSERT_TRUE(pub->Publish("alias/a", "again", {.qos = QoS::kAtLeastOnce},
                           [&](std::error_code ec) { after = ec ? 1 : 0; })
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return after.load() >= 0; }));
  EXPECT_EQ(after.load(), 0);
  EXPECT_EQ(pub->stats().connects, 2u);  // mosquitto never saw an unknown alias
  std::lock_guard lock(tap->mu);
  const auto* last = std::get_if<Publish>(&tap->sent.back());
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->topic, "alias/a");
  EXPECT_EQ(last->properties.topic_alias.value_or(0), GetParam() == 5 ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(Versions, ClientTest, ::testing::Values(4u, 5u),
                         [](const auto& info) { return info.param == 5 ? "V5" : "V311"; });

TEST(ClientOffline, QueueIsBoundedWhileDisconnected) {
  IoThread io;
  MqttClientConfig cfg;
  cfg.url = "tcp://127.0.0.1:" + std::to_string(testing::FreePort());  // nothing listens
  cfg.offline_queue_limit = 5;
  auto c = Client::Create(io.io(), cfg);
  c->Start();
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(c->Publish("q", "m", {.qos = QoS::kAtLeastOnce}, [&](std::error_code ec) {
                   if (ec == std::error_code(errc::cancelled)) ++cancelled;
                 }).ok());
  }
  Status s = c->Publish("q", "overflow", {.qos = QoS::kAtLeastOnce});
  EXPECT_EQ(s.error(), std::error_code(errc::resource_exhausted));
  EXPECT_EQ(c->Publish("bad/+", "x").error(), std::error_code(ReasonCode::kTopicNameInvalid));
  EXPECT_EQ(c->stats().rejected, 1u);
  std::atomic<bool> stopped{false};
  c->Stop([&] { stopped = true; });
  ASSERT_TRUE(WaitFor([&] { return stopped.load(); }));
  EXPECT_EQ(cancelled.load(), 5);
  EXPECT_EQ(c->state(), ConnectionState::kStopped);
}

// A bad client configuration is reported when it is loaded, each problem with its line.
TEST(ClientConfig, BadValuesAreReportedWhenLoaded) {
  MqttClientConfig cfg;
  EXPECT_EQ(
      LoadProblems("url: 127.0.0.1:1883\nprotocol_version: 3\nwill_qos: 3\nreconnect_min_ms: 500\n"
                   "reconnect_max_ms: 100\n",
                   "m.yaml", config::DescriberFor(cfg)),
      (std::vector<std::string>{
          "url: `127.0.0.1:1883` is not scheme://host:port, e.g. tcp://127.0.0.1:1883 "
          "(m.yaml:1)",
          "protocol_version: must be 4 (3.1.1) or 5, got `3` (m.yaml:2)",
          "will_qos: must be 0, 1 or 2, got `3` (m.yaml:3)",
          "reconnect_max_ms: must not be less than reconnect_min_ms (m.yaml:5)"}));
  cfg = MqttClientConfig{};
  EXPECT_THROW(config::LoadYaml("url: udp://host:1883\n", "m.yaml", config::DescriberFor(cfg)),
               config::Error);
  cfg = MqttClientConfig{};
  config::LoadYaml("url: inproc://\nprotocol_version: 4\n", "m.yaml", config::DescriberFor(cfg));
  EXPECT_EQ(cfg.protocol_version, 4u);
}

// Create does not throw: a url the TCP transport cannot use (inproc:// without the broker's
// factory) fails each connection attempt, and the connection handler says why.
TEST(ClientConfig, UnusableUrlFailsTheConnection) {
  IoThread io;
  MqttClientConfig cfg;
  cfg.url = "inproc://";
  auto c = Client::Create(io.io(), cfg);
  std::atomic<bool> refused{false};
  c->SetConnectionHandler([&](const ConnectionEvent& e) {
    if (e.state == ConnectionState::kDisconnected &&
        e.error == std::make_error_code(std::errc::invalid_argument)) {
      refused = true;
    }
  });
  c->Start();
  EXPECT_TRUE(WaitFor([&] { return refused.load(); }));
  std::atomic<bool> stopped{false};
  c->Stop([&] { stopped = true; });
  ASSERT_TRUE(WaitFor([&] { return stopped.load(); }));
}

TEST(ClientConfig, ParseUrl) {
  std::string scheme, host, port;
  ASSERT_TRUE(ParseUrl("tcp://127.0.0.1:1884", &scheme, &host, &port));
  EXPECT_EQ(scheme, "tcp");
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, "1884");
  ASSERT_TRUE(ParseUrl("mqtt://broker", &scheme, &host, &port));
  EXPECT_EQ(port, "1883");
  ASSERT_TRUE(ParseUrl("tcp://[::1]:1999", &scheme, &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "1999");
}

}  // namespace
}  // namespace aiot::mqtt
