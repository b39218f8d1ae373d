#include "base/result.h"

#include <gtest/gtest.h>

#include "base/errc.h"

namespace aiot {
namespace {

Result<int> Half(int x) {
  if (x % 2) return errc::invalid_argument;
  return x / 2;
}

TEST(Result, CarriesValueOrError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), errc::invalid_argument);
  EXPECT_EQ(bad.error().message(), "invalid_argument");
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status e = errc::timeout;
  EXPECT_FALSE(e.ok());
  EXPECT_STREQ(ErrcName(errc::timeout), "timeout");
}

}  // namespace
}  // namespace aiot
