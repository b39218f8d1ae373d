#include "mqtt/client/bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace aiot::mqtt::bench {
namespace {

constexpr int kSubBits = 6;
constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 64
constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t v) {
  if (v < kSub) return static_cast<size_t>(v);
  const int msb = 63 - __builtin_clzll(v);
  const int shift = msb - kSubBits;
  return static_cast<size_t>(shift + 1) * kSub + static_cast<size_t>((v >> shift) & (kSub - 1));
}

uint64_t LatencyHistogram::BucketLow(size_t b) {
  if (b < kSub) return b;
  const int shift = static_cast<int>(b / kSub) - 1;
  return (kSub + b % kSub) << shift;
}

uint64_t LatencyHistogram::BucketHigh(size_t b) {
  if (b < kSub) return b;
  const int shift = static_cast<int>(b / kSub) - 1;
  return BucketLow(b) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t v) {
  ++counts_[BucketOf(v)];
  ++count_;
  sum_ += static_cast<double>(v);
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void LatencyHistogram::Merge(const LatencyHistogram& o) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

uint64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(p / 100.0 * count_)));
  uint64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(b) + (BucketHigh(b) - BucketLow(b)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace aiot::mqtt::bench
