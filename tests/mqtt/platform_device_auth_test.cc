// `aiot up`'s composition (app::Platform, in process) with a TCP listener: a device provisioned
// through the registry's HTTP API logs in to the embedded broker with its MQTT credentials
// (mosquitto_pub, 3.1.1 and 5.0); a wrong password, an unknown device and a decommissioned device
// are refused with Bad User Name or Password; anonymous clients on loopback still get in.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tests/support/run.h"
#include "tests/support/testing.h"

#include <nlohmann/json.hpp>

#include "app/platform.h"
#include "net/http_client.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/temp_dir.h"

namespace aiot::mqtt::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdmin = "device-auth-admin-token-0123456";

using aiot::test_support::FreePort;
using aiot::test_support::RunCommand;

TEST(PlatformDeviceAuth, ProvisionedDeviceLogsInWrongPasswordRefused) {
  if (RunCommand("command -v mosquitto_pub").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("mosquitto-clients not installed");
  test_support::TempDir dir;
  int port = FreePort();
  app::AppConfig c;
  c.http.listen = "127.0.0.1:0";
  c.http.auth_tokens = {{"alice", kAdmin}};
  c.http.auth_roles = {{"alice", "admin"}};
  c.broker.listeners = {"127.0.0.1:" + std::to_string(port)};
  c.registry.data_dir = dir.path() + "/var";
  c.registry.password_iterations = 1000;
  c.store.path = dir.path() + "/telemetry.db";
  c.bootstrap.enabled = false;
  c.dashboard.enabled = false;
  c.threads = 2;
  app::Platform platform(c, {});
  ASSERT_TRUE(platform.Start().ok());

  net::HttpClient http("http://127.0.0.1:" + std::to_string(platform.http_port()), kAdmin);
  auto r = http.Call("POST", "/api/v1/devices", R"({"id":"fan-42","type":"fan"})", {},
                     "application/json");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  Json creds = Json::parse(r->body);
  std::string user = creds.at("mqtt_username");
  std::string password = creds.at("mqtt_password");
  ASSERT_EQ(user, "fan-42");
  ASSERT_FALSE(password.empty());

  auto pub = [&](const std::string& args) {
    return RunCommand("timeout 60 mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) + " " +
                      args + " -t test/device-auth -m hi");
  };
  auto ok5 = pub("-V mqttv5 -i fan-42 -u " + user + " -P '" + password + "'");
  EXPECT_EQ(ok5.exit_code, 0) << ok5.output;
  auto ok3 = pub("-V mqttv311 -i fan-42 -u " + user + " -P '" + password + "'");
  EXPECT_EQ(ok3.exit_code, 0) << ok3.output;
  EXPECT_EQ(pub("-V mqttv5 -u " + user + " -P wrong-password").exit_code, 0x86);
  EXPECT_EQ(pub("-V mqttv311 -u " + user + " -P wrong-password").exit_code, 4);
  EXPECT_EQ(pub("-V mqttv5 -u fan-43 -P '" + password + "'").exit_code, 0x86);
  EXPECT_EQ(pub("-V mqttv5").exit_code, 0);  // anonymous on a loopback listener (local_only)

  auto del = http.Call("DELETE", "/api/v1/devices/fan-42", {}, {}, "application/json");
  ASSERT_TRUE(del.ok());
  ASSERT_LT(del->status, 300) << del->body;
  EXPECT_EQ(pub("-V mqttv5 -u " + user + " -P '" + password + "'").exit_code, 0x86);
  platform.Stop();
}

}  // namespace
}  // namespace aiot::mqtt::test
