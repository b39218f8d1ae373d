#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "base/result.h"
#include "dsp/spectrum.h"

namespace aiot::dsp {

// Time-domain statistics of one frame.
struct TimeStats {
  float mean = 0;
  float rms = 0;           // about zero, including any DC: sqrt(mean(x^2))
  float peak = 0;          // max |x|
  float crest_factor = 0;  // peak / rms; 0 for a silent frame
  float kurtosis = 0;  // m4 / m2^2 about the mean (not excess: Gaussian ~3, sine 1.5); 0 if flat
};

// One pass over `x`; allocates nothing.
TimeStats ComputeTimeStats(std::span<const float> x);

// A frequency band [low_hz, high_hz).
struct Band {
  float low_hz = 0;
  float high_hz = 0;
};

inline constexpr size_t kMaxBands = 8;

struct FrameFeaturesConfig {
  SpectrumConfig spectrum;
  // Bands whose mean-square energy is reported, at most kMaxBands.
  std::array<Band, kMaxBands> bands{};
  size_t band_count = 0;
  // Range searched for the dominant frequency (clamped to (0, Nyquist]).
  float dominant_min_hz = 0;
  float dominant_max_hz = 1e30f;
};

// Everything a device reports about one frame. Fixed size: no allocation.
struct FrameFeatures {
  TimeStats time;
  Peak dominant;
  float centroid_hz = 0;
  std::array<float, kMaxBands> band_energy{};
  size_t band_count = 0;
};

// Time statistics plus the spectral features of a frame. Allocation happens once, in the
// constructor; Analyze() allocates nothing. Not thread-safe.
class FrameAnalyzer {
 public:
  static Status Validate(const FrameFeaturesConfig& config);
  // REQUIRES: Validate(config).ok() (checked).
  explicit FrameAnalyzer(const FrameFeaturesConfig& config);

  // REQUIRES: frame.size() == config.spectrum.frame_size.
  void Analyze(std::span<const float> frame, FrameFeatures* out);

  const SpectrumAnalyzer& spectrum() const { return spectrum_; }
  const FrameFeaturesConfig& config() const { return config_; }

 private:
  FrameFeaturesConfig config_;
  SpectrumAnalyzer spectrum_;
};

}  // namespace aiot::dsp
