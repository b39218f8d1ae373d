#include "ml/runtime/kernels.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ml/data/random.h"
#include "ml/runtime/quant_util.h"

namespace aiot::ml::kernels {
namespace {

TEST(QuantUtilTest, MatchesTfliteArithmetic) {
  int32_t m;
  int shift;
  QuantizeMultiplier(0.5, &m, &shift);
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(shift, 0);
  QuantizeMultiplier(0.0001, &m, &shift);
  EXPECT_EQ(shift, -13);
  // x * 0.5 with round-half-away-from-zero on the doubling high mul, then round to nearest.
  EXPECT_EQ(MultiplyByQuantizedMultiplier(100, 1 << 30, 0), 50);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(101, 1 << 30, 0), 51);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-101, 1 << 30, 0), -50);  // nudge, then truncation
  // Ties round away from zero.
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);
  EXPECT_EQ(RoundingDivideByPOT(-6, 2), -2);
  EXPECT_EQ(RoundingDivideByPOT(-7, 2), -2);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
  // TFLITE_SINGLE_ROUNDING=1: one rounding, ties upwards; where double rounding is off by one.
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(100, 1 << 30, 0), 50);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(101, 1 << 30, 0), 51);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-101, 1 << 30, 0), -50);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-102, 1 << 30, -1), -25);
  // 43 * 0.75 * 2^-6 = 0.50390625, just above a tie: both variants round up.
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(43, 3 << 29, -6), 1);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(43, 3 << 29, -6), 1);
  // 2^-6 * (2^31 - 1) / 2^31 * 32 = 0.4999999998: single rounding gives 0, double rounding first
  // rounds to 0.5 (a multiple of 2^-6) and then away from zero.
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(32, INT32_MAX, -6), 0);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(32, INT32_MAX, -6), 1);
  EXPECT_EQ(QuantizeValue(2.5f, 1.0, 0), 3);
  EXPECT_EQ(QuantizeValue(-2.5f, 1.0, 0), -3);
  EXPECT_EQ(QuantizeValue(1000.f, 1.0, 0), 127);
  EXPECT_EQ(QuantizeValue(NAN, 1.0, 0), -128);
  EXPECT_EQ(QuantizeValue(INFINITY, 1.0, 0), 127);
  // The libm-free rounding equals std::round's (half away from zero) everywhere, ties included.
  Rng rng(9);
  for (int i = 0; i < 200000; ++i) {
    const double scale = i % 2 ? 0.5 : rng.Uniform(1e-4, 0.3);
    const auto v = static_cast<float>(i % 3 == 0 ? std::round(rng.Uniform(-400, 400)) / 2
                                                 : rng.Uniform(-60, 60));
    const auto zp = static_cast<int32_t>(rng.Below(256)) - 128;
    const double r = std::clamp(std::round(static_cast<double>(v) / scale), -1e6, 1e6);
    const int32_t want = std::clamp(static_cast<int32_t>(r) + zp, -128, 127);
    ASSERT_EQ(QuantizeValue(v, scale, zp), want) << v << " / " << scale << " + " << zp;
  }
}

// Which kernel variants this CPU runs (the others are covered on CPUs that have them; the VNNI
// variants differ from the AVX2 one only in the multiply-add instruction).
TEST(KernelIsa, IsasThisCpuRuns) {
  std::string ran;
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kAvxVnni}) {
    ran += std::string(IsaName(isa)) + (IsaSupported(isa) ? ": yes  " : ": no  ");
    if (IsaSupported(isa)) {
      EXPECT_EQ(BestIsa(isa), isa);
    } else {
      EXPECT_NE(BestIsa(isa), isa);
    }
  }
  std::printf("int8 kernel variants on this CPU: %s(best %s)\n", ran.c_str(), IsaName(BestIsa()));
  EXPECT_TRUE(IsaSupported(Isa::kPortable));
  EXPECT_TRUE(IsaSupported(BestIsa()));
  EXPECT_EQ(BestIsa(Isa::kPortable), Isa::kPortable);
}

struct Shape {
  int rows, k, n;
};

class KernelEquivalence : public ::testing::TestWithParam<Shape> {};

