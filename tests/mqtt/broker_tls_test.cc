// The broker's TLS listeners (mqtts://) with real clients: mosquitto_pub/mosquitto_sub with
// --cafile / --cert / --key and python3-paho-mqtt (a subset of paho_scenarios.py over TLS), TLS 1.2
// and 1.3, mutual TLS (wrong CA, expired and missing client certificates refused), the client
// certificate's identity as the ACL user name, certificates reloaded without dropping connections,
// and the `broker.tls` configuration checks. Certificates are made at test time with openssl.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/config.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/pki.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::MakePki;
using aiot::test_support::RunCommand;
using aiot::test_support::TempDir;
using aiot::test_support::WaitFor;

class BrokerTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v mosquitto_sub && command -v openssl").exit_code != 0)
      AIOT_SKIP_WITHOUT_PEER("mosquitto-clients or openssl not installed");
    auto [rc, out] = MakePki(dir_.path());
    ASSERT_EQ(rc, 0) << out;
  }
  std::string File(const std::string& name) const { return dir_.File(name); }
  broker::BrokerConfig TlsConfig() const {
    broker::BrokerConfig cfg;
    cfg.tls.cert = File("server.pem");
    cfg.tls.key = File("server.key");
    return cfg;
  }
  // A broker with a plain listener (port(0)) and a TLS one (port(1)).
  void StartBroker(const broker::BrokerConfig& cfg) {
    broker_ = std::make_unique<TestBroker>(cfg, 2, std::vector<std::string>{"mqtts://127.0.0.1:0"});
    ASSERT_TRUE(broker_->ok());
    port_ = std::to_string(broker_->port(1));
  }
  // `tool` (mosquitto_pub or _sub) to the TLS listener, trusting `ca`, with `client` (a name from
  // MakePki) as its certificate if not empty.
  std::string Cmd(const std::string& tool, const std::string& args, const std::string& ca = "ca",
                  const std::string& client = "") const {
    std::string cmd =
        "timeout 60 " + tool + " -h localhost -p " + port_ + " --cafile " + File(ca + ".pem");
    if (!client.empty())
      cmd += " --cert " + File(client + ".pem") + " --key " + File(client + ".key");
    return cmd + " " + args;
  }
  void WaitSubscriptions(size_t n) {
    ASSERT_TRUE(WaitFor([&] { return broker_->broker().index().size() >= n; }))
        << "subscriber did not subscribe";
  }

  TempDir dir_{"aiot-tls"};
  std::unique_ptr<TestBroker> broker_;
  std::string port_;
};

TEST_F(BrokerTls, MosquittoQos012RoundTripV311AndV5) {
  StartBroker(TlsConfig());
  for (std::string version : {"mqttv311", "mqttv5"}) {
    Process sub(Cmd("mosquitto_sub", "-V " + version + " -t 'rt/#' -q 2 -C 3 -F '%t %q %p'"));
    WaitSubscriptions(1);
    for (int q = 0; q < 3; ++q) {
      auto [rc, out] = RunCommand(
          Cmd("mosquitto_pub", "-V " + version + " -t rt/q" + std::to_string(q) + " -q " +
                                   std::to_string(q) + " -m m" + std::to_string(q)));
      ASSERT_EQ(rc, 0) << version << ": " << out;
    }
    EXPECT_EQ(sub.Wait(), 0) << version;
    EXPECT_EQ(sub.Output(), "rt/q0 0 m0\nrt/q1 1 m1\nrt/q2 2 m2\n") << version;
    ASSERT_TRUE(WaitFor([&] { return broker_->broker().index().size() == 0; }));
  }
}

