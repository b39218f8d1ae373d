#include <algorithm>
#include <cstring>

#include "ml/runtime/kernels.h"
#include "ml/runtime/quant_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AIOT_ML_X86 1
#endif

namespace aiot::ml::kernels {
namespace {

constexpr int RoundUp(int v, int m) { return (v + m - 1) / m * m; }

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

inline void ActivationBounds(Activation act, float* lo, float* hi) {
  *lo = -__builtin_huge_valf();
  *hi = __builtin_huge_valf();
  if (act == Activation::kRelu) *lo = 0.f;
  if (act == Activation::kRelu6) *lo = 0.f, *hi = 6.f;
  if (act == Activation::kReluN1To1) *lo = -1.f, *hi = 1.f;
}

// ---- portable paths (the compiler vectorizes the inner loops with the baseline ISA) ----

void FcFloatPortable(const float* in, int rows, int k, const float* packed, const float* bias,
                     int n, Activation act, float* out) {
  const int n16 = RoundUp(n, 16);
  constexpr int kBlock = 64;
  float acc[kBlock];
  for (int r = 0; r < rows; ++r) {
    const float* x = in + static_cast<ptrdiff_t>(r) * k;
    float* y = out + static_cast<ptrdiff_t>(r) * n;
    for (int o0 = 0; o0 < n16; o0 += kBlock) {
      const int width = std::min(kBlock, n16 - o0);
      for (int j = 0; j < width; ++j) acc[j] = 0.f;
      for (int i = 0; i < k; ++i) {
        const float xi = x[i];
        const float* wr = packed + static_cast<ptrdiff_t>(i) * n16 + o0;
        for (int j = 0; j < width; ++j) acc[j] += xi * wr[j];
      }
      const int valid = std::min(width, n - o0);
      for (int j = 0; j < valid; ++j) {
        y[o0 + j] = ApplyActivation(acc[j] + (bias ? bias[o0 + j] : 0.f), act);
      }
    }
  }
}

void FcInt8Portable(const int8_t* in, int rows, int k, const int16_t* packed,
                    const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out) {
  const int n8 = RoundUp(n, 8);
  const int k2 = (k + 1) / 2;
  for (int r = 0; r < rows; ++r) {
    const int8_t* x = in + static_cast<ptrdiff_t>(r) * k;
    for (int o = 0; o < n; ++o) {
      int32_t acc = eff_bias[o];
      for (int p = 0; p < k2; ++p) {
        const int16_t* w = packed + (static_cast<ptrdiff_t>(p) * n8 + o) * 2;
        const int32_t x1 = 2 * p + 1 < k ? x[2 * p + 1] : 0;
        acc += x[2 * p] * w[0] + x1 * w[1];
      }
      acc = MultiplyByQuantizedMultiplier(acc, rq.multiplier[o], rq.shift[o]);
      acc = std::clamp(acc + rq.output_zero_point, rq.act_min, rq.act_max);
      out[static_cast<ptrdiff_t>(r) * n + o] = static_cast<int8_t>(acc);
    }
  }
}

#if defined(AIOT_ML_X86)

// ---- AVX2 + FMA paths, selected at run time ----

__attribute__((target("avx2,fma"))) inline __m256i TailMask(int valid) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lanes);
}

