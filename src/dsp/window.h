#pragma once

#include <span>

namespace aiot::dsp {

enum class WindowKind { kRectangular, kHann, kHamming };

// Parses "rectangular", "hann" or "hamming"; returns false on anything else.
bool ParseWindowKind(const char* name, WindowKind* out);
const char* WindowKindName(WindowKind kind);

// Fills `out` with the periodic (DFT-even) window of length out.size(), the form spectral analysis
// wants: a frame of N samples uses w[n] = 0.5 - 0.5 cos(2 pi n / N) for Hann.
void FillWindow(WindowKind kind, std::span<float> out);

}  // namespace aiot::dsp
