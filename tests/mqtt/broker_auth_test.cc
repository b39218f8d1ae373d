// Broker authentication (password_file written by Debian's mosquitto_passwd, an external
// authenticator) and authorization (acl_file) with real clients: mosquitto_pub / mosquitto_sub,
// python3-paho-mqtt (3.1.1 and 5.0), and raw packets where the exact reason codes matter.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/run.h"
#include "tests/support/testing.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "base/metrics.h"
#include "tests/mqtt/raw_client.h"
#include "tests/mqtt/test_broker.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::RunCommand;
using aiot::test_support::WaitFor;

namespace fs = std::filesystem;

constexpr const char* kAcl = R"(# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret/#

user bob
topic write shared/#
topic write alice/inbox

pattern readwrite devices/%c/#
pattern read users/%u/inbox
)";

fs::path MakeTempDir(const char* tag) {
  fs::path dir = fs::temp_directory_path() /
                 (std::string("aiot_") + tag + "_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

broker::BrokerConfig AuthConfig(const fs::path& dir, const std::string& allow_anonymous) {
  broker::BrokerConfig cfg;
  cfg.password_file = (dir / "passwd").string();
  cfg.acl_file = (dir / "acl").string();
  cfg.allow_anonymous = allow_anonymous;
  return cfg;
}

// Writes passwd (alice / bob, by mosquitto_passwd) and acl into `dir`.
bool WriteAuthFiles(const fs::path& dir) {
  std::string pw = (dir / "passwd").string();
  std::string cmd = "mosquitto_passwd -c -b " + pw + " alice 's3cret' && mosquitto_passwd -b " +
                    pw + " bob hunter2";
  if (RunCommand(cmd).exit_code != 0) return false;
  std::ofstream(dir / "acl") << kAcl;
  return true;
}

double Counter(metrics::Registry& r, const std::string& series) {
  std::string text = metrics::SerializeText(r);
  size_t p = text.find(series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(text.substr(p + series.size() + 1));
}

class BrokerAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v mosquitto_passwd && command -v mosquitto_pub").exit_code != 0)
      AIOT_SKIP_WITHOUT_PEER("mosquitto / mosquitto-clients not installed");
    dir_ = MakeTempDir("broker_auth");
    ASSERT_TRUE(WriteAuthFiles(dir_));
  }
  void TearDown() override {
    broker_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void StartBroker(const std::string& allow_anonymous) {
    broker_ = std::make_unique<TestBroker>(AuthConfig(dir_, allow_anonymous));
    ASSERT_TRUE(broker_->ok());
    port_ = std::to_string(broker_->port());
  }
  std::string Pub(const std::string& args) {
    return "timeout 60 mosquitto_pub -h 127.0.0.1 -p " + port_ + " " + args;
  }
  std::string Sub(const std::string& args) {
    return "timeout 60 mosquitto_sub -h 127.0.0.1 -p " + port_ + " " + args;
  }
  test_support::RunResult Paho(const std::string& args) {
    return RunCommand("timeout 60 /usr/bin/python3 " AIOT_TEST_DIR "/paho_auth.py " + port_ + " " +
                      args);
  }
  std::unique_ptr<RawClient> Raw(uint8_t version, const std::string& id, const char* user,
                                 const char* password, ReasonCode expect = ReasonCode::kSuccess) {
    auto c = std::make_unique<RawClient>(broker_->port(), version);
    Connect conn;
    conn.client_id = id;
    if (user != nullptr) conn.username = user;
    if (password != nullptr) conn.password = password;
    auto ack = c->Connect(conn);
    EXPECT_TRUE(ack.has_value());
    if (ack) {
      EXPECT_EQ(ack->reason_code, expect) << id;
    }
    return c;
  }
  double Rejected(const std::string& reason) {
    return Counter(broker_->registry(),
                   "aiot_mqtt_broker_connections_rejected_total{reason=\"" + reason + "\"}");
  }

  fs::path dir_;
  std::unique_ptr<TestBroker> broker_;
  std::string port_;
};

// mosquitto_pub exits with the CONNACK code it was refused with.
TEST_F(BrokerAuth, MosquittoPubRightAndWrongPasswords) {
  StartBroker("false");
  for (const char* v : {"mqttv311", "mqttv5"}) {
    bool v5 = std::string(v) == "mqttv5";
    SCOPED_TRACE(v);
    auto ok = RunCommand(Pub(std::string("-V ") + v + " -u alice -P s3cret -t alice/x -m hi"));
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    auto bad = RunCommand(Pub(std::string("-V ") + v + " -u alice -P s3creT -t alice/x -m hi"));
    EXPECT_EQ(bad.exit_code, v5 ? 0x86 : 4) << bad.output;  // Bad User Name or Password
    auto unknown = RunCommand(Pub(std::string("-V ") + v + " -u carol -P s3cret -t a -m hi"));
    EXPECT_EQ(unknown.exit_code, v5 ? 0x86 : 4) << unknown.output;
    auto anon = RunCommand(Pub(std::string("-V ") + v + " -t public/x -m hi"));
    EXPECT_EQ(anon.exit_code, v5 ? 0x87 : 5) << anon.output;  // Not Authorized
  }
  EXPECT_EQ(Rejected("bad_credentials"), 4);
  EXPECT_EQ(Rejected("not_authorized"), 2);
}

// Default allow_anonymous (local_only) with a password file: anonymous clients still get in on a
// loopback listener, clients with a user name must get the password right.
TEST_F(BrokerAuth, LocalOnlyAnonymousWithPasswordFile) {
  StartBroker("local_only");
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -t public/x -m hi")).exit_code, 0);
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u bob -P hunter2 -t shared/x -m hi")).exit_code, 0);
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u bob -P hunter3 -t shared/x -m hi")).exit_code, 0x86);
}

TEST_F(BrokerAuth, PahoV311AndV5Connack) {
  StartBroker("false");
  if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt.client'").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("python3-paho-mqtt not installed");
  for (int v : {4, 5}) {
    SCOPED_TRACE(v);
    std::string ver = std::to_string(v) + " paho-" + std::to_string(v);
    auto ok = Paho(ver + " bob hunter2");
    EXPECT_EQ(ok.output, "connack 0\n");
    auto bad = Paho(ver + " bob hunter");
    EXPECT_EQ(bad.output, v == 5 ? "connack 134\n" : "connack 4\n");
    auto nopw = Paho(ver + " bob -");
    EXPECT_EQ(nopw.output, v == 5 ? "connack 134\n" : "connack 4\n");
    auto anon = Paho(ver + " - -");
    EXPECT_EQ(anon.output, v == 5 ? "connack 135\n" : "connack 5\n");
  }
}

// Paho subscribing: granted filters get their QoS, refused ones 0x87 (v5) / 0x80 (3.1.1).
TEST_F(BrokerAuth, PahoSubscribeDenied) {
  StartBroker("false");
  if (RunCommand("/usr/bin/python3 -c 'import paho.mqtt.client'").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("python3-paho-mqtt not installed");
  auto v5 = Paho("5 fan-3 alice s3cret shared/# shared/secret/x bob/# devices/fan-3/+ '#'");
  EXPECT_EQ(v5.output, "connack 0\nsuback 1 135 135 1 135\n");
  auto v3 = Paho("4 fan-3 alice s3cret shared/+ users/alice/inbox users/bob/inbox");
  EXPECT_EQ(v3.output, "connack 0\nsuback 1 1 128\n");
}

// Deliveries the subscriber may not read are not sent; publishes the publisher may not write are
// not routed. mosquitto_sub prints what arrives, in order.
TEST_F(BrokerAuth, MosquittoDeliveriesFilteredByAcl) {
  StartBroker("false");
  Process sub(Sub("-V mqttv5 -u alice -P s3cret -t 'shared/#' -t 'alice/#' -q 1 -C 2 -F '%t %p'"));
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().index().size() >= 2; }));
  // Denied for alice to read (deny rule inside her shared/# grant).
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u bob -P hunter2 -q 1 -t shared/secret/k -m no")).exit_code,
            0);
  // Bob may not write there (3.1.1: dropped silently, PUBACK as usual).
  EXPECT_EQ(RunCommand(Pub("-V mqttv311 -u bob -P hunter2 -q 1 -t alice/x -m no")).exit_code, 0);
  // v5: the publisher learns about it.
  auto denied = RunCommand(Pub("-V mqttv5 -u bob -P hunter2 -q 1 -t alice/x -m no"));
  EXPECT_NE(denied.output.find("Not authorized"), std::string::npos) << denied.output;
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u bob -P hunter2 -q 1 -t shared/a -m yes1")).exit_code, 0);
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u bob -P hunter2 -q 1 -t alice/inbox -m yes2")).exit_code,
            0);
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "shared/a yes1\nalice/inbox yes2\n");
}

