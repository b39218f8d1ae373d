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
        "2026-11-22T10:00:00Zjunk", "abcd-ef-ghTij:kl:mnZ",
        // Outside int64 nanoseconds (the sum overflowed before it was refused).
        "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2262-05-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &ns)) << bad;
  }
}

TEST(Timestamp, FormatsIntoABufferAndKeepsTheRangeEnds) {
  int64_t ns;
  ASSERT_TRUE(ParseTimestamp("2261-12-31T23:59:59.999Z", &ns));
  char buf[kTimestampBytes];
  EXPECT_EQ(std::string(buf, FormatTimestamp(ns, buf)), "2261-12-31T23:59:59.999Z");
  ASSERT_TRUE(ParseTimestamp("1678-01-01T00:00:00Z", &ns));
  EXPECT_EQ(FormatTimestamp(ns), "1678-01-01T00:00:00.000Z");
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock c(100);
  EXPECT_EQ(c.NowNanos(), 100);
  c.Advance(std::chrono::nanoseconds(50));
  EXPECT_EQ(c.MonotonicNanos(), 150);
}

}  // namespace
}  // namespace aiot
