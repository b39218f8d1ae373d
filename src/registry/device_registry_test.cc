#include "registry/device_registry.h"

#include <gtest/gtest.h>

#include "base/errc.h"
#include "tests/support/temp_dir.h"

namespace aiot::registry {
namespace {

using test_support::TempDir;

RegistryConfig DevicesConfig(const TempDir& dir) {
  RegistryConfig c;
  c.data_dir = dir.path();
  c.password_iterations = 1000;
  return c;
}

DeviceSpec Spec(std::string id, std::string site, std::string line) {
  DeviceSpec s;
  s.id = std::move(id);
  s.labels = {{"site", std::move(site)}, {"line", std::move(line)}};
  s.firmware = "1.0.0";
  return s;
}

TEST(DeviceRegistryTest, ProvisionAuthenticateActivate) {
  TempDir dir;
  DeviceRegistry reg(DevicesConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  auto c = reg.Provision(Spec("fan-0001", "north", "1"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->mqtt_username, "fan-0001");
  EXPECT_EQ(reg.Provision(Spec("fan-0001", "north", "1")).error(),
            make_error_code(aiot::errc::already_exists));
  EXPECT_EQ(reg.Provision(Spec("../x", "north", "1")).error(), make_error_code(errc::invalid_name));
  auto bad_label = reg.Provision(Spec("fan-0009", "no rth", "1"));
  EXPECT_EQ(bad_label.error(), make_error_code(errc::invalid_label));
  EXPECT_NE(bad_label.status().message().find("label value `no rth`"), std::string::npos)
      << bad_label.status().message();

  EXPECT_EQ(*reg.AuthenticateToken(c->token), "fan-0001");
  EXPECT_EQ(reg.AuthenticateToken("dev_wrong").error(),
            make_error_code(aiot::errc::unauthenticated));
  EXPECT_TRUE(reg.CheckMqttCredentials("fan-0001", c->mqtt_password));
  EXPECT_FALSE(reg.CheckMqttCredentials("fan-0001", c->mqtt_password + "x"));
  EXPECT_FALSE(reg.CheckMqttCredentials("fan-0002", c->mqtt_password));

  EXPECT_EQ(reg.Get("fan-0001")->state, DeviceState::kProvisioned);
  EXPECT_EQ(reg.Activate("fan-0001", "dev_wrong").error(),
            make_error_code(aiot::errc::unauthenticated));
  auto d = reg.Activate("fan-0001", c->token);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, DeviceState::kActive);
  EXPECT_GT(d->activated_at, 0);

  ASSERT_TRUE(reg.Decommission("fan-0001").ok());
  EXPECT_EQ(reg.AuthenticateToken(c->token).error(), make_error_code(aiot::errc::unauthenticated));
  EXPECT_FALSE(reg.CheckMqttCredentials("fan-0001", c->mqtt_password));
  EXPECT_TRUE(reg.List()->empty());
  EXPECT_EQ(reg.List({}, true)->size(), 1u);
}

TEST(DeviceRegistryTest, ListFiltersByLabels) {
  TempDir dir;
  DeviceRegistry reg(DevicesConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  ASSERT_TRUE(reg.Provision(Spec("a", "north", "1")).ok());
  ASSERT_TRUE(reg.Provision(Spec("b", "north", "2")).ok());
  ASSERT_TRUE(reg.Provision(Spec("c", "south", "1")).ok());
  std::map<std::string, std::string> sel;
  ASSERT_TRUE(DeviceRegistry::ParseLabelSelector("site:north", &sel));
  auto north = reg.List(sel);
  ASSERT_EQ(north->size(), 2u);
  EXPECT_EQ((*north)[0].spec.id, "a");
  EXPECT_EQ((*north)[1].spec.labels.at("line"), "2");
  sel.clear();
  ASSERT_TRUE(DeviceRegistry::ParseLabelSelector("site:north,line=1", &sel));
  EXPECT_EQ(reg.List(sel)->size(), 1u);
  sel.clear();
  ASSERT_TRUE(DeviceRegistry::ParseLabelSelector("site:west", &sel));
  EXPECT_TRUE(reg.List(sel)->empty());
  EXPECT_FALSE(DeviceRegistry::ParseLabelSelector("site", &sel));
  EXPECT_FALSE(DeviceRegistry::ParseLabelSelector("si'te:x", &sel));
  Status bad = DeviceRegistry::ParseLabelSelector("site", &sel);
  EXPECT_EQ(bad.code(), make_error_code(errc::invalid_label));
  EXPECT_NE(bad.message().find("`site` is not key:value"), std::string::npos) << bad.message();
}

TEST(DeviceRegistryTest, StatusUpdatesReportedModel) {
  TempDir dir;
  DeviceRegistry reg(DevicesConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  ASSERT_TRUE(reg.Provision(Spec("a", "north", "1")).ok());
  ASSERT_TRUE(reg.SetDesiredModel("a", "fan-mlp@3").ok());
  ASSERT_TRUE(reg.RecordStatus("a", R"({"online":true,"model":"fan-mlp@2"})").ok());
  auto d = reg.Get("a");
  EXPECT_TRUE(d->online);
  EXPECT_EQ(d->reported_model, "fan-mlp@2");
  EXPECT_EQ(d->desired_model, "fan-mlp@3");
  EXPECT_GT(d->last_seen, 0);
  ASSERT_TRUE(reg.RecordStatus("a", R"({"online":false})").ok());
  d = reg.Get("a");
  EXPECT_FALSE(d->online);
  EXPECT_EQ(d->reported_model, "fan-mlp@2");
  EXPECT_EQ(reg.RecordStatus("zzz", R"({"online":true})").error(),
            make_error_code(aiot::errc::not_found));
  EXPECT_EQ(reg.RecordStatus("a", "not json").code(), make_error_code(errc::invalid_status));
  Status unknown = reg.RecordStatus("nobody", R"({"online":true})");
  EXPECT_EQ(unknown.code(), make_error_code(aiot::errc::not_found));
  EXPECT_NE(unknown.message().find("nobody"), std::string::npos) << unknown.message();
}

}  // namespace
}  // namespace aiot::registry
