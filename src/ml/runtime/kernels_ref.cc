#include <algorithm>

#include "ml/runtime/kernels.h"
#include "ml/runtime/quant_util.h"

namespace aiot::ml::kernels {

void FullyConnectedFloatRef(const float* in, int rows, int k, const float* w, const float* bias,
                            int n, Activation act, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* x = in + static_cast<ptrdiff_t>(r) * k;
    for (int o = 0; o < n; ++o) {
      float acc = 0.f;
      const float* wr = w + static_cast<ptrdiff_t>(o) * k;
      for (int i = 0; i < k; ++i) acc += x[i] * wr[i];
      if (bias) acc += bias[o];
      out[static_cast<ptrdiff_t>(r) * n + o] = ApplyActivation(acc, act);
    }
  }
}

void FullyConnectedInt8Ref(const int8_t* in, int rows, int k, const int8_t* w, const int32_t* bias,
                           int n, const Int8Requant& rq, int8_t* out) {
  const int32_t input_offset = -rq.input_zero_point;
  for (int r = 0; r < rows; ++r) {
    const int8_t* x = in + static_cast<ptrdiff_t>(r) * k;
    for (int o = 0; o < n; ++o) {
      int32_t acc = 0;
      const int8_t* wr = w + static_cast<ptrdiff_t>(o) * k;
      for (int i = 0; i < k; ++i) acc += (x[i] + input_offset) * wr[i];
      if (bias) acc += bias[o];
      acc = rq.single_rounding
                ? MultiplyByQuantizedMultiplierSingleRounding(acc, rq.multiplier[o], rq.shift[o])
                : MultiplyByQuantizedMultiplier(acc, rq.multiplier[o], rq.shift[o]);
      acc += rq.output_zero_point;
      acc = std::clamp(acc, rq.act_min, rq.act_max);
      out[static_cast<ptrdiff_t>(r) * n + o] = static_cast<int8_t>(acc);
    }
  }
}

}  // namespace aiot::ml::kernels
