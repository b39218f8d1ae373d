// broker.bridge against a real mosquitto as the remote broker: out, in and both directions
// (prefixes mapped, no loops), store-and-forward while the remote is down, TLS to a mosquitto TLS
// listener with certificates made at test time. The aiot broker runs in-process (TestBroker).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/bridge/bridge.h"
#include "mqtt/client/test_util.h"
#include "tests/mqtt/bridge_testing.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/pki.h"
#include "tests/support/run.h"
#include "tests/support/testing.h"

namespace aiot::mqtt {
namespace {

namespace fs = std::filesystem;
using bridge_test::ConnectClient;
using bridge_test::Numbered;
using bridge_test::Received;
using bridge_test::StopClient;
using bridge_test::SubscribeInto;
using test_support::WaitFor;
using namespace std::chrono_literals;

class MqttBridge : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto is not installed");
    char tmpl[] = "/tmp/aiot-mqtt-bridge-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0777);
    local_ = std::make_unique<test::TestBroker>();
    ASSERT_TRUE(local_->ok());
  }
  void TearDown() override {
    for (auto& c : clients_) StopClient(c);
    if (bridge_) bridge_->Stop();
    bridge_.reset();
    local_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  bridge::BridgeConfig Config(const std::string& url, std::vector<std::string> topics) {
    bridge::BridgeConfig c;
    c.url = url;
    c.name = "site1";
    c.topics = std::move(topics);
    c.buffer.dir = dir_ + "/buffer";
    c.reconnect_min_ms = 50;
    c.reconnect_max_ms = 500;
    return c;
  }
  void StartBridge(const bridge::BridgeConfig& c) {
    auto b = bridge::Bridge::Create(c, local_->broker(), io_.io(), local_->registry());
    ASSERT_TRUE(b.ok()) << b.status().message();
    bridge_ = std::move(*b);
    bridge_->Start();
  }
  // A bridge that must never connect (`bad`): a message published locally waits in its buffer.
  // (Published until the new bridge's local subscription takes it.)
  void ExpectBufferedAndNeverConnected(const bridge::BridgeConfig& bad, Client& local_pub) {
    StartBridge(bad);
    ASSERT_TRUE(WaitFor([&] {
      (void)local_pub.Publish("tele/t", "kept", {.qos = QoS::kAtLeastOnce});
      return WaitFor([&] { return bridge_->stats().buffer.records >= 1; }, 300ms);
    }));
    EXPECT_FALSE(bridge_->stats().connected);
  }
  std::shared_ptr<Client> Connect(const std::string& url, bridge_test::ClientOptions o = {}) {
    auto c = ConnectClient(io_.io(), url, o);
    if (c) clients_.push_back(c);
    return c;
  }
  std::string local_url() const { return "tcp://127.0.0.1:" + std::to_string(local_->port()); }
  // Publishes `topic` from `pub` at QoS 1 until `seen` has a probe (the bridge's subscriptions
  // are then in place on both sides). Probe payloads start with "probe".
  bool Probe(Client& pub, const std::string& topic, const Received& seen) {
    return WaitFor(
        [&] {
          if (!seen.payloads().empty()) return true;
          (void)pub.Publish(topic, "probe", {.qos = QoS::kAtLeastOnce});
          return WaitFor([&] { return !seen.payloads().empty(); }, 300ms);
        },
        30s);
  }

  std::string dir_;
  testing::IoThread io_;
  std::unique_ptr<test::TestBroker> local_;
  std::unique_ptr<bridge::Bridge> bridge_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_F(MqttBridge, OutInAndBothWithPrefixesAndNoLoop) {
  testing::Mosquitto remote;
  ASSERT_TRUE(remote.Start());
  StartBridge(Config(remote.url(), {"sensors/# out 1 site1/ plant/site1/",
                                    "cmd/# in 1 site1/ plant/", "echo/# both 1"}));
  auto local_pub = Connect(local_url());
  auto remote_pub = Connect(remote.url());
  ASSERT_TRUE(local_pub && remote_pub);

  // Out: site1/sensors/... arrives on the remote as plant/site1/sensors/..., in order.
  auto remote_sub = Connect(remote.url());
  ASSERT_TRUE(remote_sub);
  Received out;
  ASSERT_TRUE(SubscribeInto(*remote_sub, "plant/site1/sensors/#", out));
  ASSERT_TRUE(Probe(*local_pub, "site1/sensors/probe", out)) << "no message crossed the bridge";
  for (const auto& p : Numbered("out", 50))
    ASSERT_TRUE(local_pub->Publish("site1/sensors/t", p, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return out.payloads_without("probe").size() >= 50; }));
  EXPECT_EQ(out.payloads_without("probe"), Numbered("out", 50));
  EXPECT_EQ(out.topics().back(), "plant/site1/sensors/t");

  // In: plant/cmd/... on the remote is published locally as site1/cmd/...
  auto local_sub = Connect(local_url());
  ASSERT_TRUE(local_sub);
  Received in;
  ASSERT_TRUE(SubscribeInto(*local_sub, "site1/cmd/#", in));
  ASSERT_TRUE(Probe(*remote_pub, "plant/cmd/probe", in));
  for (const auto& p : Numbered("in", 20))
    ASSERT_TRUE(remote_pub->Publish("plant/cmd/fan", p, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return in.payloads_without("probe").size() >= 20; }));
  EXPECT_EQ(in.payloads_without("probe"), Numbered("in", 20));
  EXPECT_EQ(in.topics().back(), "site1/cmd/fan");