TEST_P(KernelEquivalence, Int8OptimizedEqualsReferenceExactly) {
  const Shape s = GetParam();
  Rng rng(static_cast<uint64_t>(s.rows * 1000 + s.k * 10 + s.n));
  for (int variant = 0; variant < 12; ++variant) {
    const bool single = variant >= 6;
    std::vector<int8_t> in(static_cast<size_t>(s.rows) * s.k), w(static_cast<size_t>(s.n) * s.k);
    for (auto& v : in) v = static_cast<int8_t>(static_cast<int>(rng.Below(256)) - 128);
    for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng.Below(255)) - 127);
    std::vector<int32_t> bias(s.n);
    for (auto& b : bias) b = static_cast<int32_t>(rng.Below(20001)) - 10000;
    // Variant 4: accumulators near the int32 limits (the fixed-point steps on extreme values).
    if (variant % 6 == 4) {
      for (auto& b : bias) b = static_cast<int32_t>(rng.Below(2000000001)) - 1000000000;
    }
    const int n8 = (s.n + 7) / 8 * 8;
    std::vector<int32_t> mult(n8, 0), shift(n8, 0);
    for (int o = 0; o < s.n; ++o) {
      int sh;
      // Variant 3: a multiplier above 1 (left shift); 5: per-channel, tiny to large right shifts.
      const double real = variant % 6 == 3   ? 1.5
                          : variant % 6 == 4 ? rng.Uniform(1e-9, 1e-6)
                          : variant % 6 == 5 ? std::ldexp(rng.Uniform(0.5, 1.0), -1 - o % 30)
                                             : rng.Uniform(1e-5, 0.02);
      QuantizeMultiplier(real, &mult[o], &sh);
      shift[o] = sh;
    }
    Int8Requant rq{mult.data(),
                   shift.data(),
                   static_cast<int32_t>(rng.Below(256)) - 128,
                   static_cast<int32_t>(rng.Below(256)) - 128,
                   -128,
                   127};
    rq.single_rounding = single;
    if (variant % 6 == 1) rq.act_min = rq.output_zero_point;  // fused RELU
    if (variant % 6 == 2) rq.act_min = -100, rq.act_max = 50;
    std::vector<int8_t> ref(static_cast<size_t>(s.rows) * s.n), opt(ref.size());
    FullyConnectedInt8Ref(in.data(), s.rows, s.k, w.data(), bias.data(), s.n, rq, ref.data());
    std::vector<int16_t> packed(PackedInt8WeightsSize(s.k, s.n));
    std::vector<int32_t> eff(n8);
    PackInt8Weights(w.data(), s.k, s.n, packed.data());
    EffectiveBias(w.data(), bias.data(), s.k, s.n, rq.input_zero_point, eff.data());
    for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kAvxVnni}) {
      if (!IsaSupported(isa)) continue;  // not on this CPU: see IsasThisCpuRuns
      std::fill(opt.begin(), opt.end(), int8_t{99});
      FullyConnectedInt8Opt(in.data(), s.rows, s.k, packed.data(), eff.data(), s.n, rq, opt.data(),
                            isa);
      ASSERT_EQ(ref, opt) << "variant " << variant << ", " << IsaName(isa);
    }
  }
}

TEST_P(KernelEquivalence, FloatOptimizedMatchesReference) {
  const Shape s = GetParam();
  Rng rng(static_cast<uint64_t>(s.rows * 7 + s.k * 3 + s.n));
  for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    std::vector<float> in(static_cast<size_t>(s.rows) * s.k), w(static_cast<size_t>(s.n) * s.k),
        bias(s.n);
    for (auto& v : in) v = static_cast<float>(rng.Uniform(-3, 3));
    for (auto& v : w) v = static_cast<float>(rng.Uniform(-1, 1));
    for (auto& v : bias) v = static_cast<float>(rng.Uniform(-1, 1));
    std::vector<float> ref(static_cast<size_t>(s.rows) * s.n), opt(ref.size(), -99.f);
    FullyConnectedFloatRef(in.data(), s.rows, s.k, w.data(), bias.data(), s.n, act, ref.data());
    std::vector<float> packed(PackedFloatWeightsSize(s.k, s.n));
    PackFloatWeights(w.data(), s.k, s.n, packed.data());
    FullyConnectedFloatOpt(in.data(), s.rows, s.k, packed.data(), bias.data(), s.n, act,
                           opt.data());
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(ref[i], opt[i], 1e-4f * (1.f + std::abs(ref[i]))) << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, KernelEquivalence,
                         ::testing::Values(Shape{1, 4, 60}, Shape{1, 60, 30}, Shape{1, 30, 10},
                                           Shape{1, 10, 1}, Shape{7, 5, 3}, Shape{9, 17, 70},
                                           Shape{32, 4, 60}, Shape{5, 1, 16}, Shape{3, 130, 129},
                                           Shape{8, 60, 30}, Shape{6, 2047, 5}, Shape{5, 2050, 9}));

}  // namespace
}  // namespace aiot::ml::kernels
