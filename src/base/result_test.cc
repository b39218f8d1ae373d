#include "base/result.h"

#include <gtest/gtest.h>

#include "base/errc.h"

namespace aiot {
namespace {

Result<int> Half(int x) {
  if (x % 2) return errc::invalid_argument;
  return x / 2;
}

Result<int> Parse(std::string_view text) {
  if (text.empty()) return {errc::parse_error, "empty"};
  if (text == "x") return Status(errc::parse_error, "'x' is not a number");
  return static_cast<int>(text.size());
}

TEST(Result, CarriesValueOrError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  EXPECT_TRUE(ok.status().ok());
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), errc::invalid_argument);
  EXPECT_EQ(bad.error().message(), "invalid_argument");
  EXPECT_EQ(bad.status().message(), "invalid_argument");
}

TEST(Result, CarriesTheMessage) {
  auto bad = Parse("x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), errc::parse_error);
  EXPECT_EQ(bad.status().message(), "'x' is not a number");
  EXPECT_EQ(bad.status().ToString(), "parse_error: 'x' is not a number");
  EXPECT_EQ(Parse("").status().message(), "empty");
  EXPECT_EQ(*Parse("abc"), 3);
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_EQ(s.message(), "");
  Status e = errc::timeout;
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.message(), "timeout");
  EXPECT_EQ(e.ToString(), "timeout");
  EXPECT_STREQ(ErrcName(errc::timeout), "timeout");
}

TEST(Status, PrefixAddsContextAndKeepsTheCode) {
  Status e(errc::parse_error, "not a number");
  Status p = e.Prefix("fan.csv:3");
  EXPECT_EQ(p.code(), errc::parse_error);
  EXPECT_EQ(p.message(), "fan.csv:3: not a number");
  EXPECT_EQ(Status(errc::io_error).Prefix("a.bin").message(), "a.bin: io_error");
  EXPECT_TRUE(Status().Prefix("x").ok());
  EXPECT_TRUE(e == make_error_code(errc::parse_error));
}

}  // namespace
}  // namespace aiot