  // Both: each side's message reaches the other once and does not come back (no-local).
  Received echo_local, echo_remote;
  ASSERT_TRUE(SubscribeInto(*local_sub, "echo/#", echo_local));
  ASSERT_TRUE(SubscribeInto(*remote_sub, "echo/#", echo_remote));
  ASSERT_TRUE(Probe(*local_pub, "echo/probe", echo_remote));
  ASSERT_TRUE(local_pub->Publish("echo/a", "from-local", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(remote_pub->Publish("echo/b", "from-remote", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] {
    return echo_remote.count("from-local") >= 1 && echo_local.count("from-remote") >= 1;
  }));
  // A loop would bring each message back around: send markers along the same paths after them
  // and check the counts once the markers are through.
  ASSERT_TRUE(local_pub->Publish("echo/a", "marker-l", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(remote_pub->Publish("echo/b", "marker-r", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor(
      [&] { return echo_remote.count("marker-l") >= 1 && echo_local.count("marker-r") >= 1; }));
  EXPECT_EQ(echo_remote.count("from-local"), 1u);
  EXPECT_EQ(echo_local.count("from-local"), 1u);  // the local subscriber's own copy only
  EXPECT_EQ(echo_local.count("from-remote"), 1u);
  EXPECT_EQ(echo_remote.count("from-remote"), 1u);
  const auto s = bridge_->stats();
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_GE(s.out_sent, 52u);
  EXPECT_EQ(s.buffer.records, 0u);
}

// The remote goes away (a clean mosquitto shutdown that keeps its persistent sessions), messages
// are published locally meanwhile: they wait on disk and all arrive, in order, once it is back.
TEST_F(MqttBridge, RemoteDownMessagesWaitOnDiskAndArriveInOrder) {
  const std::string db = dir_ + "/mosquitto-db/";
  fs::create_directories(db);
  ::chmod(db.c_str(), 0777);
  testing::Mosquitto remote(0, "persistence true\npersistence_location " + db);
  ASSERT_TRUE(remote.Start());
  StartBridge(Config(remote.url(), {"d/# out 1 \"\" central/"}));
  auto local_pub = Connect(local_url());
  ASSERT_TRUE(local_pub);
  // A persistent subscriber on the remote, offline while the messages arrive there.
  bridge_test::ClientOptions persistent;
  persistent.client_id = "central-consumer";
  persistent.clean_start = false;
  persistent.session_expiry_s = 3600;
  Received got;
  {
    auto sub = ConnectClient(io_.io(), remote.url(), persistent);
    ASSERT_TRUE(sub);
    ASSERT_TRUE(SubscribeInto(*sub, "central/d/#", got));
    ASSERT_TRUE(Probe(*local_pub, "d/probe", got));
    StopClient(sub);
  }
  remote.Stop();
  ASSERT_TRUE(WaitFor([&] { return !bridge_->stats().connected; }));
  const uint64_t before = bridge_->stats().out_buffered;
  constexpr int kN = 300;
  for (const auto& p : Numbered("m", kN))
    ASSERT_TRUE(local_pub->Publish("d/x", p, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return bridge_->stats().out_buffered >= before + kN; }));
  auto s = bridge_->stats();
  EXPECT_FALSE(s.connected);
  EXPECT_GE(s.buffer.records, static_cast<uint64_t>(kN));
  EXPECT_GT(s.buffer.bytes, 0u);

  // The remote stays down for several seconds: until the oldest buffered message is 3 s old.
  ASSERT_TRUE(WaitFor([&] {
    const int64_t oldest = bridge_->stats().buffer.oldest_ms;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return oldest > 0 && now - oldest >= 3000;
  }));
  EXPECT_FALSE(bridge_->stats().connected);
  ASSERT_TRUE(remote.Start());
  ASSERT_TRUE(WaitFor([&] { return bridge_->stats().buffer.records == 0; }, 60s))
      << bridge_->stats().buffer.records << " still buffered";
  // The session is back with its subscription: what was queued arrives right after CONNACK.
  Received again;
  persistent.unmatched = &again;
  auto sub = Connect(remote.url(), persistent);
  ASSERT_TRUE(sub);
  ASSERT_TRUE(WaitFor([&] { return again.payloads_without("probe").size() >= kN; }, 60s))
      << again.payloads_without("probe").size();
  EXPECT_EQ(again.payloads_without("probe"), Numbered("m", kN));
  EXPECT_EQ(bridge_->stats().dropped, 0u);
}

// The buffer is bounded: beyond max_bytes new out messages are dropped and counted.
TEST_F(MqttBridge, FullBufferDropsAndCounts) {
  const uint16_t nobody = test_support::FreePort();
  auto c = Config("mqtt://127.0.0.1:" + std::to_string(nobody), {"big/# out 1"});
  c.buffer.max_bytes = 1 << 20;
  c.buffer.segment_bytes = 64 << 10;
  StartBridge(c);
  auto local_pub = Connect(local_url());
  ASSERT_TRUE(local_pub);
  const std::string payload(100 << 10, 'x');  // 100 KiB: about ten fit
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(local_pub->Publish("big/x", payload, {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto s = bridge_->stats();
    return s.out_buffered + s.dropped >= 30;
  }));
  auto s = bridge_->stats();
  EXPECT_GT(s.dropped, 0u);
  EXPECT_GT(s.out_buffered, 0u);
  EXPECT_LE(s.buffer.bytes, c.buffer.max_bytes);
}

// mqtts:// to a mosquitto TLS listener whose certificate chains to a CA made here.
TEST_F(MqttBridge, OverTlsToMosquitto) {
  auto pki = test_support::MakePki(dir_);
  ASSERT_EQ(pki.exit_code, 0) << pki.output;
  for (const auto& f : fs::directory_iterator(dir_)) ::chmod(f.path().c_str(), 0644);
  testing::Mosquitto remote(0, "certfile " + dir_ + "/server.pem\nkeyfile " + dir_ + "/server.key");
  ASSERT_TRUE(remote.Start());
  const std::string url = "mqtts://localhost:" + std::to_string(remote.port());
  auto c = Config(url, {"tele/# out 1"});
  c.tls.ca = dir_ + "/ca.pem";
  StartBridge(c);
  ASSERT_TRUE(WaitFor([&] { return bridge_->stats().connected; })) << "no TLS connection";
  bridge_test::ClientOptions o;
  o.tls.ca = dir_ + "/ca.pem";
  auto remote_sub = Connect(url, o);
  ASSERT_TRUE(remote_sub);
  Received got;
  ASSERT_TRUE(SubscribeInto(*remote_sub, "tele/#", got));
  auto local_pub = Connect(local_url());
  ASSERT_TRUE(local_pub);
  ASSERT_TRUE(Probe(*local_pub, "tele/probe", got));
  ASSERT_TRUE(local_pub->Publish("tele/t", "over-tls", {.qos = QoS::kAtLeastOnce}).ok());
  ASSERT_TRUE(WaitFor([&] { return got.count("over-tls") == 1; }));

  // A CA the server's certificate does not chain to: never connected, nothing lost.
  bridge_->Stop();
  bridge_.reset();
  auto bad = Config(url, {"tele/# out 1"});
  bad.tls.ca = dir_ + "/otherca.pem";
  bad.buffer.dir = dir_ + "/buffer2";
  ExpectBufferedAndNeverConnected(bad, *local_pub);
}

// Mutual TLS and credentials: the remote requires a client certificate and a user name with the
// password that the bridge reads from broker.bridge.password_file.
TEST_F(MqttBridge, MutualTlsAndPasswordFile) {
  auto pki = test_support::MakePki(dir_);
  ASSERT_EQ(pki.exit_code, 0) << pki.output;
  auto pw =
      test_support::RunCommand("mosquitto_passwd -b -c " + dir_ + "/remote.passwd site1 s3cret");
  ASSERT_EQ(pw.exit_code, 0) << pw.output;
  std::ofstream(dir_ + "/site1.pw") << "s3cret\n";
  for (const auto& f : fs::directory_iterator(dir_)) ::chmod(f.path().c_str(), 0644);
  testing::Mosquitto remote(0, "certfile " + dir_ + "/server.pem\nkeyfile " + dir_ +
                                   "/server.key\ncafile " + dir_ +
                                   "/ca.pem\nrequire_certificate true\nallow_anonymous false\n"
                                   "password_file " +
                                   dir_ + "/remote.passwd");
  ASSERT_TRUE(remote.Start());
  const std::string url = "mqtts://localhost:" + std::to_string(remote.port());
  auto c = Config(url, {"tele/# out 1"});
  c.tls.ca = dir_ + "/ca.pem";
  c.tls.cert = dir_ + "/alice.pem";
  c.tls.key = dir_ + "/alice.key";
  c.username = "site1";
  c.password_file = dir_ + "/site1.pw";
  StartBridge(c);
  ASSERT_TRUE(WaitFor([&] { return bridge_->stats().connected; }))
      << "not connected with a client certificate and the password file";
  bridge_test::ClientOptions o;
  o.tls = c.tls;
  o.username = "site1";
  o.password = "s3cret";
  auto remote_sub = Connect(url, o);
  ASSERT_TRUE(remote_sub);
  Received got;
  ASSERT_TRUE(SubscribeInto(*remote_sub, "tele/#", got));
  auto local_pub = Connect(local_url());
  ASSERT_TRUE(local_pub);
  ASSERT_TRUE(Probe(*local_pub, "tele/probe", got));

  // A wrong password: the remote refuses the bridge, which keeps what it is given.
  bridge_->Stop();
  bridge_.reset();
  std::ofstream(dir_ + "/site1.pw") << "wrong\n";
  auto bad = c;
  bad.buffer.dir = dir_ + "/buffer2";
  ExpectBufferedAndNeverConnected(bad, *local_pub);
}

}  // namespace
}  // namespace aiot::mqtt