// Retained messages and a session resumed over TLS (queued QoS 1 while offline).
TEST_F(BrokerTls, MosquittoRetainedAndSessionResume) {
  StartBroker(TlsConfig());
  ASSERT_EQ(RunCommand(Cmd("mosquitto_pub", "-t ret/a -r -q 1 -m kept")).exit_code, 0);
  auto [rc, out] = RunCommand(Cmd("mosquitto_sub", "-t 'ret/#' -C 1 -F '%t %p %r'"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "ret/a kept 1\n");
  // A persistent session: subscribe, leave, messages queued, resume.
  ASSERT_EQ(
      RunCommand(Cmd("mosquitto_sub", "-V 5 -i tls-resume -c -x 300 -t sr/t -q 1 -E")).exit_code,
      0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(RunCommand(Cmd("mosquitto_pub", "-t sr/t -q 1 -m q" + std::to_string(i))).exit_code,
              0);
  }
  auto [rc2, out2] =
      RunCommand(Cmd("mosquitto_sub", "-V 5 -i tls-resume -c -x 300 -t sr/t -q 1 -C 3"));
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2, "q0\nq1\nq2\n");
}

// TLS 1.2 and 1.3 by default; with min_version 1.3 a TLS 1.2 client is refused (openssl s_client
// pinned to one version: mosquitto_pub's --tls-version is a minimum).
TEST_F(BrokerTls, TlsVersions) {
  StartBroker(TlsConfig());
  auto handshake = [&](const std::string& version) {
    return RunCommand("timeout 20 openssl s_client -connect 127.0.0.1:" + port_ + " -" + version +
                      " -CAfile " + File("ca.pem") + " -verify_return_error < /dev/null");
  };
  for (auto [flag, name] :
       {std::pair<std::string, std::string>{"tls1_2", "TLSv1.2"}, {"tls1_3", "TLSv1.3"}}) {
    auto [rc, out] = handshake(flag);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("New, " + name + ", Cipher"), std::string::npos) << out;
  }
  EXPECT_EQ(RunCommand(Cmd("mosquitto_pub", "-t v -m x")).exit_code, 0);
  broker_.reset();
  broker::BrokerConfig cfg = TlsConfig();
  cfg.tls.min_version = broker::TlsVersion::kTls13;
  StartBroker(cfg);
  EXPECT_EQ(handshake("tls1_3").exit_code, 0);
  auto [rc, out] = handshake("tls1_2");
  EXPECT_NE(rc, 0) << "a TLS 1.2 client got in with min_version 1.3: " << out;
  EXPECT_EQ(RunCommand(Cmd("mosquitto_pub", "-t v -m x")).exit_code, 0);
}

// A client that does not trust the server's CA refuses it (the listener speaks TLS, not MQTT).
TEST_F(BrokerTls, ClientWithOtherCaRefusesServer) {
  StartBroker(TlsConfig());
  EXPECT_NE(RunCommand(Cmd("mosquitto_pub", "-t x -m x", "otherca")).exit_code, 0);
  // And a plain MQTT client gets nothing from the TLS port.
  auto [rc, out] = RunCommand("timeout 20 mosquitto_pub -h 127.0.0.1 -p " + port_ + " -t x -m x");
  EXPECT_NE(rc, 0) << out;
}

// Mutual TLS with use_identity_as_username and an ACL for the certificate's CN.
class BrokerMutualTls : public BrokerTls {
 protected:
  void SetUp() override {
    BrokerTls::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::ofstream(File("acl")) << "user alice\ntopic readwrite alice/#\n"
                               << "user bob.devices\ntopic readwrite bob/#\n";
    broker::BrokerConfig cfg = TlsConfig();
    cfg.tls.ca = File("ca.pem");
    cfg.tls.require_client_cert = true;
    cfg.tls.use_identity_as_username = true;
    cfg.acl_file = File("acl");
    StartBroker(cfg);
  }
};

