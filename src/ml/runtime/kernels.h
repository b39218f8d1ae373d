#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ml/tflite/graph.h"

// Inference kernels. The reference kernels are plain loops and the oracle; the optimized kernels
// work on weights packed at Prepare time (AVX2 + FMA when the CPU has it, a portable path
// otherwise) and are tested against the reference: int8 results exactly equal, float within
// rounding. No kernel allocates or throws.
namespace aiot::ml::kernels {

// Requantization parameters of one int8 FULLY_CONNECTED (per output channel; per-tensor models
// repeat the same value).
struct Int8Requant {
  const int32_t* multiplier;  // N values
  const int32_t* shift;       // N values
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t act_min;
  int32_t act_max;
  // false: TFLite's default double rounding (MultiplyByQuantizedMultiplier); true: its
  // TFLITE_SINGLE_ROUNDING=1 variant (correctly rounded; shifts must be in [-31, 30]).
  bool single_rounding = false;
};

// The fused activation of a float kernel, the same in both paths.
inline float ApplyActivation(float v, Activation act) {
  switch (act) {
    case Activation::kRelu:
      return v > 0.f ? v : 0.f;
    case Activation::kRelu6:
      return std::min(std::max(v, 0.f), 6.f);
    case Activation::kReluN1To1:
      return std::min(std::max(v, -1.f), 1.f);
    default:
      return v;
  }
}

// ---- reference ----
// out[r][n] = act(bias[n] + sum_k in[r][k] * w[n][k]); w is N x K row-major; bias may be null.
void FullyConnectedFloatRef(const float* in, int rows, int k, const float* w, const float* bias,
                            int n, Activation act, float* out);
void FullyConnectedInt8Ref(const int8_t* in, int rows, int k, const int8_t* w, const int32_t* bias,
                           int n, const Int8Requant& rq, int8_t* out);

// ---- optimized ----
// Float: weights packed as [K][N rounded up to 16] (transposed, zero padded).
size_t PackedFloatWeightsSize(int k, int n);  // in floats
void PackFloatWeights(const float* w, int k, int n, float* packed);
void FullyConnectedFloatOpt(const float* in, int rows, int k, const float* packed,
                            const float* bias, int n, Activation act, float* out);

// Instruction sets of the optimized int8 kernel, chosen at run time (function multiversioning by
// target attributes: the library itself is built for the baseline ISA).
enum class Isa {
  kPortable,    // plain C++ (vectorized by the compiler for the baseline ISA)
  kAvx2,        // AVX2: vpmaddwd + vpaddd
  kAvx512Vnni,  // AVX512-VNNI + AVX512VL: EVEX vpdpwssd on 256-bit vectors (Ice Lake-SP, Zen 4...)
  kAvxVnni,     // AVX-VNNI: VEX vpdpwssd (Alder Lake, Sapphire Rapids, Zen 5...)
};
// The VNNI variants are the AVX2 kernel with vpmaddwd + vpaddd replaced by one vpdpwssd, which
// computes the same sum (no saturation; int8 products cannot overflow a lane).
Isa BestIsa();               // the best set this CPU supports
Isa BestIsa(Isa max);        // the best one it supports that is not above `max`
bool IsaSupported(Isa isa);  // whether this CPU can run `isa`
const char* IsaName(Isa isa);

// Int8: weights widened to int16 and packed in pairs of inputs, [ceil(K/2)][N rounded up to 8][2];
// the input zero point is folded into an effective bias (bias - zp * sum_k w). Bit-exact with
// FullyConnectedInt8Ref on every Isa.
size_t PackedInt8WeightsSize(int k, int n);  // in int16
void PackInt8Weights(const int8_t* w, int k, int n, int16_t* packed);
void EffectiveBias(const int8_t* w, const int32_t* bias, int k, int n, int32_t input_zero_point,
                   int32_t* eff_bias);
void FullyConnectedInt8Opt(const int8_t* in, int rows, int k, const int16_t* packed,
                           const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out);
// The same on a given instruction set (tests); falls back to the best supported one below it.
void FullyConnectedInt8Opt(const int8_t* in, int rows, int k, const int16_t* packed,
                           const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out,
                           Isa isa);

// Whether the optimized kernels use AVX2 on this CPU.
bool HasAvx2();

}  // namespace aiot::ml::kernels
