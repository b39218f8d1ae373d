#include "dsp/features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "dsp/test_signals.h"

namespace aiot::dsp {
namespace {

TEST(TimeStats, SineClosedForms) {
  // 64 whole periods, so the sample moments equal the continuous ones.
  auto x = test_signals::Sine(4096, 4096, 64, 3.0f, 0.7);
  TimeStats s = ComputeTimeStats(x);
  EXPECT_NEAR(s.rms, 3.0 / std::sqrt(2.0), 1e-4);
  EXPECT_NEAR(s.peak, 3.0f, 1e-3);
  EXPECT_NEAR(s.crest_factor, std::sqrt(2.0), 1e-3);
  EXPECT_NEAR(s.kurtosis, 1.5, 1e-3);
  EXPECT_NEAR(s.mean, 0.0, 1e-5);
}

TEST(TimeStats, GaussianNoiseHasKurtosisNearThree) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(1.0f, 2.0f);
  std::vector<float> x(200000);
  for (float& v : x) v = normal(rng);
  TimeStats s = ComputeTimeStats(x);
  // Standard error of sample kurtosis is sqrt(24/n) ~ 0.011.
  EXPECT_NEAR(s.kurtosis, 3.0, 0.06);
  EXPECT_NEAR(s.mean, 1.0, 0.03);
  EXPECT_NEAR(s.rms, std::sqrt(1.0 + 4.0), 0.03);
}

TEST(TimeStats, ImpulsesRaiseKurtosisAndCrest) {
  std::vector<float> x(1000, 0.0f);
  for (size_t i = 0; i < x.size(); i += 100) x[i] = 10.0f;
  TimeStats s = ComputeTimeStats(x);
  EXPECT_GT(s.kurtosis, 50.0f);
  EXPECT_NEAR(s.crest_factor, std::sqrt(100.0), 1e-3);
  EXPECT_EQ(ComputeTimeStats(std::vector<float>(10, 0.0f)).kurtosis, 0.0f);
}

TEST(FrameAnalyzer, TwoToneBandEnergiesSplitAsExpected) {
  FrameFeaturesConfig c;
  c.spectrum = {.frame_size = 4096, .sample_rate_hz = 8192};
  c.bands[0] = {0, 500};
  c.bands[1] = {500, 2000};
  c.bands[2] = {2000, 4096};
  c.band_count = 3;
  FrameAnalyzer a(c);
  auto x = test_signals::Sine(4096, 8192, 123.4f, 2.0f, 0.7);   // mean square 2
  auto y = test_signals::Sine(4096, 8192, 1234.5f, 1.0f, 0.7);  // mean square 0.5
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  FrameFeatures f;
  a.Analyze(x, &f);
  ASSERT_EQ(f.band_count, 3u);
  EXPECT_NEAR(f.band_energy[0], 2.0f, 0.02f);
  EXPECT_NEAR(f.band_energy[1], 0.5f, 0.005f);
  EXPECT_NEAR(f.band_energy[2], 0.0f, 1e-4);
  EXPECT_NEAR(f.band_energy[0] / f.band_energy[1], 4.0f, 0.05f);
  EXPECT_NEAR(f.dominant.frequency_hz, 123.4f, 0.1f);
  EXPECT_NEAR(f.time.rms, std::sqrt(2.5), 0.01);
}

TEST(FrameAnalyzer, RejectsBadBands) {
  FrameFeaturesConfig c;
  c.bands[0] = {100, 50};
  c.band_count = 1;
  EXPECT_FALSE(FrameAnalyzer::Validate(c).ok());
  c.band_count = kMaxBands + 1;
  EXPECT_FALSE(FrameAnalyzer::Validate(c).ok());
  c.band_count = 0;
  EXPECT_TRUE(FrameAnalyzer::Validate(c).ok());
}

}  // namespace
}  // namespace aiot::dsp