TEST_F(BrokerMutualTls, CertificateCnIsTheAclUserName) {
  Process sub(Cmd("mosquitto_sub", "-V 5 -t 'alice/#' -q 1 -C 2 -F '%t %p'", "ca", "alice"));
  WaitSubscriptions(1);
  // The CONNECT's user name does not matter: the certificate says alice.
  ASSERT_EQ(
      RunCommand(Cmd("mosquitto_pub", "-V 5 -t alice/a -q 1 -m one", "ca", "alice")).exit_code, 0);
  ASSERT_EQ(
      RunCommand(Cmd("mosquitto_pub", "-V 5 -u mallory -P x -t alice/b -q 1 -m two", "ca", "alice"))
          .exit_code,
      0);
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "alice/a one\nalice/b two\n");
  // Outside alice's ACL: the subscription is refused.
  auto [rc, out] = RunCommand(Cmd("mosquitto_sub", "-V 5 -t 'bob/#' -C 1 -W 5", "ca", "alice"));
  EXPECT_EQ(out, "All subscription requests were denied.\n");
}

// A certificate without a CN: its first subject alternative name is the user name.
TEST_F(BrokerMutualTls, SubjectAltNameWhenNoCn) {
  Process sub(Cmd("mosquitto_sub", "-V 5 -t 'bob/#' -q 1 -C 1 -F '%t %p'", "ca", "sanonly"));
  WaitSubscriptions(1);
  ASSERT_EQ(RunCommand(Cmd("mosquitto_pub", "-V 5 -t bob/x -q 1 -m hi", "ca", "sanonly")).exit_code,
            0);
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "bob/x hi\n");
}

TEST_F(BrokerMutualTls, WrongCaExpiredAndMissingCertificatesRefused) {
  EXPECT_EQ(RunCommand(Cmd("mosquitto_pub", "-t alice/x -m ok", "ca", "alice")).exit_code, 0);
  for (std::string client : {"mallory", "expired", ""}) {
    auto [rc, out] = RunCommand(Cmd("mosquitto_pub", "-t alice/x -m x", "ca", client));
    EXPECT_NE(rc, 0) << "client certificate `" << client << "` was accepted: " << out;
  }
  EXPECT_EQ(broker_->broker().stats().connections.load(), 0u);
}

// paho_scenarios.py over mutual TLS (paho with tls_set): a subset of PahoInterop.
TEST_F(BrokerTls, PahoScenariosOverTls) {
  if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt'").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("python3-paho-mqtt not installed");
  broker::BrokerConfig cfg = TlsConfig();
  cfg.tls.ca = File("ca.pem");
  cfg.tls.require_client_cert = true;
  cfg.receive_maximum = 3;
  StartBroker(cfg);
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  std::string script =
      (src ? std::string(src) + "/tests/mqtt" : std::string(AIOT_TEST_DIR)) + "/paho_scenarios.py";
  auto scenario = [&](const std::string& name) {
    auto [rc, out] = RunCommand(
        "AIOT_PAHO_TLS_CA=" + File("ca.pem") + " AIOT_PAHO_TLS_CERT=" + File("alice.pem") +
        " AIOT_PAHO_TLS_KEY=" + File("alice.key") + " timeout 120 /usr/bin/python3 " + script +
        " " + name + " " + port_);
    EXPECT_EQ(rc, 0) << name << ": " << out;
    return out;
  };
  EXPECT_EQ(scenario("roundtrip311"), "pr/q0 0 m0\npr/q1 1 m1\npr/q2 2 m2\n");
  EXPECT_EQ(scenario("roundtrip5"), "pr/q0 0 m0\npr/q1 1 m1\npr/q2 2 m2\n");
  EXPECT_EQ(scenario("resume5"), "session_present 1\nsr/t q0\nsr/t q1\nsr/t q2\n");
  EXPECT_EQ(scenario("will_delay"), "wd/will gone after-delay\n");
  // The DISCONNECT 0x93 reaches paho over TLS too (close_notify, then drain).
  EXPECT_EQ(scenario("server_receive_maximum_ignored"),
            "receive_maximum 3\ndisconnected 0x93\ndelivered 3\n");
}

