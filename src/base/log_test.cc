#include "base/log.h"

#include <gtest/gtest.h>

namespace aiot::log {
namespace {

TEST(RateLimiter, LetsABurstThroughPerIntervalAndCountsTheRest) {
  RateLimiter limiter(/*interval_ns=*/1000, /*burst=*/2);
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow(0, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_TRUE(limiter.Allow(10, &suppressed));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow(20 + i, &suppressed));
  EXPECT_FALSE(limiter.Allow(999, &suppressed));
  // A new interval: the first line says how many were dropped before it.
  EXPECT_TRUE(limiter.Allow(1000, &suppressed));
  EXPECT_EQ(suppressed, 6u);
  EXPECT_TRUE(limiter.Allow(1001, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow(1002, &suppressed));
}

TEST(RateLimiter, ClockGoingBackwardsStartsANewInterval) {
  RateLimiter limiter(1000, 1);
  uint64_t suppressed = 0;
  EXPECT_TRUE(limiter.Allow(5000, &suppressed));
  EXPECT_FALSE(limiter.Allow(5001, &suppressed));
  EXPECT_TRUE(limiter.Allow(10, &suppressed));
  EXPECT_EQ(suppressed, 1u);
}

}  // namespace
}  // namespace aiot::log
