#include "dsp/window.h"

#include <cmath>
#include <cstring>
#include <numbers>

namespace aiot::dsp {

bool ParseWindowKind(const char* name, WindowKind* out) {
  if (std::strcmp(name, "rectangular") == 0) {
    *out = WindowKind::kRectangular;
  } else if (std::strcmp(name, "hann") == 0) {
    *out = WindowKind::kHann;
  } else if (std::strcmp(name, "hamming") == 0) {
    *out = WindowKind::kHamming;
  } else {
    return false;
  }
  return true;
}

const char* WindowKindName(WindowKind kind) {
  switch (kind) {
    case WindowKind::kRectangular:
      return "rectangular";
    case WindowKind::kHann:
      return "hann";
    case WindowKind::kHamming:
      return "hamming";
  }
  return "?";
}

void FillWindow(WindowKind kind, std::span<float> out) {
  const double n = static_cast<double>(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const double c = std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / n);
    double w = 1.0;
    switch (kind) {
      case WindowKind::kRectangular:
        w = 1.0;
        break;
      case WindowKind::kHann:
        w = 0.5 - 0.5 * c;
        break;
      case WindowKind::kHamming:
        w = 0.54 - 0.46 * c;
        break;
    }
    out[i] = static_cast<float>(w);
  }
}

}  // namespace aiot::dsp
