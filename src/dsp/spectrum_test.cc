#include "dsp/spectrum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include "dsp/test_signals.h"
#include "dsp/window.h"

namespace aiot::dsp {
namespace {

// The phase of these tests' sines unless one says otherwise.
constexpr float kPhase = 0.3f;

// A sine at kPhase.
std::vector<float> Sine(size_t n, float fs, float f, float amplitude) {
  return test_signals::Sine(n, fs, f, amplitude, kPhase);
}

TEST(Spectrum, RejectsBadConfig) {
  EXPECT_FALSE(SpectrumAnalyzer::Validate({.frame_size = 1023}).ok());
  EXPECT_FALSE(SpectrumAnalyzer::Validate({.frame_size = 4}).ok());
  EXPECT_FALSE(SpectrumAnalyzer::Validate({.frame_size = 1024, .sample_rate_hz = 0}).ok());
  EXPECT_TRUE(SpectrumAnalyzer::Validate({.frame_size = 1000, .sample_rate_hz = 8000}).ok());
}

// A sine between bins: the interpolated peak lands within a small fraction of a bin of the true
// frequency, for every window and for frequencies across the band.
TEST(Spectrum, DominantFrequencyWithinAFractionOfABin) {
  for (WindowKind w : {WindowKind::kHann, WindowKind::kHamming}) {
    SpectrumAnalyzer a({.frame_size = 1024, .sample_rate_hz = 4096, .window = w});
    const float bin = a.bin_hz();
    ASSERT_FLOAT_EQ(bin, 4.0f);
    for (float f : {37.3f, 100.0f, 101.0f, 250.5f, 777.77f, 1500.25f}) {
      a.Transform(Sine(1024, 4096, f, 2.5f));
      Peak p = a.DominantPeak(0, 2048);
      EXPECT_NEAR(p.frequency_hz, f, 0.05f * bin) << WindowKindName(w) << " f=" << f;
      // Amplitude after interpolation: scalloping of Hann is at most 1.42 dB; interpolation
      // recovers most of it.
      EXPECT_NEAR(p.amplitude, 2.5f, 0.05f * 2.5f) << WindowKindName(w) << " f=" << f;
    }
  }
}

TEST(Spectrum, OnBinSineAmplitudeAndPowerAreCalibrated) {
  SpectrumAnalyzer a({.frame_size = 4096, .sample_rate_hz = 8192});
  a.Transform(Sine(4096, 8192, 200.0f, 3.0f));  // exactly bin 100
  Peak p = a.DominantPeak(0, 4096);
  EXPECT_EQ(p.bin, 100u);
  EXPECT_NEAR(p.frequency_hz, 200.0f, 1e-3);
  EXPECT_NEAR(a.amplitude()[100], 3.0f, 1e-3);
  // Mean square of a sine: A^2 / 2, spread over the main lobe.
  EXPECT_NEAR(a.BandEnergy(190, 210), 4.5f, 4.5f * 1e-3);
  double total = 0;
  for (float pw : a.power()) total += pw;
  EXPECT_NEAR(total, 4.5, 4.5e-3);
}

TEST(Spectrum, DcIsRemovedAndSilenceIsQuiet) {
  SpectrumAnalyzer a({.frame_size = 256, .sample_rate_hz = 1000});
  std::vector<float> dc(256, 7.0f);
  a.Transform(dc);
  for (float x : a.amplitude()) EXPECT_NEAR(x, 0.0f, 1e-4);
  EXPECT_EQ(a.Centroid(), 0.0f);
}

TEST(Spectrum, CentroidOfTwoEqualTonesIsTheirMean) {
  const size_t n = 2048;
  SpectrumAnalyzer a({.frame_size = n, .sample_rate_hz = 2048});
  auto x = Sine(n, 2048, 100, 1.0f);
  auto y = test_signals::Sine(n, 2048, 300, 1.0f, 1.1f);
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
  a.Transform(x);
  EXPECT_NEAR(a.Centroid(), 200.0f, 2.0f);
}

TEST(Spectrum, SearchRangeRestrictsTheDominantPeak) {
  SpectrumAnalyzer a({.frame_size = 1024, .sample_rate_hz = 4096});
  auto x = Sine(1024, 4096, 50, 5.0f);
  auto y = Sine(1024, 4096, 600, 1.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  a.Transform(x);
  EXPECT_NEAR(a.DominantPeak(0, 2048).frequency_hz, 50.0f, 0.2f);
  EXPECT_NEAR(a.DominantPeak(200, 2048).frequency_hz, 600.0f, 0.2f);
}

// Against the DFT's definition, X_k = sum_n w_n (x_n - mean) e^{-2 pi i k n / N}, evaluated
// directly in double precision for a random frame: every bin of the amplitude and power spectra,
// for both the rectangular and the Hann window, and Parseval's theorem (the power spectrum sums to
// the mean square of the windowed frame over the window's mean square).
TEST(Spectrum, MatchesTheDftDefinitionAndParseval) {
  const size_t n = 256;
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.4, 1.5);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(normal(rng));
  double mean = 0;
  for (float v : x) mean += v;
  mean /= n;
  for (WindowKind kind : {WindowKind::kRectangular, WindowKind::kHann}) {
    std::vector<float> w(n);
    FillWindow(kind, w);
    double sum_w = 0, sum_w2 = 0, sum_xw2 = 0;
    for (size_t i = 0; i < n; ++i) {
      sum_w += w[i];
      sum_w2 += double{w[i]} * w[i];
      sum_xw2 += std::pow((x[i] - mean) * w[i], 2);
    }
    SpectrumAnalyzer a({.frame_size = n, .sample_rate_hz = 1000, .window = kind});
    a.Transform(x);
    ASSERT_EQ(a.amplitude().size(), n / 2 + 1);
    double total_power = 0;
    for (size_t k = 0; k <= n / 2; ++k) {
      std::complex<double> xk = 0;
      for (size_t i = 0; i < n; ++i) {
        xk += (x[i] - mean) * w[i] *
              std::polar(1.0, -2 * std::numbers::pi * static_cast<double>(k * i) / n);
      }
      const double edge = (k == 0 || k == n / 2) ? 0.5 : 1.0;
      EXPECT_NEAR(a.amplitude()[k], edge * 2 * std::abs(xk) / sum_w, 1e-4)
          << WindowKindName(kind) << " k=" << k;
      EXPECT_NEAR(a.power()[k], edge * 2 * std::norm(xk) / (n * sum_w2), 1e-4)
          << WindowKindName(kind) << " k=" << k;
      total_power += a.power()[k];
    }
    EXPECT_NEAR(total_power, sum_xw2 / sum_w2, 1e-4 * sum_xw2 / sum_w2) << WindowKindName(kind);
  }
}

}  // namespace
}  // namespace aiot::dsp
