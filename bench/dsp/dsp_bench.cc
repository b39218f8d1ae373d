// DSP frames per second: one frame = time statistics + windowed real FFT + amplitude/power spectra
// + dominant peak + centroid + 4 band energies, as the device agent computes per frame.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "dsp/features.h"
#include "dsp/framer.h"

namespace aiot::dsp {
namespace {

std::vector<float> Signal(size_t n, float fs) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0, 0.3f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::sin(2 * std::numbers::pi_v<float> * 10.0f * i / fs) +
           0.2f * std::sin(2 * std::numbers::pi_v<float> * 358.0f * i / fs) + noise(rng);
  }
  return x;
}

FrameFeaturesConfig Config(size_t n) {
  FrameFeaturesConfig c;
  c.spectrum = {.frame_size = n, .sample_rate_hz = 4096};
  c.bands[0] = {2, 30};
  c.bands[1] = {30, 200};
  c.bands[2] = {200, 1000};
  c.bands[3] = {1000, 2048};
  c.band_count = 4;
  return c;
}

void BM_AnalyzeFrame(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  FrameAnalyzer analyzer(Config(n));
  auto x = Signal(n, 4096);
  FrameFeatures f;
  for (auto _ : state) {
    analyzer.Analyze(x, &f);
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations());  // items = frames
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AnalyzeFrame)->Arg(1024)->Arg(4096);

// The FFT alone, to show where the time goes.
void BM_SpectrumOnly(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  SpectrumAnalyzer a({.frame_size = n, .sample_rate_hz = 4096});
  auto x = Signal(n, 4096);
  for (auto _ : state) {
    a.Transform(x);
    benchmark::DoNotOptimize(a.amplitude().data());
  }
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SpectrumOnly)->Arg(1024)->Arg(4096);

// A continuous stream with 50% overlap: framing + analysis, reported as samples/s.
void BM_StreamHalfOverlap(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  FrameAnalyzer analyzer(Config(n));
  Framer framer(n, n / 2);
  auto x = Signal(16 * n, 4096);
  FrameFeatures f;
  for (auto _ : state) {
    framer.Push(x, [&](std::span<const float> frame) { analyzer.Analyze(frame, &f); });
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * x.size()));
}
BENCHMARK(BM_StreamHalfOverlap)->Arg(1024)->Arg(4096);

}  // namespace
}  // namespace aiot::dsp
