#include "registry/device_status.h"

#include <gtest/gtest.h>

#include "registry/errc.h"

namespace aiot::registry {
namespace {

TEST(DeviceStatusTest, ParsesOtaReport) {
  auto s = ParseDeviceStatus(
      R"({"online":true,"model":"fan-mlp@3","ota":{"rollout":"r-1","state":"failed","version":3,"error":"signature"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->online);
  EXPECT_EQ(s->model, "fan-mlp@3");
  EXPECT_EQ(s->ota_rollout, "r-1");
  EXPECT_EQ(s->ota_state, "failed");
  EXPECT_EQ(s->ota_version, 3);
  EXPECT_EQ(s->ota_error, "signature");
  EXPECT_FALSE(ParseDeviceStatus("[]").ok());
  EXPECT_FALSE(ParseDeviceStatus(R"({"online":"yes"})").ok());
  EXPECT_FALSE(ParseDeviceStatus(R"({"ota":5})").ok());
  EXPECT_FALSE(ParseDeviceStatus("{").ok());
  // The message names the field and the code the cause.
  auto bad = ParseDeviceStatus(R"({"online":"yes"})");
  EXPECT_EQ(bad.error(), make_error_code(errc::invalid_status));
  EXPECT_NE(bad.status().message().find("online"), std::string::npos) << bad.status().message();
}

TEST(DeviceStatusTest, SplitsModelRef) {
  std::string name;
  int64_t v = 0;
  ASSERT_TRUE(SplitModelRef("fan-mlp@12", &name, &v));
  EXPECT_EQ(name, "fan-mlp");
  EXPECT_EQ(v, 12);
  EXPECT_FALSE(SplitModelRef("fan-mlp", &name, &v));
  EXPECT_FALSE(SplitModelRef("@1", &name, &v));
  EXPECT_FALSE(SplitModelRef("a@", &name, &v));
  EXPECT_FALSE(SplitModelRef("a@1x", &name, &v));
}

}  // namespace
}  // namespace aiot::registry
