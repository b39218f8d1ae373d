#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aiot::mqtt::bench {

// A log-bucketed histogram in the manner of HdrHistogram: values below 64 are exact, above that
// each power of two is split into 64 linear sub-buckets, so any recorded value is known to within
// 1/64 (1.6 %). Covers the whole uint64 range in 3776 counters. Not thread-safe: keep one per
// thread (or strand) and Merge() at the end.
class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t value);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  // The value at `percentile` (0..100): the midpoint of the bucket holding it, clamped to
  // [min, max]. 0 when empty.
  uint64_t Percentile(double percentile) const;

  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;  // double: exact to 2^53, plenty for a mean
};

}  // namespace aiot::mqtt::bench