// Exact reason codes: v5 PUBACK / PUBREC 0x87, SUBACK 0x87; 3.1.1 SUBACK 0x80 and a silent
// drop; %c / %u patterns.
TEST_F(BrokerAuth, AclReasonCodesAndPatterns) {
  StartBroker("false");
  auto alice = Raw(kMqtt5, "fan-9", "alice", "s3cret");
  auto s = alice->Subscribe(1, "devices/fan-9/#", 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason_codes, std::vector<ReasonCode>{ReasonCode::kGrantedQos1});
  s = alice->Subscribe(2, "devices/fan-8/#", 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason_codes, std::vector<ReasonCode>{ReasonCode::kNotAuthorized});
  s = alice->Subscribe(3, "$share/g/users/alice/inbox", 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason_codes, std::vector<ReasonCode>{ReasonCode::kGrantedQos1});

  alice->Publish("bob/x", "no", 1, 10);
  auto ack = alice->Expect<Puback>();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reason_code, ReasonCode::kNotAuthorized);
  alice->Publish("bob/x", "no", 2, 11);
  auto rec = alice->Expect<Pubrec>();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->reason_code, ReasonCode::kNotAuthorized);
  // Its own device topic (%c): allowed, and delivered back to it.
  alice->Publish("devices/fan-9/t", "yes", 1, 12);
  bool got_ack = false, got_msg = false;
  for (int i = 0; i < 2; ++i) {
    auto p = alice->Receive();
    ASSERT_TRUE(p);
    if (auto* a = std::get_if<Puback>(&*p)) {
      got_ack = a->packet_id == 12 && a->reason_code == ReasonCode::kSuccess;
    } else if (auto* m = std::get_if<Publish>(&*p)) {
      got_msg = m->topic == "devices/fan-9/t" && m->payload.view() == "yes";
    }
  }
  EXPECT_TRUE(got_ack);
  EXPECT_TRUE(got_msg);

  auto bob3 = Raw(kMqtt311, "b3", "bob", "hunter2");
  s = bob3->Subscribe(1, "shared/#", 0);  // write-only for bob
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason_codes, std::vector<ReasonCode>{ReasonCode::kUnspecifiedError});
  s = bob3->Subscribe(2, "users/bob/inbox", 0);  // %u
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason_codes, std::vector<ReasonCode>{kGrantedQos0});
  bob3->Publish("bob/x", "no", 1, 5);  // 3.1.1: PUBACK, not routed
  auto ack3 = bob3->Expect<Puback>();
  ASSERT_TRUE(ack3);
  EXPECT_EQ(ack3->packet_id, 5);

  // A will on a topic the client may not write is refused at CONNECT.
  RawClient willful(broker_->port(), kMqtt5);
  Connect c;
  c.client_id = "w";
  c.username = "bob";
  c.password = "hunter2";
  c.will = Will{};
  c.will->topic = "alice/x";
  c.will->payload = std::string("bye");
  auto wack = willful.Connect(c);
  ASSERT_TRUE(wack);
  EXPECT_EQ(wack->reason_code, ReasonCode::kNotAuthorized);
}