// A connection the broker closes itself ends with the TLS close_notify after the DISCONNECT
// (Python's ssl with suppress_ragged_eofs=False: a bare TCP close is an "unexpected EOF"):
// after a protocol error, a keep-alive timeout and at shutdown.
TEST_F(BrokerTls, ServerCloseSendsCloseNotifyAfterDisconnect) {
  StartBroker(TlsConfig());
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  const std::string script = (src ? std::string(src) + "/tests/mqtt" : std::string(AIOT_TEST_DIR)) +
                             "/tls_close_notify.py";
  auto cmd = [&](const std::string& mode) {
    return "timeout 120 /usr/bin/python3 " + script + " " + mode + " " + port_ + " " +
           File("ca.pem");
  };
  auto [rc, out] = RunCommand(cmd("protocol_error"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "disconnect 0x82\nclose_notify\n");
  auto [rc2, out2] = RunCommand(cmd("keep_alive"));
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2, "disconnect 0x8d\nclose_notify\n");
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().stats().connections.load() == 0; }));
  Process client(cmd("shutdown"));
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().stats().connections.load() == 1; }));
  broker_.reset();  // the server stops: DISCONNECT 0x8B to every client
  EXPECT_EQ(client.Wait(), 0) << client.Output();
  EXPECT_EQ(client.Output(), "connected\ndisconnect 0x8b\nclose_notify\n");
}

// New certificates are used by new handshakes; established connections stay.
TEST_F(BrokerTls, ReloadKeepsConnectionsAndUsesNewCertificate) {
  StartBroker(TlsConfig());
  Process sub(Cmd("mosquitto_sub", "-t reload/t -C 1"));
  WaitSubscriptions(1);
  // A broken key: the reload fails, naming the file, and the old certificate stays.
  std::filesystem::copy_file(File("server.key"), File("server.key.good"));
  std::ofstream(File("server.key"), std::ios::trunc) << "not a key\n";
  Status bad = broker_->server().ReloadTls();
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(File("server.key")), std::string::npos) << bad.message();
  EXPECT_EQ(RunCommand(Cmd("mosquitto_pub", "-t other -m x")).exit_code, 0);
  // The new server certificate, signed by otherca.
  using std::filesystem::copy_options;
  std::filesystem::copy_file(File("server2.pem"), File("server.pem"),
                             copy_options::overwrite_existing);
  std::filesystem::copy_file(File("server2.key"), File("server.key"),
                             copy_options::overwrite_existing);
  Status s = broker_->server().ReloadTls();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_NE(RunCommand(Cmd("mosquitto_pub", "-t other -m x", "ca")).exit_code, 0)
      << "a new handshake still got the old certificate";
  auto [rc, out] = RunCommand(Cmd("mosquitto_pub", "-t reload/t -m after-reload", "otherca"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "after-reload\n");  // the subscriber's connection survived
}

// `broker.tls` and TLS listeners are checked when the configuration is loaded, with file:line.
TEST(BrokerTlsConfig, ProblemsNamedWithFileAndLine) {
  broker::BrokerConfig cfg;
  auto describe = [&](config::Visitor& v) { config::Section(v, "broker", cfg, "broker"); };
  try {
    config::LoadYaml(
        "broker:\n"
        "  listeners: [\"mqtts://0.0.0.0:8883\", \"ftp://0.0.0.0:21\"]\n"
        "  tls:\n"
        "    key: /nonexistent/server.key\n"
        "    use_identity_as_username: true\n",
        "aiot.yaml", describe);
    ADD_FAILURE() << "loaded";
  } catch (const config::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("broker.listeners: listener `ftp://0.0.0.0:21`: unknown scheme"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("`mqtts://0.0.0.0:8883` needs tls.cert and tls.key (aiot.yaml:2)"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("broker.tls.key: cannot read /nonexistent/server.key: No such file or "
                        "directory (aiot.yaml:4)"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("broker.tls.use_identity_as_username: needs require_client_cert: true "
                        "(aiot.yaml:5)"),
              std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace aiot::mqtt::test
