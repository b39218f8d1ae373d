#include "dsp/spectrum.h"

#include <kiss_fftr.h>

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "base/errc.h"

namespace aiot::dsp {

static_assert(sizeof(kiss_fft_cpx) == 2 * sizeof(float), "kissfft must be the float variant");
static_assert(sizeof(kiss_fft_scalar) == sizeof(float), "kissfft must be the float variant");

Status SpectrumAnalyzer::Validate(const SpectrumConfig& config) {
  if (config.frame_size < 8 || config.frame_size % 2 != 0 || config.frame_size > (1u << 20)) {
    return errc::invalid_argument;
  }
  if (!(config.sample_rate_hz > 0) || !std::isfinite(config.sample_rate_hz)) {
    return errc::invalid_argument;
  }
  return Status::Ok();
}

SpectrumAnalyzer::SpectrumAnalyzer(const SpectrumConfig& config) : config_(config) {
  AIOT_CHECK(Validate(config).ok(), "bad spectrum config: frame_size=%zu sample_rate_hz=%g",
             config.frame_size, static_cast<double>(config.sample_rate_hz));
  const size_t n = config.frame_size;
  window_ = std::make_unique<float[]>(n);
  work_ = std::make_unique<float[]>(n);
  cpx_ = std::make_unique<float[]>(2 * bin_count());
  amplitude_ = std::make_unique<float[]>(bin_count());
  power_ = std::make_unique<float[]>(bin_count());
  FillWindow(config.window, {window_.get(), n});

  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += window_[i];
    sum_sq += static_cast<double>(window_[i]) * window_[i];
  }
  amplitude_scale_ = static_cast<float>(2.0 / sum);
  power_scale_ = static_cast<float>(2.0 / (static_cast<double>(n) * sum_sq));

  // kissfft allocates with malloc unless handed memory; hand it ours so that its state lives and
  // dies with the analyzer and nothing is allocated after construction.
  size_t bytes = 0;
  kiss_fftr_alloc(static_cast<int>(n), 0, nullptr, &bytes);
  fft_memory_ = std::make_unique<max_align_t[]>(bytes / sizeof(max_align_t) + 1);
  size_t have = (bytes / sizeof(max_align_t) + 1) * sizeof(max_align_t);
  fft_ = kiss_fftr_alloc(static_cast<int>(n), 0, fft_memory_.get(), &have);
  AIOT_CHECK(fft_ != nullptr, "kiss_fftr_alloc(%zu) failed", n);
}

SpectrumAnalyzer::~SpectrumAnalyzer() = default;

void SpectrumAnalyzer::Transform(std::span<const float> frame) {
  const size_t n = config_.frame_size;
  AIOT_CHECK(frame.size() == n, "frame of %zu samples, analyzer expects %zu", frame.size(), n);
  float mean = 0;
  if (config_.remove_dc) {
    double sum = 0;
    for (float x : frame) sum += x;
    mean = static_cast<float>(sum / static_cast<double>(n));
  }
  for (size_t i = 0; i < n; ++i) work_[i] = (frame[i] - mean) * window_[i];

  auto* out = reinterpret_cast<kiss_fft_cpx*>(cpx_.get());
  kiss_fftr(fft_, work_.get(), out);

  const size_t bins = bin_count();
  for (size_t k = 0; k < bins; ++k) {
    const float re = out[k].r, im = out[k].i;
    const float mag_sq = re * re + im * im;
    const bool edge = k == 0 || k == bins - 1;  // DC and Nyquist have no mirror image
    amplitude_[k] = std::sqrt(mag_sq) * amplitude_scale_ * (edge ? 0.5f : 1.0f);
    power_[k] = mag_sq * power_scale_ * (edge ? 0.5f : 1.0f);
  }
}

Peak SpectrumAnalyzer::DominantPeak(float min_hz, float max_hz) const {
  const size_t bins = bin_count();
  const float hz = bin_hz();
  // Clamp in floating point before converting: a huge max_hz must not overflow size_t.
  const float last = static_cast<float>(bins - 1);
  const size_t lo = static_cast<size_t>(std::clamp(std::ceil(min_hz / hz), 1.0f, last + 1));
  const size_t hi = static_cast<size_t>(std::clamp(std::floor(max_hz / hz), 0.0f, last));
  Peak peak;
  if (lo > hi) return peak;
  size_t best = lo;
  for (size_t k = lo + 1; k <= hi; ++k) {
    if (amplitude_[k] > amplitude_[best]) best = k;
  }
  peak.bin = best;
  peak.frequency_hz = static_cast<float>(best) * hz;
  peak.amplitude = amplitude_[best];
  if (best == 0 || best + 1 >= bins || amplitude_[best] <= 0) return peak;

  // Parabola through the log amplitudes of the three bins around the maximum. On a log scale
  // the Hann main lobe is close to a parabola, which keeps the bias to a few hundredths of a bin.
  constexpr float kFloor = 1e-30f;
  const float a = std::log(std::max(amplitude_[best - 1], kFloor));
  const float b = std::log(std::max(amplitude_[best], kFloor));
  const float c = std::log(std::max(amplitude_[best + 1], kFloor));
  const float denom = a - 2 * b + c;
  if (denom >= 0) return peak;  // not a local maximum in the log domain
  const float p = std::clamp(0.5f * (a - c) / denom, -0.5f, 0.5f);
  peak.frequency_hz = (static_cast<float>(best) + p) * hz;
  peak.amplitude = std::exp(b - 0.25f * (a - c) * p);
  return peak;
}

float SpectrumAnalyzer::BandEnergy(float low_hz, float high_hz) const {
  const float hz = bin_hz();
  double sum = 0;
  for (size_t k = 0; k < bin_count(); ++k) {
    const float f = static_cast<float>(k) * hz;
    if (f >= low_hz && f < high_hz) sum += power_[k];
  }
  return static_cast<float>(sum);
}

float SpectrumAnalyzer::Centroid() const {
  const float hz = bin_hz();
  double weighted = 0, total = 0;
  for (size_t k = 1; k < bin_count(); ++k) {
    weighted += static_cast<double>(k) * hz * amplitude_[k];
    total += amplitude_[k];
  }
  return total > 0 ? static_cast<float>(weighted / total) : 0.0f;
}

}  // namespace aiot::dsp
