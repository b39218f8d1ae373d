#include "services/messages.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

namespace aiot::services {
namespace {

using nlohmann::json;

TEST(MessagesTest, AnomalyIsTheDocumentedShape) {
  std::string out;
  AppendAnomaly(out, "fan-\"1\"", "2026-11-22T10:00:00.123Z", 1, 0.97123f, Level::kCritical,
                "fan-mlp@3");
  json j = json::parse(out);
  EXPECT_EQ(j["deviceID"], "fan-\"1\"");
  EXPECT_EQ(j["timeStamp"], "2026-11-22T10:00:00.123Z");
  EXPECT_EQ(j["fault"], 1);
  EXPECT_NEAR(j["score"].get<double>(), 0.9712, 1e-9);
  EXPECT_EQ(j["level"], "critical");
  EXPECT_EQ(j["model"], "fan-mlp@3");
}

// The score is written with a fast path for [0, 1]; it must print exactly what "{:.4f}" prints,
// ties (0.03125 -> 0.0312) and the ends included.
TEST(MessagesTest, ScoreHasFourDecimalsLikeFmt) {
  auto score_text = [](float score) {
    std::string out;
    AppendAnomaly(out, "d", "t", 0, score, Level::kOk, "m");
    const size_t at = out.find("\"score\":") + 8;
    return out.substr(at, out.find(',', at) - at);
  };
  std::vector<float> scores = {0.0f,     1.0f,  0.5f,     0.03125f, 0.00005f, 0.99995f, 0.9999f,
                               0.00015f, 1e-8f, 0.97123f, -0.0f,    1.5f,     -0.25f,   12345.678f};
  for (uint32_t bits = 0x3f800000u; bits > 0x30000000u; bits -= 9973u) {  // (0, 1] sampled
    float f;
    std::memcpy(&f, &bits, sizeof f);
    scores.push_back(f);
  }
  for (int k = 0; k <= 200000; ++k) scores.push_back(static_cast<float>(k) / 200000.0f);
  for (float f : scores) {
    ASSERT_EQ(score_text(f), fmt::format("{:.4f}", f)) << "score " << f;
  }
}

TEST(MessagesTest, AlertCarriesTheReferenceMessage) {
  std::string out;
  AppendAlert(out, "fan-1", "t", Level::kCritical, Level::kOk, 0.9f, "m@1");
  json j = json::parse(out);
  EXPECT_EQ(j["level"], "critical");
  EXPECT_EQ(j["previous"], "ok");
  EXPECT_EQ(j["message"], "activate safety protocols");
}

TEST(MessagesTest, CommandEmbedsPayload) {
  std::string out;
  AppendCommand(out, "set-actuator", R"({"state":"closed"})");
  EXPECT_EQ(json::parse(out),
            json::parse(R"({"command":"set-actuator","payload":{"state":"closed"}})"));
}

TEST(MessagesTest, DeadLetterIsValidJsonForAnyBytes) {
  std::string payload = "\xff\xfe{\"a\":\x01\x02 \xe2\x82\xac \xc3";  // invalid UTF-8, controls
  std::string out;
  AppendDeadLetter(out, "fan/messages", "not valid JSON", payload, 512);
  json j = json::parse(out);
  EXPECT_EQ(j["topic"], "fan/messages");
  EXPECT_EQ(j["reason"], "not valid JSON");
  EXPECT_EQ(j["payload"], "\xef\xbf\xbd\xef\xbf\xbd{\"a\":\x01\x02 \xe2\x82\xac \xef\xbf\xbd");
  EXPECT_EQ(j["truncated"], false);

  out.clear();
  AppendDeadLetter(out, "t", "r", std::string(1000, 'x'), 10);
  j = json::parse(out);
  EXPECT_EQ(j["payload"], "xxxxxxxxxx");
  EXPECT_EQ(j["truncated"], true);
}

}  // namespace
}  // namespace aiot::services
