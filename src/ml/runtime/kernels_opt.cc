#include <algorithm>
#include <cstring>
#include <iterator>

#include "ml/runtime/kernels.h"
#include "ml/runtime/quant_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define AIOT_ML_X86 1
#endif

namespace aiot::ml::kernels {
namespace {

constexpr int RoundUp(int v, int m) { return (v + m - 1) / m * m; }

// Deepest int8 FULLY_CONNECTED the x86 kernels widen on the stack (4 rows x 2048 int16 = 16 KiB);
// deeper layers take the portable path.
constexpr int kMaxInt8Depth = 2048;

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
      acc = rq.single_rounding
                ? MultiplyByQuantizedMultiplierSingleRounding(acc, rq.multiplier[o], rq.shift[o])
                : MultiplyByQuantizedMultiplier(acc, rq.multiplier[o], rq.shift[o]);
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
  _Pragma("GCC unroll 8") for (int v = 0; v < V; ++v) {
    const int base = o0 + 8 * v;
    __m256 b = _mm256_setzero_ps();
    if (bias && base < n) b = _mm256_maskload_ps(bias + base, TailMask(n - base));
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  for (int i = 0; i < k; ++i) {
    const float* wr = packed + static_cast<ptrdiff_t>(i) * n16 + o0;
    __m256 w[V];
    _Pragma("GCC unroll 8") for (int v = 0; v < V; ++v) w[v] = _mm256_loadu_ps(wr + 8 * v);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(in + static_cast<ptrdiff_t>(r) * k + i);
      _Pragma("GCC unroll 8") for (int v = 0; v < V; ++v) acc[r][v] =
          _mm256_fmadd_ps(x, w[v], acc[r][v]);
    }
  }
  _Pragma("GCC unroll 8") for (int v = 0; v < V; ++v) {
    const int base = o0 + 8 * v;
    if (base >= n) break;
    const __m256i mask = TailMask(n - base);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
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

bool DetectIsa(Isa isa) {
  __builtin_cpu_init();
  if (isa == Isa::kPortable) return true;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
  switch (isa) {
    case Isa::kAvx2:
      return true;
    case Isa::kAvx512Vnni:
      // GCC's check includes the OS saving the AVX-512 state (XCR0).
      return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    case Isa::kAvxVnni: {
      // AVX-VNNI (VEX-encoded vpdpwssd): CPUID leaf 7, sub-leaf 1, EAX bit 4. The OS saves the
      // ymm state (checked by __builtin_cpu_supports("avx2")).
      unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
      return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4)) != 0;
    }
    default:
      return false;
  }
}

#endif  // AIOT_ML_X86

}  // namespace

#if defined(AIOT_ML_X86)
namespace int8_avx2 {
#define AIOT_ML_INT8_TARGET "avx2,fma"
#define AIOT_ML_INT8_VNNI 0
#include "ml/runtime/kernels_int8_x86.inc"
#undef AIOT_ML_INT8_TARGET
#undef AIOT_ML_INT8_VNNI
}  // namespace int8_avx2

namespace int8_avx512vnni {
#define AIOT_ML_INT8_TARGET "avx2,fma,avx512vnni,avx512vl"
#define AIOT_ML_INT8_VNNI 2
#include "ml/runtime/kernels_int8_x86.inc"
#undef AIOT_ML_INT8_TARGET
#undef AIOT_ML_INT8_VNNI
}  // namespace int8_avx512vnni

namespace int8_avxvnni {
#define AIOT_ML_INT8_TARGET "avx2,fma,avxvnni"
#define AIOT_ML_INT8_VNNI 1
#include "ml/runtime/kernels_int8_x86.inc"
#undef AIOT_ML_INT8_TARGET
#undef AIOT_ML_INT8_VNNI
}  // namespace int8_avxvnni
#endif  // AIOT_ML_X86

bool IsaSupported(Isa isa) {
#if defined(AIOT_ML_X86)
  static const bool supported[] = {DetectIsa(Isa::kPortable), DetectIsa(Isa::kAvx2),
                                   DetectIsa(Isa::kAvx512Vnni), DetectIsa(Isa::kAvxVnni)};
  const auto i = static_cast<size_t>(isa);
  return i < std::size(supported) && supported[i];
#else
  return isa == Isa::kPortable;
#endif
}

Isa BestIsa(Isa max) {
  for (Isa isa : {Isa::kAvxVnni, Isa::kAvx512Vnni, Isa::kAvx2}) {
    if (isa <= max && IsaSupported(isa)) return isa;
  }
  return Isa::kPortable;
}

Isa BestIsa() {
  static const Isa best = BestIsa(Isa::kAvxVnni);
  return best;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512Vnni:
      return "avx512-vnni";
    case Isa::kAvxVnni:
      return "avx-vnni";
    default:
      return "portable";
  }
}

bool HasAvx2() { return BestIsa() != Isa::kPortable; }

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
                           const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out,
                           Isa isa) {
#if defined(AIOT_ML_X86)
  if (isa == Isa::kAvxVnni && IsaSupported(Isa::kAvxVnni) &&
      int8_avxvnni::FcInt8(in, rows, k, packed, eff_bias, n, rq, out)) {
    return;
  }
  if (isa == Isa::kAvx512Vnni && IsaSupported(Isa::kAvx512Vnni) &&
      int8_avx512vnni::FcInt8(in, rows, k, packed, eff_bias, n, rq, out)) {
    return;
  }
  if (isa != Isa::kPortable && IsaSupported(Isa::kAvx2) &&
      int8_avx2::FcInt8(in, rows, k, packed, eff_bias, n, rq, out)) {
    return;
  }
#else
  (void)isa;
#endif
  FcInt8Portable(in, rows, k, packed, eff_bias, n, rq, out);
}

void FullyConnectedInt8Opt(const int8_t* in, int rows, int k, const int16_t* packed,
                           const int32_t* eff_bias, int n, const Int8Requant& rq, int8_t* out) {
  FullyConnectedInt8Opt(in, rows, k, packed, eff_bias, n, rq, out, BestIsa());
}

}  // namespace aiot::ml::kernels
