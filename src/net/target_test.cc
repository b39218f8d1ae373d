#include "net/target.h"

#include <gtest/gtest.h>

namespace aiot::net {
namespace {

TEST(TargetTest, SplitsOriginForm) {
  std::string_view path, query;
  ASSERT_TRUE(SplitTarget("/a/b?x=1&y=2", path, query));
  EXPECT_EQ(path, "/a/b");
  EXPECT_EQ(query, "x=1&y=2");
  ASSERT_TRUE(SplitTarget("/", path, query));
  EXPECT_EQ(path, "/");
  EXPECT_EQ(query, "");
}

TEST(TargetTest, AcceptsAbsoluteForm) {
  std::string_view path, query;
  ASSERT_TRUE(SplitTarget("http://example.com/x?y", path, query));
  EXPECT_EQ(path, "/x");
  EXPECT_EQ(query, "y");
  ASSERT_TRUE(SplitTarget("http://example.com", path, query));
  EXPECT_EQ(path, "/");
}

TEST(TargetTest, RejectsOtherForms) {
  std::string_view path, query;
  EXPECT_FALSE(SplitTarget("*", path, query));
  EXPECT_FALSE(SplitTarget("example.com:443", path, query));
  EXPECT_FALSE(SplitTarget("", path, query));
  EXPECT_FALSE(SplitTarget("/a#frag", path, query));
  EXPECT_FALSE(SplitTarget(std::string_view("/a\0b", 4), path, query));
}

TEST(TargetTest, PercentDecodes) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%20b%2Fc+d", out, false));
  EXPECT_EQ(out, "a b/c+d");
  out.clear();
  ASSERT_TRUE(PercentDecode("a+b", out, true));
  EXPECT_EQ(out, "a b");
  out.clear();
  EXPECT_FALSE(PercentDecode("%2", out, false));
  EXPECT_FALSE(PercentDecode("%zz", out, false));
  EXPECT_FALSE(PercentDecode("%00", out, false));
  EXPECT_FALSE(PercentDecode("abc%", out, false));
}

TEST(TargetTest, ParsesQuery) {
  std::vector<std::pair<std::string, std::string>> q;
  ASSERT_TRUE(ParseQuery("a=1&b=x%20y&&c&d=", q));
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"b", "x y"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"d", ""}));
  q.clear();
  EXPECT_FALSE(ParseQuery("a=%G1", q));
}

}  // namespace
}  // namespace aiot::net