// R rows x V vectors of 8 outputs per block.
template <int R, int V>
__attribute__((target("avx2,fma"))) inline void FcFloatBlock(const float* in, int k,
                                                             const float* packed, int n16,
                                                             const float* bias, int n, int o0,
                                                             __m256 lo, __m256 hi, float* out) {
  __m256 acc[R][V];
  for (int v = 0; v < V; ++v) {
    const int base = o0 + 8 * v;
    __m256 b = _mm256_setzero_ps();
    if (bias && base < n) b = _mm256_maskload_ps(bias + base, TailMask(n - base));
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  for (int i = 0; i < k; ++i) {
    const float* wr = packed + static_cast<ptrdiff_t>(i) * n16 + o0;
    __m256 w[V];
    for (int v = 0; v < V; ++v) w[v] = _mm256_loadu_ps(wr + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(in + static_cast<ptrdiff_t>(r) * k + i);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(x, w[v], acc[r][v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    const int base = o0 + 8 * v;
    if (base >= n) break;
    const __m256i mask = TailMask(n - base);
    for (int r = 0; r < R; ++r) {
      __m256 y = _mm256_min_ps(_mm256_max_ps(acc[r][v], lo), hi);
      _mm256_maskstore_ps(out + static_cast<ptrdiff_t>(r) * n + base, mask, y);
    }
  }
}

__attribute__((target("avx2,fma"))) void FcFloatAvx2(const float* in, int rows, int k,
                                                     const float* packed, const float* bias, int n,
                                                     Activation act, float* out) {
  const int n16 = RoundUp(n, 16);
  float flo, fhi;
  ActivationBounds(act, &flo, &fhi);
  const __m256 lo = _mm256_set1_ps(flo), hi = _mm256_set1_ps(fhi);
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* x = in + static_cast<ptrdiff_t>(r) * k;
    float* y = out + static_cast<ptrdiff_t>(r) * n;
    for (int o0 = 0; o0 < n16; o0 += 16)
      FcFloatBlock<4, 2>(x, k, packed, n16, bias, n, o0, lo, hi, y);
  }
  for (; r < rows; ++r) {
    const float* x = in + static_cast<ptrdiff_t>(r) * k;
    float* y = out + static_cast<ptrdiff_t>(r) * n;
    int o0 = 0;
    for (; o0 + 64 <= n16; o0 += 64) FcFloatBlock<1, 8>(x, k, packed, n16, bias, n, o0, lo, hi, y);
    for (; o0 < n16; o0 += 16) FcFloatBlock<1, 2>(x, k, packed, n16, bias, n, o0, lo, hi, y);
  }
}

// SaturatingRoundingDoublingHighMul on the even 32-bit lanes (results in the low halves of the
// 64-bit lanes). The saturating case (both INT32_MIN) cannot occur: multipliers are positive.
__attribute__((target("avx2,fma"))) inline __m256i HighMulEven(__m256i a, __m256i b) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i p = _mm256_mul_epi32(a, b);
  const __m256i neg = _mm256_cmpgt_epi64(zero, p);
  const __m256i nudge =
      _mm256_blendv_epi8(_mm256_set1_epi64x(1LL << 30), _mm256_set1_epi64x(1 - (1LL << 30)), neg);
  const __m256i t = _mm256_add_epi64(p, nudge);
  const __m256i tneg = _mm256_cmpgt_epi64(zero, t);
  const __m256i abs = _mm256_sub_epi64(_mm256_xor_si256(t, tneg), tneg);
  const __m256i q = _mm256_srli_epi64(abs, 31);
  return _mm256_sub_epi64(_mm256_xor_si256(q, tneg), tneg);  // truncating division by 2^31
}

// Eight lanes of TFLite's MultiplyByQuantizedMultiplier, bit-exact.
__attribute__((target("avx2,fma"))) inline __m256i Requantize(__m256i x, __m256i mult, __m256i left,
                                                              __m256i right) {
  const __m256i zero = _mm256_setzero_si256();
  x = _mm256_sllv_epi32(x, left);
  const __m256i even = HighMulEven(x, mult);
  const __m256i odd = HighMulEven(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
  __m256i h = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  const __m256i remainder = _mm256_and_si256(h, mask);
  const __m256i threshold = _mm256_add_epi32(_mm256_srai_epi32(mask, 1),
                                             _mm256_and_si256(_mm256_cmpgt_epi32(zero, h), one));
  return _mm256_add_epi32(_mm256_srav_epi32(h, right),
                          _mm256_and_si256(_mm256_cmpgt_epi32(remainder, threshold), one));
}

inline uint32_t Int8Pair(const int8_t* x, int i, int k) {
  const int32_t hi = i + 1 < k ? x[i + 1] : 0;
  return static_cast<uint16_t>(static_cast<int16_t>(x[i])) |
         (static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(hi))) << 16);
}

// R rows x V vectors of 8 outputs: int32 accumulation with madd over input pairs, then TFLite's
// requantization on 8 lanes at a time.
template <int R, int V>
__attribute__((target("avx2,fma"))) inline void FcInt8Block(const int8_t* in, int k,
                                                            const int16_t* packed, int n8,
                                                            const int32_t* eff_bias, int n, int o0,
                                                            const Int8Requant& rq, int8_t* out) {
  __m256i acc[R][V];
  for (int v = 0; v < V; ++v) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(eff_bias + o0 + 8 * v));
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  const int k2 = (k + 1) / 2;
  for (int p = 0; p < k2; ++p) {
    const int16_t* wr = packed + (static_cast<ptrdiff_t>(p) * n8 + o0) * 2;
    if constexpr (R == 1) {
      // One row: load each weight vector where it is used (8 accumulators + 8 preloaded weights
      // would not fit in the 16 ymm registers).
      const __m256i xv = _mm256_set1_epi32(static_cast<int32_t>(Int8Pair(in, 2 * p, k)));
      for (int v = 0; v < V; ++v) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 16 * v));
        acc[0][v] = _mm256_add_epi32(acc[0][v], _mm256_madd_epi16(w, xv));
      }
      continue;
    }
    __m256i w[V];
    for (int v = 0; v < V; ++v)
      w[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 16 * v));
    for (int r = 0; r < R; ++r) {
      const __m256i xv = _mm256_set1_epi32(
          static_cast<int32_t>(Int8Pair(in + static_cast<ptrdiff_t>(r) * k, 2 * p, k)));
      for (int v = 0; v < V; ++v)
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(w[v], xv));
    }
  }
  const __m256i zp = _mm256_set1_epi32(rq.output_zero_point);
  const __m256i lo = _mm256_set1_epi32(rq.act_min), hi = _mm256_set1_epi32(rq.act_max);
  const __m256i zero = _mm256_setzero_si256();
  for (int v = 0; v < V; ++v) {
    const int base = o0 + 8 * v;
    if (base >= n) break;
    const __m256i mult = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.multiplier + base));
    const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.shift + base));
    const __m256i left = _mm256_max_epi32(shift, zero);
    const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    const int valid = std::min(8, n - base);
    for (int r = 0; r < R; ++r) {
      __m256i q = Requantize(acc[r][v], mult, left, right);
      q = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(q, zp), lo), hi);
      // Values are already in [-128, 127]: the saturating packs are exact.
      const __m256i p16 = _mm256_packs_epi32(q, q);
      const __m256i p8 = _mm256_packs_epi16(p16, p16);
      const uint32_t first = static_cast<uint32_t>(_mm256_extract_epi32(p8, 0));
      const uint32_t second = static_cast<uint32_t>(_mm256_extract_epi32(p8, 4));
      int8_t* y = out + static_cast<ptrdiff_t>(r) * n + base;
      if (valid == 8) {
        std::memcpy(y, &first, 4);
        std::memcpy(y + 4, &second, 4);
      } else {
        int8_t tmp[8];
        std::memcpy(tmp, &first, 4);
        std::memcpy(tmp + 4, &second, 4);
        for (int j = 0; j < valid; ++j) y[j] = tmp[j];
      }
    }
  }
}

