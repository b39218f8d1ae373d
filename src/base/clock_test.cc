#include "base/clock.h"

#include <gtest/gtest.h>

namespace aiot {
namespace {

TEST(Timestamp, FormatsAndParsesRoundTrip) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseTimestamp("2026-11-22T10:00:00.123Z", &ns));
  EXPECT_EQ(ns, 1795341600123000000LL);
  EXPECT_EQ(FormatTimestamp(ns), "2026-11-22T10:00:00.123Z");
}

TEST(Timestamp, AcceptsOffsetsAndSpaceSeparator) {
  int64_t a = 0, b = 0;
  ASSERT_TRUE(ParseTimestamp("2026-11-22T12:00:00+02:00", &a));
  ASSERT_TRUE(ParseTimestamp("2026-11-22 10:00:00Z", &b));
  EXPECT_EQ(a, b);
}

TEST(Timestamp, RejectsMalformed) {
  int64_t ns;
  for (const char* bad :
       {"", "2026", "2026-13-01T00:00:00Z", "2026-11-22T10:00:00", "2026-11-22T10:00:00.Z",
        "2026-11-22T10:00:00Zjunk", "abcd-ef-ghTij:kl:mnZ"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &ns)) << bad;
  }
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock c(100);
  EXPECT_EQ(c.NowNanos(), 100);
  c.Advance(std::chrono::nanoseconds(50));
  EXPECT_EQ(c.MonotonicNanos(), 150);
}

}  // namespace
}  // namespace aiot
