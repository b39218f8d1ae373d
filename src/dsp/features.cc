#include "dsp/features.h"

#include <cmath>

#include "base/check.h"
#include "base/errc.h"

namespace aiot::dsp {

TimeStats ComputeTimeStats(std::span<const float> x) {
  TimeStats s;
  if (x.empty()) return s;
  const double n = static_cast<double>(x.size());
  double sum = 0, sum_sq = 0, peak = 0;
  for (float v : x) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    peak = std::max(peak, std::fabs(static_cast<double>(v)));
  }
  const double mean = sum / n;
  // Central moments in a second pass: the one-pass formulas lose precision when |mean| >> std.
  double m2 = 0, m4 = 0;
  for (float v : x) {
    const double d = v - mean;
    const double d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= n;
  m4 /= n;
  s.mean = static_cast<float>(mean);
  s.rms = static_cast<float>(std::sqrt(sum_sq / n));
  s.peak = static_cast<float>(peak);
  s.crest_factor = s.rms > 0 ? static_cast<float>(peak / std::sqrt(sum_sq / n)) : 0.0f;
  s.kurtosis = m2 > 0 ? static_cast<float>(m4 / (m2 * m2)) : 0.0f;
  return s;
}

Status FrameAnalyzer::Validate(const FrameFeaturesConfig& config) {
  if (Status st = SpectrumAnalyzer::Validate(config.spectrum); !st.ok()) return st;
  if (config.band_count > kMaxBands) return errc::invalid_argument;
  for (size_t i = 0; i < config.band_count; ++i) {
    const Band& b = config.bands[i];
    if (!(b.low_hz >= 0) || !(b.high_hz > b.low_hz)) return errc::invalid_argument;
  }
  if (!(config.dominant_max_hz > config.dominant_min_hz)) return errc::invalid_argument;
  return Status::Ok();
}

FrameAnalyzer::FrameAnalyzer(const FrameFeaturesConfig& config)
    : config_(config), spectrum_(config.spectrum) {
  AIOT_CHECK(Validate(config).ok(), "bad frame features config (%zu bands)", config.band_count);
}

void FrameAnalyzer::Analyze(std::span<const float> frame, FrameFeatures* out) {
  out->time = ComputeTimeStats(frame);
  spectrum_.Transform(frame);
  out->dominant = spectrum_.DominantPeak(config_.dominant_min_hz, config_.dominant_max_hz);
  out->centroid_hz = spectrum_.Centroid();
  out->band_count = config_.band_count;
  for (size_t i = 0; i < config_.band_count; ++i) {
    out->band_energy[i] = spectrum_.BandEnergy(config_.bands[i].low_hz, config_.bands[i].high_hz);
  }
}

}  // namespace aiot::dsp
