#include "ml/train/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace aiot::ml {
namespace {

TEST(MetricsTest, BinaryCounts) {
  std::vector<float> s = {0.9f, 0.8f, 0.3f, 0.6f, 0.1f};
  std::vector<int32_t> y = {1, 1, 1, 0, 0};
  auto r = Evaluate(s, y, 2, 0.5);
  EXPECT_EQ(r.confusion[1][1], 2);
  EXPECT_EQ(r.confusion[1][0], 1);
  EXPECT_EQ(r.confusion[0][1], 1);
  EXPECT_EQ(r.confusion[0][0], 1);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.6);
  EXPECT_DOUBLE_EQ(r.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.recall, 2.0 / 3);
  // Positive scores 0.9, 0.8, 0.3 vs negatives 0.6, 0.1: 5 of 6 pairs ordered.
  EXPECT_DOUBLE_EQ(r.roc_auc, 5.0 / 6);
  EXPECT_NE(ToJson(r).find("\"confusion\":[[1,1],[1,2]]"), std::string::npos) << ToJson(r);
}

TEST(MetricsTest, AucTiesCountHalf) {
  EXPECT_DOUBLE_EQ(RocAuc({0.5f, 0.5f}, {0, 1}), 0.5);
  EXPECT_TRUE(std::isnan(RocAuc({0.5f}, {1})));
}

TEST(MetricsTest, MultiClassArgmax) {
  std::vector<float> s = {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f};
  auto r = Evaluate(s, {0, 2}, 3);
  EXPECT_DOUBLE_EQ(r.accuracy, 1.0);
}

TEST(MetricsTest, JsonEscapes) {
  EXPECT_EQ(JsonString("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(JsonNumber(NAN), "null");
}

}  // namespace
}  // namespace aiot::ml
