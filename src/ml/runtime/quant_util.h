#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

// Fixed-point helpers that reproduce TensorFlow Lite's integer arithmetic bit for bit
// (tensorflow/lite/kernels/internal/common.h and quantization_util.cc, default double-rounding
// variant), so int8 results equal TFLite's.
namespace aiot::ml {

// Splits a positive real multiplier into a Q31 fixed-point value and a power-of-two exponent:
// real ~= quantized * 2^(shift - 31). A non-finite or non-positive multiplier (the caller checks
// the scales; this keeps a corrupt one from reaching an undefined conversion) gives 0.
inline void QuantizeMultiplier(double real, int32_t* quantized, int* shift) {
  if (!(real > 0.0) || !std::isfinite(real)) {
    *quantized = 0;
    *shift = 0;
    return;
  }
  const double q = std::frexp(real, shift);
  auto q_fixed = static_cast<int64_t>(std::round(q * (1LL << 31)));
  if (q_fixed == (1LL << 31)) {
    q_fixed /= 2;
    ++*shift;
  }
  if (*shift < -31) {
    *shift = 0;
    q_fixed = 0;
  }
  *quantized = static_cast<int32_t>(q_fixed);
}

inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  const auto high = static_cast<int32_t>((ab + nudge) / (1LL << 31));
  return overflow ? std::numeric_limits<int32_t>::max() : high;
}

inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return RoundingDivideByPOT(
      SaturatingRoundingDoublingHighMul(static_cast<int32_t>(static_cast<uint32_t>(x) << left),
                                        multiplier),
      right);
}

// The same when TFLite is built with TFLITE_SINGLE_ROUNDING=1 (TensorFlow's default is 0, the
// double rounding above): x * multiplier * 2^(shift - 31) rounded once, ties upwards. Requires
// shift in [-31, 30] (TFLite checks the same).
inline int32_t MultiplyByQuantizedMultiplierSingleRounding(int32_t x, int32_t multiplier,
                                                           int shift) {
  const int total = 31 - shift;
  const int64_t round = int64_t{1} << (total - 1);
  return static_cast<int32_t>((static_cast<int64_t>(x) * multiplier + round) >> total);
}

// TFLite's float -> int8 affine quantization (round half away from zero, then clamp).
// Non-finite and huge inputs saturate instead of overflowing the integer conversion.
// Rounds like std::round, without a libm call on the baseline x86-64 ISA (no roundsd): v - t is
// exact for |v| <= 1e6.
inline int8_t QuantizeValue(float v, double scale, int32_t zero_point) {
  double d = static_cast<double>(v) / scale;
  if (!(d >= -1e6)) d = -1e6;  // also catches NaN
  if (d > 1e6) d = 1e6;
  auto t = static_cast<int32_t>(d);  // truncation
  const double frac = d - t;
  t += (frac >= 0.5) - (frac <= -0.5);
  const int32_t q = t + zero_point;
  return static_cast<int8_t>(q < -128 ? -128 : (q > 127 ? 127 : q));
}

inline float DequantizeValue(int8_t q, double scale, int32_t zero_point) {
  return static_cast<float>(scale * (static_cast<int32_t>(q) - zero_point));
}

}  // namespace aiot::ml
