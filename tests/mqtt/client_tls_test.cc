// aiot's MQTT client over TLS (mqtts://) against aiot's broker and a real mosquitto, each with a
// certificate made by openssl at test time (tests/support/pki.h): QoS 0/1/2 round trips in 3.1.1
// and 5.0, mutual TLS with a client certificate (its CN as the ACL user), a server certificate of
// another CA or naming another host refused with OpenSSL's reason, and the `tls` settings checked
// at load with their line.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/config.h"
#include "tests/support/pki.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::LoadProblems;
using aiot::test_support::MakePki;
using aiot::test_support::RunCommand;
using aiot::test_support::TempDir;
using aiot::test_support::WaitFor;

// A client and what it saw: messages ("topic qos payload") and connection events.
struct Observed {
  std::mutex mu;
  std::vector<std::string> messages;
  std::vector<std::error_code> errors;  // kDisconnected events with an error
  std::atomic<bool> connected{false};
};

class ClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v openssl").exit_code != 0) AIOT_SKIP_WITHOUT_PEER("openssl");
    auto [rc, out] = MakePki(dir_.path());
    ASSERT_EQ(rc, 0) << out;
  }
  void TearDown() override {
    for (auto& c : clients_) {
      std::promise<void> done;
      c->Stop([&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(10));
    }
    clients_.clear();
  }
  std::string File(const std::string& name) const { return dir_.File(name); }

  // A broker with a TLS listener on port(1) using `server`'s certificate.
  void StartBroker(broker::BrokerConfig cfg = {}) {
    cfg.tls.cert = File("server.pem");
    cfg.tls.key = File("server.key");
    broker_.emplace(cfg, 2, std::vector<std::string>{"mqtts://127.0.0.1:0"});
    ASSERT_TRUE(broker_->ok());
  }
  MqttClientConfig Config(const std::string& url, const std::string& ca = "ca") const {
    MqttClientConfig cfg;
    cfg.url = url;
    cfg.tls.ca = File(ca + ".pem");
    cfg.reconnect_min_ms = 50;
    cfg.reconnect_max_ms = 200;
    return cfg;
  }
  std::shared_ptr<Client> Start(const MqttClientConfig& cfg, Observed& seen) {
    auto c = Client::Create(io_.io(), cfg);
    c->SetMessageHandler([&seen](const Message& m) {
      std::lock_guard lock(seen.mu);
      seen.messages.push_back(m.topic + " " + std::to_string(static_cast<int>(m.qos)) + " " +
                              std::string(m.payload.view()));
    });
    c->SetConnectionHandler([&seen](const ConnectionEvent& e) {
      if (e.state == ConnectionState::kConnected) seen.connected = true;
      if (e.state == ConnectionState::kDisconnected && e.error) {
        std::lock_guard lock(seen.mu);
        seen.errors.push_back(e.error);
      }
    });
    clients_.push_back(c);
    c->Start();
    return c;
  }
  // Subscribes with QoS 2, publishes QoS 0, 1 and 2 through one client and waits for the three.
  void RoundTrip(const MqttClientConfig& base, const std::string& topic) {
    for (uint32_t version : {4u, 5u}) {
      SCOPED_TRACE("protocol_version " + std::to_string(version));
      MqttClientConfig cfg = base;
      cfg.protocol_version = version;
      Observed seen;
      auto c = Start(cfg, seen);
      std::promise<ReasonCode> subscribed;
      c->Subscribe(topic + "/#", SubscribeOptions{.qos = QoS::kExactlyOnce}, {},
                   [&](ReasonCode rc) { subscribed.set_value(rc); });
      auto granted = subscribed.get_future();
      ASSERT_EQ(granted.wait_for(std::chrono::seconds(30)), std::future_status::ready)
          << "not connected and subscribed within 30 s";
      ASSERT_EQ(granted.get(), ReasonCode::kGrantedQos2);
      EXPECT_TRUE(seen.connected);
      for (int q = 0; q < 3; ++q) {
        ASSERT_TRUE(c->Publish(topic + "/q" + std::to_string(q),
                               SharedBytes("m" + std::to_string(q)), {.qos = static_cast<QoS>(q)})
                        .ok());
      }
      ASSERT_TRUE(WaitFor([&] {
        std::lock_guard lock(seen.mu);
        return seen.messages.size() >= 3;
      }));
      std::lock_guard lock(seen.mu);
      std::sort(seen.messages.begin(), seen.messages.end());
      EXPECT_EQ(seen.messages, (std::vector<std::string>{topic + "/q0 0 m0", topic + "/q1 1 m1",
                                                         topic + "/q2 2 m2"}));
      std::promise<void> stopped;
      c->Stop([&] { stopped.set_value(); });
      stopped.get_future().wait();
    }
  }
  // Starts a client that must not get in and returns the error of its first failed attempt.
  // The client is stopped before `seen` goes: it would otherwise keep retrying into it.
  std::string Refusal(const MqttClientConfig& cfg) {
    Observed seen;
    auto c = Start(cfg, seen);
    EXPECT_TRUE(WaitFor([&] {
      std::lock_guard lock(seen.mu);
      return !seen.errors.empty();
    }));
    std::promise<void> stopped;
    c->Stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
    EXPECT_FALSE(seen.connected) << cfg.url;
    std::lock_guard lock(seen.mu);
    return seen.errors.empty() ? "" : seen.errors.front().message();
  }
  std::string TlsUrl(const std::string& host = "localhost") const {
    return "mqtts://" + host + ":" + std::to_string(broker_->port(1));
  }

  TempDir dir_{"aiot-client-tls"};
  std::optional<TestBroker> broker_;
  testing::IoThread io_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_F(ClientTls, Qos012ThroughAiotBroker) {
  StartBroker();
  RoundTrip(Config(TlsUrl()), "tls");
  // An IP address is checked against the certificate's IP SAN.
  RoundTrip(Config(TlsUrl("127.0.0.1")), "ip");
}

TEST_F(ClientTls, ServerOfAnotherCaIsRefused) {
  StartBroker();
  const std::string why = Refusal(Config(TlsUrl(), "otherca"));
  EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
}

// The certificate names localhost and 127.0.0.1: another name is refused unless the check is off.
TEST_F(ClientTls, ServerNameIsChecked) {
  StartBroker();
  MqttClientConfig cfg = Config(TlsUrl());
  cfg.tls.server_name = "broker.elsewhere.example";
  const std::string why = Refusal(cfg);
  EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
  cfg.tls.verify_server_name = false;
  RoundTrip(cfg, "noname");
}

// Mutual TLS: the broker requires a client certificate of its CA and takes its CN as the user.
TEST_F(ClientTls, ClientCertificateForMutualTls) {
  std::ofstream(File("acl")) << "user alice\ntopic readwrite alice/#\n";
  broker::BrokerConfig bc;
  bc.tls.ca = File("ca.pem");
  bc.tls.require_client_cert = true;
  bc.tls.use_identity_as_username = true;
  bc.acl_file = File("acl");
  StartBroker(bc);
  MqttClientConfig cfg = Config(TlsUrl());
  cfg.tls.cert = File("alice.pem");
  cfg.tls.key = File("alice.key");
  RoundTrip(cfg, "alice");
  // Without a certificate, or with one of another CA, the handshake fails.
  EXPECT_FALSE(Refusal(Config(TlsUrl())).empty());
  cfg.tls.cert = File("mallory.pem");
  cfg.tls.key = File("mallory.key");
  EXPECT_FALSE(Refusal(cfg).empty());
}

// A real mosquitto with the generated certificate, then with require_certificate.
TEST_F(ClientTls, Mosquitto) {
  if (!testing::Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("mosquitto not installed");
  // mosquitto started as root drops to its own user, which must read the certificate and key.
  namespace fs = std::filesystem;
  fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read |
                                   fs::perms::group_exec | fs::perms::others_read |
                                   fs::perms::others_exec);
  for (const auto& f : fs::directory_iterator(dir_.path())) {
    fs::permissions(f.path(), fs::perms::others_read | fs::perms::group_read,
                    fs::perm_options::add);
  }
  {
    testing::Mosquitto m(0, "certfile " + File("server.pem") + "\nkeyfile " + File("server.key"));
    ASSERT_TRUE(m.Start());
    const std::string url = "mqtts://localhost:" + std::to_string(m.port());
    RoundTrip(Config(url), "mosq");
    const std::string why = Refusal(Config(url, "otherca"));
    EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
    TearDown();
  }
  testing::Mosquitto m(0, "certfile " + File("server.pem") + "\nkeyfile " + File("server.key") +
                              "\ncafile " + File("ca.pem") + "\nrequire_certificate true");
  ASSERT_TRUE(m.Start());
  MqttClientConfig cfg = Config("mqtts://localhost:" + std::to_string(m.port()));
  cfg.tls.cert = File("alice.pem");
  cfg.tls.key = File("alice.key");
  RoundTrip(cfg, "mutual");
  cfg.tls.cert = File("expired.pem");
  cfg.tls.key = File("expired.key");
  EXPECT_FALSE(Refusal(cfg).empty());
}

// A CA file that is not a certificate: every attempt fails, the client keeps trying, no crash.
TEST_F(ClientTls, UnusableCaFileFailsEachAttempt) {
  StartBroker();
  std::ofstream(File("junk.pem")) << "not a certificate\n";
  MqttClientConfig cfg = Config(TlsUrl());
  cfg.tls.ca = File("junk.pem");
  const std::string why = Refusal(cfg);
  EXPECT_EQ(why, std::make_error_code(std::errc::invalid_argument).message());
}

TEST(ClientTlsConfig, ProblemsAreReportedWithTheirLine) {
  MqttClientConfig cfg;
  EXPECT_EQ(LoadProblems("url: mqtts://broker:8883\ntls:\n  ca: /nonexistent/ca.pem\n"
                         "  cert: /dev/null\n  min_version: \"1.1\"\n",
                         "m.yaml", config::DescriberFor(cfg)),
            (std::vector<std::string>{
                "tls.min_version: must be 1.2 or 1.3, got `1.1` (m.yaml:5)",
                "tls.ca: cannot read /nonexistent/ca.pem: No such file or directory (m.yaml:3)",
                "tls.key: cert and key go together (m.yaml:3)"}));
  cfg = MqttClientConfig{};
  EXPECT_EQ(
      LoadProblems("url: ftp://broker\n", "m.yaml", config::DescriberFor(cfg)),
      (std::vector<std::string>{
          "url: `ftp://broker`: the scheme must be tcp, mqtt, mqtts, ssl or inproc (m.yaml:1)"}));
  cfg = MqttClientConfig{};
  EXPECT_TRUE(LoadProblems("url: ssl://broker\n", "m.yaml", config::DescriberFor(cfg)).empty());
}

}  // namespace
}  // namespace aiot::mqtt::test