__attribute__((target("avx2,fma"))) void FcInt8Avx2(const int8_t* in, int rows, int k,
                                                    const int16_t* packed, const int32_t* eff_bias,
                                                    int n, const Int8Requant& rq, int8_t* out) {
  const int n8 = RoundUp(n, 8);
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    const int8_t* x = in + static_cast<ptrdiff_t>(r) * k;
    int8_t* y = out + static_cast<ptrdiff_t>(r) * n;
    int o0 = 0;
    for (; o0 + 16 <= n8; o0 += 16) FcInt8Block<4, 2>(x, k, packed, n8, eff_bias, n, o0, rq, y);
    for (; o0 < n8; o0 += 8) FcInt8Block<4, 1>(x, k, packed, n8, eff_bias, n, o0, rq, y);
  }
  for (; r < rows; ++r) {
    const int8_t* x = in + static_cast<ptrdiff_t>(r) * k;
    int8_t* y = out + static_cast<ptrdiff_t>(r) * n;
    int o0 = 0;
    for (; o0 + 64 <= n8; o0 += 64) FcInt8Block<1, 8>(x, k, packed, n8, eff_bias, n, o0, rq, y);
    for (; o0 + 32 <= n8; o0 += 32) FcInt8Block<1, 4>(x, k, packed, n8, eff_bias, n, o0, rq, y);
    for (; o0 < n8; o0 += 8) FcInt8Block<1, 1>(x, k, packed, n8, eff_bias, n, o0, rq, y);
  }
}

