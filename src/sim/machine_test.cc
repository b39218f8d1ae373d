#include "sim/machine.h"

#include <gtest/gtest.h>

#include <vector>

#include "dsp/features.h"

namespace aiot::sim {
namespace {

dsp::FrameFeatures Analyze(Machine& m, size_t n = 4096, float fs = 4096) {
  dsp::FrameFeaturesConfig c;
  c.spectrum = {.frame_size = n, .sample_rate_hz = fs};
  c.bands[0] = {3, 24};
  c.bands[1] = {24, 100};
  c.bands[2] = {100, 700};
  c.bands[3] = {700, fs};
  c.band_count = 4;
  c.dominant_min_hz = 3;
  dsp::FrameAnalyzer a(c);
  std::vector<float> x(n);
  m.SampleVibration(fs, x);
  dsp::FrameFeatures f;
  a.Analyze(x, &f);
  return f;
}

TEST(Machine, HealthyMachineLooksLikeTheReferenceHealthyRows) {
  MachineSpec spec;  // defaults: 600 rpm, 150 mg, 40 C, 48.5 dB
  Machine m(spec, 1);
  m.Advance(3600);
  auto f = Analyze(m);
  EXPECT_NEAR(f.time.rms, 150, 10);
  // The 1x harmonic (10 Hz) dominates; kurtosis of sines plus noise is below Gaussian.
  EXPECT_NEAR(f.dominant.frequency_hz, 10.0, 0.5);
  EXPECT_LT(f.time.kurtosis, 3.2);
  EXPECT_NEAR(m.MeasureRpm(), 600, 15);
  EXPECT_NEAR(m.MeasureTemperature(), 40, 2);
  EXPECT_NEAR(m.MeasureSound(), 48.5, 2.5);
  EXPECT_FALSE(m.failed());
  EXPECT_TRUE(std::isinf(m.TimeToFailureSeconds()));
}

TEST(Machine, BladeDegradationSlowsTheFanTowardFourHundredRpm) {
  Machine m(MachineSpec{}, 2);
  m.StartFault(FailureMode::kBladeDegradation, 1000);
  while (!m.failed()) m.Advance(10);
  m.Advance(0);
  EXPECT_NEAR(m.Rpm(), 420, 1);
  EXPECT_GT(m.MeasureSound(), 55);
  auto f = Analyze(m);
  EXPECT_GT(f.time.rms, 180);
  EXPECT_LT(f.time.rms, 250);
}

TEST(Machine, ImbalanceGrowsTheOneTimesHarmonic) {
  Machine healthy(MachineSpec{}, 3), faulty(MachineSpec{}, 3);
  faulty.StartFault(FailureMode::kImbalance, 1000);
  while (!faulty.failed()) faulty.Advance(10);
  auto h = Analyze(healthy), f = Analyze(faulty);
  // 1x band energy: 0.35 v^2 healthy -> 1.95 v^2 at failure (v scaled by rpm-independent load).
  EXPECT_NEAR(f.band_energy[0] / h.band_energy[0], (0.35 + 1.6) / 0.35, 0.8);
  EXPECT_NEAR(f.dominant.frequency_hz, faulty.Rpm() / 60, 0.5);
}

TEST(Machine, BearingWearRingsTheResonanceAndHeats) {
  Machine healthy(MachineSpec{}, 4), faulty(MachineSpec{}, 4);
  faulty.StartFault(FailureMode::kBearingWear, 1000);
  for (int i = 0; i < 95; ++i) faulty.Advance(10);  // not failed yet, well degraded
  for (int i = 0; i < 200; ++i) healthy.Advance(10);
  auto h = Analyze(healthy), f = Analyze(faulty);
  EXPECT_GT(f.band_energy[3], 4 * h.band_energy[3]);  // high band: impacts ringing ~1.2 kHz
  EXPECT_GT(f.time.kurtosis, h.time.kurtosis + 1);
  EXPECT_GT(faulty.MeasureTemperature(), healthy.MeasureTemperature() + 5);
}

TEST(Machine, LowerLoadSlowsDegradation) {
  Machine full(MachineSpec{}, 5), half(MachineSpec{}, 5);
  full.StartFault(FailureMode::kBearingWear, 10000);
  half.StartFault(FailureMode::kBearingWear, 10000);
  half.SetLoad(0.5);
  for (int i = 0; i < 300; ++i) {
    full.Advance(10);
    half.Advance(10);
  }
  // load^3: a half-loaded machine wears ~8x slower (noise per step averages out over 300 steps).
  EXPECT_NEAR(full.damage() / half.damage(), 8.0, 1.5);
  EXPECT_GT(half.TimeToFailureSeconds(), 5 * full.TimeToFailureSeconds());
}

TEST(Machine, FailureModeNames) {
  FailureMode m;
  ASSERT_TRUE(ParseFailureMode("blade", &m));
  EXPECT_EQ(m, FailureMode::kBladeDegradation);
  EXPECT_FALSE(ParseFailureMode("rust", &m));
}

}  // namespace
}  // namespace aiot::sim