// The password file is re-read on LoadAuth (what `aiot broker` does on SIGHUP); a broken file
// keeps the previous policy.
TEST_F(BrokerAuth, ReloadPicksUpNewUsers) {
  StartBroker("false");
  Raw(kMqtt5, "c1", "carol", "pw", ReasonCode::kBadUserNameOrPassword);
  ASSERT_EQ(RunCommand("mosquitto_passwd -b " + (dir_ / "passwd").string() + " carol pw").exit_code,
            0);
  ASSERT_TRUE(broker_->broker().LoadAuth().ok());
  Raw(kMqtt5, "c2", "carol", "pw");
  std::ofstream(dir_ / "passwd", std::ios::app) << "garbage line\n";
  EXPECT_FALSE(broker_->broker().LoadAuth().ok());
  Raw(kMqtt5, "c3", "carol", "pw");
}

// An external authenticator (what `aiot up` plugs the device registry into) for users the
// password file does not know; it sees the listener address.
TEST_F(BrokerAuth, ExternalAuthenticator) {
  broker::BrokerConfig cfg = AuthConfig(dir_, "false");
  cfg.acl_file.clear();
  broker_ = std::make_unique<TestBroker>(cfg);
  ASSERT_TRUE(broker_->ok());
  port_ = std::to_string(broker_->port());
  std::string want_listener = "127.0.0.1:" + port_;
  broker_->broker().SetAuthenticator([want_listener](const broker::AuthRequest& r) {
    if (*r.username != "dev-1") return broker::AuthResult::kUnknownUser;
    if (r.listener != want_listener) return broker::AuthResult::kNotAuthorized;
    return r.password == "devpw" ? broker::AuthResult::kAllow : broker::AuthResult::kBadCredentials;
  });
  ASSERT_TRUE(broker_->broker().LoadAuth().ok());
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u dev-1 -P devpw -t t -m hi")).exit_code, 0);
  EXPECT_EQ(RunCommand(Pub("-V mqttv311 -u dev-1 -P nope -t t -m hi")).exit_code, 4);
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u alice -P s3cret -t t -m hi")).exit_code, 0);
  EXPECT_EQ(RunCommand(Pub("-V mqttv5 -u mallory -P x -t t -m hi")).exit_code, 0x86);
}

TEST(BrokerAuthConfig, MissingPasswordFileFailsStart) {
  broker::BrokerConfig cfg;
  cfg.password_file = "/nonexistent/aiot/passwd";
  TestBroker b(cfg);
  EXPECT_FALSE(b.ok());
}

}  // namespace
}  // namespace aiot::mqtt::test
