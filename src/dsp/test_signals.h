#pragma once

// Test signals for the dsp tests.
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace aiot::dsp::test_signals {

// n samples at fs Hz of amplitude * sin(2 pi f t + phase).
inline std::vector<float> Sine(size_t n, float fs, float f, float amplitude, double phase) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = amplitude * static_cast<float>(std::sin(2 * std::numbers::pi * f * i / fs + phase));
  }
  return x;
}

}  // namespace aiot::dsp::test_signals
