// MQTT over WebSocket: MQTT.js (npm `mqtt`, installed in tests/mqtt/ws by scripts/setup.sh
// --test) in Node and in Chromium (playwright-core) publishes and subscribes through the broker's
// ws:// and wss:// listeners, MQTT 3.1.1 and 5.0; the subprotocol answered is "mqtt". Certificates
// are made with openssl at test time.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/mqtt/test_broker.h"
#include "tests/support/pki.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::MakePki;
using aiot::test_support::RunCommand;
using aiot::test_support::TempDir;

std::string WsDir() {
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  return (src ? std::string(src) + "/tests/mqtt" : std::string(AIOT_TEST_DIR)) + "/ws";
}

class BrokerWebSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v node && command -v openssl && test -d " + WsDir() +
                   "/node_modules/mqtt")
            .exit_code != 0) {
      AIOT_SKIP_WITHOUT_PEER(
          "node, openssl or tests/mqtt/ws/node_modules (scripts/setup.sh --test)");
    }
    auto [rc, out] = MakePki(dir_.path());
    ASSERT_EQ(rc, 0) << out;
    broker::BrokerConfig cfg;
    cfg.tls.cert = dir_.File("server.pem");
    cfg.tls.key = dir_.File("server.key");
    broker_ = std::make_unique<TestBroker>(
        cfg, 2, std::vector<std::string>{"ws://127.0.0.1:0", "wss://127.0.0.1:0"});
    ASSERT_TRUE(broker_->ok());
  }
  std::string PubSub(const std::string& url, int version, bool tls) {
    auto [rc, out] = RunCommand("cd " + WsDir() + " && timeout 60 node pubsub.mjs " + url + " " +
                                std::to_string(version) + (tls ? " " + dir_.File("ca.pem") : ""));
    EXPECT_EQ(rc, 0) << out;
    return out;
  }

  TempDir dir_{"aiot-ws"};
  std::unique_ptr<TestBroker> broker_;
};

TEST_F(BrokerWebSocket, MqttJsPublishSubscribeOverWs) {
  std::string url = "ws://127.0.0.1:" + std::to_string(broker_->port(1)) + "/mqtt";
  for (int version : {4, 5}) {
    EXPECT_EQ(PubSub(url, version, false), "ws/q0 0 m0\nws/q1 1 m1\nws/q2 2 m2\n") << version;
  }
}

TEST_F(BrokerWebSocket, MqttJsPublishSubscribeOverWss) {
  std::string url = "wss://localhost:" + std::to_string(broker_->port(2)) + "/mqtt";
  for (int version : {4, 5}) {
    EXPECT_EQ(PubSub(url, version, true), "ws/q0 0 m0\nws/q1 1 m1\nws/q2 2 m2\n") << version;
  }
}

// MQTT.js's browser bundle in Chromium (playwright-core), over ws:// and wss://.
TEST_F(BrokerWebSocket, MqttJsInChromium) {
  for (auto [scheme, listener] : {std::pair<std::string, size_t>{"ws", 1}, {"wss", 2}}) {
    std::string url = scheme + "://localhost:" + std::to_string(broker_->port(listener)) + "/mqtt";
    auto [rc, out] = RunCommand("cd " + WsDir() + " && timeout 120 node browser.mjs " + url + " 5");
    if (rc == 77) AIOT_SKIP_WITHOUT_PEER(out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out, "browser/q0 0 m0\nbrowser/q1 1 m1\nbrowser/q2 2 m2\n") << scheme;
  }
}

// A WebSocket client and a plain TCP client (mosquitto_pub) meet on the same broker.
TEST_F(BrokerWebSocket, TcpPublisherReachesWebSocketSubscriber) {
  if (RunCommand("command -v mosquitto_pub").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("mosquitto-clients not installed");
  std::string url = "ws://127.0.0.1:" + std::to_string(broker_->port(1));
  Process sub("cd " + WsDir() + " && timeout 60 node -e \"" +
              "const m=require('mqtt');const c=m.connect('" + url +
              "',{protocolVersion:5});c.on('connect',()=>c.subscribe('mix/t',{qos:1},()=>"
              "console.log('subscribed')));c.on('message',(t,p)=>{console.log(t,p.toString());"
              "c.end(false,()=>process.exit(0));});\"");
  ASSERT_TRUE(aiot::test_support::WaitFor([&] {
    return sub.Output().find("subscribed") != std::string::npos;
  })) << sub.Output();
  auto [rc, out] = RunCommand("timeout 60 mosquitto_pub -h 127.0.0.1 -p " +
                              std::to_string(broker_->port(0)) + " -t mix/t -q 1 -m from-tcp");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "subscribed\nmix/t from-tcp\n");
}

// The upgrade answers with the "mqtt" subprotocol [MQTT-6.0.0-3] (curl shows the handshake).
TEST_F(BrokerWebSocket, UpgradeSelectsMqttSubprotocol) {
  if (RunCommand("command -v curl").exit_code != 0) AIOT_SKIP_WITHOUT_PEER("curl not installed");
  auto [rc, out] = RunCommand(
      "curl -si --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H "
      "'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "
      "'Sec-WebSocket-Protocol: mqttv3.1, mqtt' http://127.0.0.1:" +
      std::to_string(broker_->port(1)) + "/mqtt");
  EXPECT_NE(out.find("101 Switching Protocols"), std::string::npos) << out;
  EXPECT_NE(out.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace aiot::mqtt::test
