#include "services/score_request.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace aiot::services {
namespace {

TEST(ScoreRequestTest, ReferenceForm) {
  ScoreRequestParser p;
  ASSERT_TRUE(p.Parse(R"({"params":[601.2,40.1,151.0,50.3]})", 4)) << p.error();
  EXPECT_FALSE(p.batch());
  ASSERT_EQ(p.row_count(), 1u);
  EXPECT_FLOAT_EQ(p.rows()[3], 50.3f);
}

TEST(ScoreRequestTest, BatchForm) {
  ScoreRequestParser p;
  ASSERT_TRUE(p.Parse(R"({"instances":[[1,2,3,4],[5,6,7,8],[9,10,11,12]]})", 4)) << p.error();
  EXPECT_TRUE(p.batch());
  ASSERT_EQ(p.row_count(), 3u);
  EXPECT_FLOAT_EQ(p.rows()[4], 5.0f);
}

TEST(ScoreRequestTest, ClearErrors) {
  ScoreRequestParser p;
  auto err = [&](std::string_view body) {
    EXPECT_FALSE(p.Parse(body, 4)) << body;
    return p.error();
  };
  EXPECT_EQ(err(R"({"params":[1,2,3]})"),
            "`params` has 3 values; the model takes 4 (in order: its features)");
  EXPECT_EQ(err(R"({"params":[1,2,3,4,5]})"), "`params` has more than the model's 4 features");
  EXPECT_EQ(err(R"({"params":[1,"2",3,4]})"), "`params[1]` is not a number");
  EXPECT_EQ(err(R"({"params":"1,2,3,4"})"), "`params` must be an array of numbers");
  EXPECT_EQ(err(R"({"instances":[[1,2,3,4],[1,2]]})"),
            "`instances[1]` has 2 values; the model takes 4 (in order: its features)");
  EXPECT_EQ(err(R"({"instances":[]})"), "`instances` is empty");
  EXPECT_EQ(err(R"({"x":1})"),
            "missing `params`; expected {\"params\":[rotation,temperature,vibration,sound]} or "
            "{\"instances\":[[...],...]}");
  EXPECT_NE(err("nope").find("body is not valid JSON"), std::string::npos);
  EXPECT_NE(err("[1,2,3,4]").find("not a JSON object"), std::string::npos);
  // Still fine afterwards.
  EXPECT_TRUE(p.Parse(R"({"params":[1,2,3,4]})", 4));
}

TEST(ScoreRequestTest, ResultShape) {
  std::string out;
  AppendScoreResult(out, 0.97f, Thresholds{}, "fan-mlp@3");
  EXPECT_EQ(
      nlohmann::json::parse(out),
      nlohmann::json::parse(R"({"fault":1,"score":0.97,"level":"critical","model":"fan-mlp@3"})"));
  out.clear();
  AppendScoreResult(out, 0.2f, Thresholds{}, "m");
  EXPECT_EQ(nlohmann::json::parse(out)["fault"], 0);
  EXPECT_EQ(nlohmann::json::parse(out)["level"], "ok");
}

}  // namespace
}  // namespace aiot::services
