#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "base/result.h"
#include "dsp/window.h"

struct kiss_fftr_state;

namespace aiot::dsp {

// A spectral peak located with sub-bin precision.
struct Peak {
  float frequency_hz = 0;  // interpolated
  float amplitude = 0;     // interpolated single-sided amplitude (a sine of amplitude A reads ~A)
  size_t bin = 0;          // the bin with the largest amplitude
};

struct SpectrumConfig {
  size_t frame_size = 1024;  // samples per frame N; even (kissfft's real transform needs it)
  float sample_rate_hz = 4096;
  WindowKind window = WindowKind::kHann;
  bool remove_dc =
      true;  // subtract the frame mean before windowing, so DC does not leak into low bins
};

// Real FFT of one windowed frame and the quantities derived from it. All memory (window, kissfft
// state, spectra) is allocated once by the constructor; Transform() and the queries allocate
// nothing, so the analyzer is fit for a microcontroller's sampling loop.
//
// Calibration: amplitude() is the single-sided amplitude spectrum (2|X_k|/sum(w)); power() is each
// bin's share of the frame's mean square (2|X_k|^2/(N sum(w^2)) for interior bins), so a sine of
// amplitude A gives A^2/2 summed over its bins, and the bins of any frame sum to the mean square of
// the (DC-removed) signal as seen through the window.
//
// Not thread-safe: one analyzer per sampling loop.
class SpectrumAnalyzer {
 public:
  static Status Validate(const SpectrumConfig& config);

  // REQUIRES: Validate(config).ok() (checked).
  explicit SpectrumAnalyzer(const SpectrumConfig& config);
  ~SpectrumAnalyzer();
  SpectrumAnalyzer(const SpectrumAnalyzer&) = delete;
  SpectrumAnalyzer& operator=(const SpectrumAnalyzer&) = delete;

  // REQUIRES: frame.size() == frame_size.
  void Transform(std::span<const float> frame);

  size_t frame_size() const { return config_.frame_size; }
  size_t bin_count() const { return config_.frame_size / 2 + 1; }
  float bin_hz() const { return config_.sample_rate_hz / static_cast<float>(config_.frame_size); }
  const SpectrumConfig& config() const { return config_; }

  // Valid after Transform(); bin_count() entries.
  std::span<const float> amplitude() const { return {amplitude_.get(), bin_count()}; }
  std::span<const float> power() const { return {power_.get(), bin_count()}; }

  // The largest bin with centre frequency in [min_hz, max_hz] (bin 0 is never chosen), refined by
  // parabolic interpolation of the log amplitude over its neighbours.
  Peak DominantPeak(float min_hz, float max_hz) const;
  // Mean-square energy of the bins whose centre frequency lies in [low_hz, high_hz).
  float BandEnergy(float low_hz, float high_hz) const;
  // Amplitude-weighted mean frequency of bins 1..N/2; 0 for a silent frame.
  float Centroid() const;

 private:
  SpectrumConfig config_;
  std::unique_ptr<float[]> window_;
  std::unique_ptr<float[]> work_;
  std::unique_ptr<float[]> cpx_;  // bin_count() interleaved (re, im) pairs: kiss_fft_cpx layout
  std::unique_ptr<float[]> amplitude_;
  std::unique_ptr<float[]> power_;
  std::unique_ptr<max_align_t[]> fft_memory_;
  kiss_fftr_state* fft_ = nullptr;
  float amplitude_scale_ = 0;  // 2 / sum(w)
  float power_scale_ = 0;      // 2 / (N sum(w^2))
};

}  // namespace aiot::dsp