bool DetectAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#endif  // AIOT_ML_X86

}  // namespace

bool HasAvx2() {
#if defined(AIOT_ML_X86)
  static const bool has = DetectAvx2();
  return has;
#else
  return false;
#endif
}

size_t PackedFloatWeightsSize(int k, int n) {
  return static_cast<size_t>(k) * static_cast<size_t>(RoundUp(n, 16));
}

void PackFloatWeights(const float* w, int k, int n, float* packed) {
  const int n16 = RoundUp(n, 16);
  for (int i = 0; i < k; ++i) {
    for (int o = 0; o < n16; ++o) {
      packed[static_cast<size_t>(i) * n16 + o] = o < n ? w[static_cast<size_t>(o) * k + i] : 0.f;
    }
  }
}

void FullyConnectedFloatOpt(const float* in, int rows, int k, const float* packed,
                            const float* bias, int n, Activation act, float* out) {
#if defined(AIOT_ML_X86)
  if (HasAvx2()) return FcFloatAvx2(in, rows, k, packed, bias, n, act, out);
#endif
  FcFloatPortable(in, rows, k, packed, bias, n, act, out);
}

size_t PackedInt8WeightsSize(int k, int n) {
  return static_cast<size_t>((k + 1) / 2) * static_cast<size_t>(RoundUp(n, 8)) * 2;
}

void PackInt8Weights(const int8_t* w, int k, int n, int16_t* packed) {
  const int n8 = RoundUp(n, 8);
  const int k2 = (k + 1) / 2;
  for (int p = 0; p < k2; ++p) {
    for (int o = 0; o < n8; ++o) {
      for (int j = 0; j < 2; ++j) {
        const int i = 2 * p + j;
        packed[(static_cast<size_t>(p) * n8 + o) * 2 + j] =
            (o < n && i < k) ? w[static_cast<size_t>(o) * k + i] : 0;
      }
    }
  }
}

void EffectiveBias(const int8_t* w, const int32_t* bias, int k, int n, int32_t input_zero_point,
                   int32_t* eff_bias) {
  for (int o = 0; o < RoundUp(n, 8); ++o) {
    if (o >= n) {
      eff_bias[o] = 0;
      continue;
    }
    int32_t sum = 0;
    for (int i = 0; i < k; ++i) sum += w[static_cast<size_t>(o) * k + i];
    eff_bias[o] = (bias ? bias[o] : 0) - input_zero_point * sum;
  }
}

void FullyConnectedInt8Opt(const int8_t* in, int rows, int k, const int16_t* packed,
                           const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out) {
#if defined(AIOT_ML_X86)
  if (HasAvx2()) return FcInt8Avx2(in, rows, k, packed, eff_bias, n, rq, out);
#endif
  FcInt8Portable(in, rows, k, packed, eff_bias, n, rq, out);
}

}  // namespace aiot::ml::kernels
