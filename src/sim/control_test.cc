#include "sim/control.h"

#include <gtest/gtest.h>

namespace aiot::sim {
namespace {

TEST(Control, ParsesTheOtaDownloadCommand) {
  auto c = ParseControlCommand(
      R"({"command":"download-model","payload":{"name":"fan-mlp","version":3,"url":"http://h/a",)"
      R"("sha256":"ab","signature":"c2ln","size":1234,"rollout":"r-1"}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, ControlCommand::Kind::kDownloadModel);
  EXPECT_EQ(c->model_name, "fan-mlp");
  EXPECT_EQ(c->version, 3);
  EXPECT_EQ(c->url, "http://h/a");
  EXPECT_EQ(c->size, 1234);
  EXPECT_EQ(c->rollout, "r-1");
}

TEST(Control, ActuatorLoadOrServoAngle) {
  EXPECT_DOUBLE_EQ(
      ParseControlCommand(R"({"command":"set-actuator","payload":{"load":0.4}})")->load, 0.4);
  EXPECT_DOUBLE_EQ(
      ParseControlCommand(R"({"command":"set-actuator","payload":{"angle":90}})")->load, 0.5);
  EXPECT_DOUBLE_EQ(ParseControlCommand(R"({"command":"set-actuator"})")->load, -1);
}

TEST(Control, WrongTypesAreIgnoredNotFatal) {
  auto c = ParseControlCommand(
      R"({"command":"download-model","payload":{"name":5,"version":"3","size":-2.5,"url":[1]}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->model_name, "");
  EXPECT_EQ(c->version, 0);
  EXPECT_EQ(c->size, -1);
  EXPECT_EQ(c->url, "");
  EXPECT_EQ(ParseControlCommand(R"({"command":"fly","payload":7})")->kind,
            ControlCommand::Kind::kUnknown);
}

TEST(Control, RejectsNonCommands) {
  for (const char* bad : {"", "not json", "[]", "{}", R"({"command":3})", "{\"command\":\"x\""}) {
    EXPECT_FALSE(ParseControlCommand(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseControlCommand("[]").status().message(), "control message is not a JSON object");
  EXPECT_EQ(ParseControlCommand(R"({"command":3})").status().message(),
            "control message has no \"command\" string");
}

TEST(Control, MistypedFieldsReadAsAbsent) {
  auto c = ParseControlCommand(
      R"({"command":"download-model","payload":{"name":5,"version":"3","size":1e300,"load":"x"}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->model_name, "");
  EXPECT_EQ(c->version, 0);
  EXPECT_EQ(c->size, -1);
  EXPECT_EQ(c->load, -1);
}

}  // namespace
}  // namespace aiot::sim
