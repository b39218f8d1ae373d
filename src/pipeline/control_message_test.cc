#include "pipeline/control_message.h"

#include <gtest/gtest.h>

#include <string>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

using Command = ControlMessage::Command;

TEST(ControlMessageTest, TrainModelWithParamsAtTheTopOrInPayload) {
  auto m = ParseControlMessage(
      R"({"command":"train-model","model":"fan-mlp","params":{"recipe":"fast","min_rows":500,)"
      R"("force":true,"margin":0.5},"id":"req-1"})",
      65536);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->command, Command::kTrainModel);
  EXPECT_EQ(m->request.model, "fan-mlp");
  EXPECT_EQ(m->request.request_id, "req-1");
  EXPECT_EQ(m->request.params.at("recipe"), "fast");
  EXPECT_EQ(m->request.params.at("min_rows"), "500");
  EXPECT_EQ(m->request.params.at("force"), "true");
  EXPECT_EQ(m->request.params.at("margin"), "0.5");

  auto p = ParseControlMessage(
      R"({"command":"extract-data","id":"x","payload":{"params":{"window":"1d"}}})", 65536);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->command, Command::kExtractData);
  EXPECT_EQ(p->request.model, "");
  EXPECT_EQ(p->request.params.at("window"), "1d");
  EXPECT_EQ(p->request.request_id, "x");
}

TEST(ControlMessageTest, DeviceCommandsAreRecognisedAndLeftAlone) {
  auto m =
      ParseControlMessage(R"({"command":"download-model","payload":{"name":"m","url":5}})", 65536);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->command, Command::kDeviceCommand);
  EXPECT_EQ(m->name, "download-model");
}

TEST(ControlMessageTest, MalformedMessagesAreRefusedWithAReasonAndALabel) {
  struct Case {
    std::string payload;
    std::string label;
    std::string reason_has;
  };
  const Case cases[] = {
      {"{\"command\":", "malformed", "not valid JSON"},
      {"[1,2]", "malformed", "not a JSON object"},
      {R"({"cmd":"train-model"})", "malformed", "no `command`"},
      {R"({"command":7})", "malformed", "no `command`"},
      {R"({"command":"format-disk"})", "unknown_command", "unknown command `format-disk`"},
      {R"({"command":"train-model","model":5})", "bad_field", "`model`"},
      {R"({"command":"train-model","model":"a b"})", "bad_field", "`model`"},
      {R"({"command":"train-model","params":[1]})", "bad_field", "`params` must be an object"},
      {R"({"command":"train-model","params":{"seed":[1]}})", "bad_field", "params.seed"},
      {R"({"command":"train-model","params":{"seed":null}})", "bad_field", "params.seed"},
      {R"({"command":"train-model","params":{"Bad Name":1}})", "bad_field", "is not a name"},
      {R"({"command":"train-model","extra":1})", "bad_field", "unknown member `extra`"},
      {R"({"command":"train-model","payload":"x"})", "bad_field", "`payload` must be an object"},
      {R"({"command":"train-model","payload":{"extra":1}})", "bad_field", "unknown member"},
      {R"({"command":"train-model","model":"a","payload":{"model":"b"}})", "bad_field", "not both"},
      {R"({"command":"train-model","id":7})", "bad_field", "`id`"},
  };
  for (const Case& c : cases) {
    auto m = ParseControlMessage(c.payload, 65536);
    ASSERT_FALSE(m.ok()) << c.payload;
    EXPECT_EQ(ControlRejectLabel(m.status()), c.label) << c.payload;
    EXPECT_NE(m.status().message().find(c.reason_has), std::string::npos)
        << c.payload << " -> " << m.status().message();
  }
}

TEST(ControlMessageTest, LimitsHold) {
  const std::string big = R"({"command":"train-model","id":")" + std::string(70000, 'x') + "\"}";
  auto m = ParseControlMessage(big, 65536);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(ControlRejectLabel(m.status()), "oversized");

  std::string many = R"({"command":"train-model","params":{)";
  for (int i = 0; i < 65; ++i)
    many += (i ? "," : "") + std::string("\"p") + std::to_string(i) + "\":1";
  many += "}}";
  m = ParseControlMessage(many, 65536);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("at most 64"), std::string::npos);

  const std::string long_value =
      R"({"command":"train-model","params":{"recipe":")" + std::string(1025, 'a') + "\"}}";
  m = ParseControlMessage(long_value, 65536);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("longer than 1024"), std::string::npos);

  // Deep nesting inside the size limit neither crashes nor is accepted.
  const std::string deep =
      R"({"command":"train-model","params":{"a":)" + std::string(20000, '[') + "}}";
  EXPECT_FALSE(ParseControlMessage(deep, 65536).ok());
}

TEST(ControlMessageTest, HttpBodiesAreStrict) {
  auto r = ParseRunRequest(nlohmann::json::parse(R"({"params":{"recipe":"fast"}})"), true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.at("recipe"), "fast");
  EXPECT_FALSE(ParseRunRequest(nlohmann::json::parse(R"({"command":"train-model"})"), true).ok());
  EXPECT_FALSE(ParseRunRequest(nlohmann::json::parse("[]"), true).ok());
  EXPECT_TRUE(ParseRunRequest(nlohmann::json::object(), true).ok());
}

}  // namespace
}  // namespace aiot::pipeline
