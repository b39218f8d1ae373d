#include "dsp/window.h"

#include <gtest/gtest.h>

#include <vector>

namespace aiot::dsp {
namespace {

TEST(Window, HannIsPeriodicAndSymmetric) {
  std::vector<float> w(8);
  FillWindow(WindowKind::kHann, w);
  EXPECT_FLOAT_EQ(w[0], 0.0f);
  EXPECT_FLOAT_EQ(w[4], 1.0f);  // centre of a periodic window of even length
  for (size_t i = 1; i < 8; ++i) EXPECT_NEAR(w[i], w[8 - i], 1e-6) << i;
  // Periodic Hann sums to exactly N/2.
  double sum = 0;
  for (float x : w) sum += x;
  EXPECT_NEAR(sum, 4.0, 1e-6);
}

TEST(Window, HammingEndpointsAndRectangular) {
  std::vector<float> w(16);
  FillWindow(WindowKind::kHamming, w);
  EXPECT_NEAR(w[0], 0.08f, 1e-6);
  EXPECT_NEAR(w[8], 1.0f, 1e-6);
  FillWindow(WindowKind::kRectangular, w);
  for (float x : w) EXPECT_EQ(x, 1.0f);
}

TEST(Window, NamesRoundTrip) {
  for (WindowKind k : {WindowKind::kRectangular, WindowKind::kHann, WindowKind::kHamming}) {
    WindowKind parsed;
    ASSERT_TRUE(ParseWindowKind(WindowKindName(k), &parsed));
    EXPECT_EQ(parsed, k);
  }
  WindowKind parsed;
  EXPECT_FALSE(ParseWindowKind("blackman", &parsed));
}

}  // namespace
}  // namespace aiot::dsp
