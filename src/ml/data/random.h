#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace aiot::ml {

// Deterministic randomness for splits, shuffles and weight initialisation. std::mt19937_64 is fully
// specified by the standard; the distributions here are our own (the standard library's are
// implementation-defined), so a seed gives the same numbers with every compiler and library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n), n > 0, without modulo bias (rejection sampling).
  uint64_t Below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
      v = engine_();
    } while (v >= limit);
    return v % n;
  }
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace aiot::ml
