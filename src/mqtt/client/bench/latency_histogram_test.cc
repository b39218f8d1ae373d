#include "mqtt/client/bench/latency_histogram.h"

#include <gtest/gtest.h>

namespace aiot::mqtt::bench {
namespace {

TEST(LatencyHistogram, BucketsCoverValuesWithBoundedError) {
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 63, 64, 65, 127, 128, 1000, 123456789,
                                                    (uint64_t{1} << 40) + 12345, UINT64_MAX}) {
    const size_t b = LatencyHistogram::BucketOf(v);
    EXPECT_LE(LatencyHistogram::BucketLow(b), v) << v;
    EXPECT_GE(LatencyHistogram::BucketHigh(b), v) << v;
    const double width =
        static_cast<double>(LatencyHistogram::BucketHigh(b) - LatencyHistogram::BucketLow(b));
    EXPECT_LE(width, static_cast<double>(v) / 64.0 + 1) << v;
  }
}

TEST(LatencyHistogram, PercentilesOfUniformValues) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 100000000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(50)), 50e6, 50e6 * 0.02);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99)), 99e6, 99e6 * 0.02);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99.9)), 99.9e6, 99.9e6 * 0.02);
  EXPECT_EQ(h.Percentile(100), h.max());
  EXPECT_NEAR(h.mean(), 50.0005e6, 1);
}

TEST(LatencyHistogram, MergeAddsCounts) {
  LatencyHistogram a, b;
  a.Record(10);
  b.Record(1000000);
  b.Record(5);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 1000000u);
  EXPECT_EQ(a.Percentile(50), 10u);
  LatencyHistogram empty;
  EXPECT_EQ(empty.Percentile(99), 0u);
}

}  // namespace
}  // namespace aiot::mqtt::bench
