#include "ml/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/errc.h"
#include "ml/runtime/interpreter.h"

namespace aiot::ml {

void ChooseQuantParams(float min, float max, float* scale, int32_t* zero_point) {
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  if (max - min < 1e-8f) max = min + 1e-8f;
  const double s = (static_cast<double>(max) - min) / 255.0;
  // Nudge the zero point to an integer so that real 0 is exactly representable.
  const double zp = -128.0 - min / s;
  *scale = static_cast<float>(s);
  *zero_point = static_cast<int32_t>(std::clamp(std::round(zp), -128.0, 127.0));
}

Result<GraphSpec> QuantizeGraph(const GraphSpec& fg, const float* calibration, size_t rows,
                                const QuantizeOptions& options) {
  auto fail = [](errc e, std::string msg) { return Status(e, std::move(msg)); };
  if (rows == 0) return fail(errc::invalid_argument, "calibration needs at least one row");
  // Find the contiguous chain of float FULLY_CONNECTED ops.
  int first = -1, last = -1;
  for (size_t i = 0; i < fg.ops.size(); ++i) {
    if (fg.ops[i].op() == Op::kFullyConnected) {
      if (first < 0) first = static_cast<int>(i);
      if (last >= 0 && last != static_cast<int>(i) - 1) {
        return fail(errc::unsupported, "FULLY_CONNECTED ops must form one chain");
      }
      last = static_cast<int>(i);
    }
  }
  if (first < 0) return fail(errc::unsupported, "no FULLY_CONNECTED op to quantize");
  for (int i = first + 1; i <= last; ++i) {
    if (fg.ops[i].inputs[0] != fg.ops[i - 1].outputs[0]) {
      return fail(errc::unsupported, "FULLY_CONNECTED ops must feed each other");
    }
  }
  for (int i = first; i <= last; ++i) {
    for (int t : fg.ops[i].inputs) {
      if (t >= 0 && fg.tensors[t].type != TensorType::kFloat32) {
        return fail(errc::invalid_argument, "the model is already quantized");
      }
    }
  }

  // Calibrate: run the float graph and record the range of every FC input and output.
  const int chunk = 256;
  InterpreterOptions io;
  io.max_batch = chunk;
  auto interp = Interpreter::Create(fg, io);
  if (!interp.ok())
    return fail(interp.error() == errc::unsupported ? errc::unsupported : errc::invalid_argument,
                interp.status().message());
  Interpreter& it = **interp;
  const size_t width = it.input(0).elements;
  std::vector<float> lo(fg.tensors.size(), std::numeric_limits<float>::infinity());
  std::vector<float> hi(fg.tensors.size(), -std::numeric_limits<float>::infinity());
  std::vector<int> watched = {fg.ops[first].inputs[0]};
  for (int i = first; i <= last; ++i) watched.push_back(fg.ops[i].outputs[0]);
  for (size_t done = 0; done < rows; done += chunk) {
    const int n = static_cast<int>(std::min<size_t>(chunk, rows - done));
    auto in = it.input(0, n);
    std::copy_n(calibration + done * width, in.elements, in.f32());
    if (!it.Invoke(n).ok()) return fail(errc::internal, "calibration run failed");
    for (int t : watched) {
      auto v = it.tensor(t, n);
      for (size_t e = 0; e < v.elements; ++e) {
        lo[t] = std::min(lo[t], v.f32()[e]);
        hi[t] = std::max(hi[t], v.f32()[e]);
      }
    }
  }
  for (int t : watched) {
    if (!std::isfinite(lo[t]) || !std::isfinite(hi[t])) {
      return fail(errc::invalid_argument, "calibration produced non-finite values");
    }
  }

  GraphSpec q = fg;
  auto add = [&](TensorSpec t) {
    q.tensors.push_back(std::move(t));
    return static_cast<int32_t>(q.tensors.size() - 1);
  };
  auto set_act_quant = [&](int t) {
    float scale;
    int32_t zp;
    ChooseQuantParams(lo[t], hi[t], &scale, &zp);
    q.tensors[t].type = TensorType::kInt8;
    q.tensors[t].quant.scale = {scale};
    q.tensors[t].quant.zero_point = {zp};
    q.tensors[t].quant.quantized_dimension = 0;
  };
  // QUANTIZE: float chain input -> new int8 tensor.
  const int float_in = fg.ops[first].inputs[0];
  TensorSpec qin = fg.tensors[float_in];
  qin.name += "/int8";
  const int int8_in = add(qin);
  lo.push_back(lo[float_in]);
  hi.push_back(hi[float_in]);
  set_act_quant(int8_in);
  // The chain's final output stays float for downstream ops: the int8 version is a new tensor.
  const int float_out = fg.ops[last].outputs[0];
  TensorSpec qout = fg.tensors[float_out];
  qout.name += "/int8";
  const int int8_out = add(qout);
  lo.push_back(lo[float_out]);
  hi.push_back(hi[float_out]);
  set_act_quant(int8_out);

  std::vector<OpSpec> ops(fg.ops.begin(), fg.ops.begin() + first);
  OpSpec quant_op;
  quant_op.builtin_code = static_cast<int32_t>(Op::kQuantize);
  quant_op.version = 2;
  quant_op.inputs = {float_in};
  quant_op.outputs = {int8_in};
  ops.push_back(quant_op);
  for (int i = first; i <= last; ++i) {
    OpSpec op = fg.ops[i];
    op.version = options.per_channel ? 5 : 4;
    const int in = i == first ? int8_in : op.inputs[0];
    const int out = i == last ? int8_out : op.outputs[0];
    op.inputs[0] = in;
    op.outputs[0] = out;
    if (i != last) set_act_quant(out);
    const float in_scale = q.tensors[in].quant.scale[0];
    // Weights.
    const int wt = op.inputs[1];
    TensorSpec& w = q.tensors[wt];
    const int n = w.shape[0], k = w.shape[1];
    std::vector<float> wf(static_cast<size_t>(n) * k);
    std::copy_n(reinterpret_cast<const float*>(fg.tensors[wt].data.data()), wf.size(), wf.data());
    std::vector<float> wscale(options.per_channel ? n : 1, 0.f);
    for (int o = 0; o < n; ++o) {
      float& s = wscale[options.per_channel ? o : 0];
      for (int i2 = 0; i2 < k; ++i2) s = std::max(s, std::abs(wf[static_cast<size_t>(o) * k + i2]));
    }
    for (float& s : wscale) s = s > 0 ? s / 127.f : 1.f;
    std::vector<int8_t> wq(wf.size());
    for (int o = 0; o < n; ++o) {
      const float s = wscale[options.per_channel ? o : 0];
      for (int i2 = 0; i2 < k; ++i2) {
        const size_t idx = static_cast<size_t>(o) * k + i2;
        wq[idx] = static_cast<int8_t>(std::clamp(std::round(wf[idx] / s), -127.f, 127.f));
      }
    }
    w.type = TensorType::kInt8;
    w.data = ToBytes(wq);
    w.quant.scale = wscale;
    w.quant.zero_point.assign(wscale.size(), 0);
    w.quant.quantized_dimension = 0;
    // Bias.
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
      const int bt = op.inputs[2];
      TensorSpec& b = q.tensors[bt];
      const auto* bf = reinterpret_cast<const float*>(fg.tensors[bt].data.data());
      std::vector<int32_t> bq(n);
      std::vector<float> bscale(wscale.size());
      for (size_t s = 0; s < wscale.size(); ++s) bscale[s] = in_scale * wscale[s];
      for (int o = 0; o < n; ++o) {
        const double s = static_cast<double>(in_scale) * wscale[options.per_channel ? o : 0];
        bq[o] =
            static_cast<int32_t>(std::clamp(std::round(bf[o] / s), -2147483647.0, 2147483647.0));
      }
      b.type = TensorType::kInt32;
      b.data = ToBytes(bq);
      b.quant.scale = bscale;
      b.quant.zero_point.assign(bscale.size(), 0);
      b.quant.quantized_dimension = 0;
    }
    ops.push_back(op);
  }
  OpSpec deq;
  deq.builtin_code = static_cast<int32_t>(Op::kDequantize);
  deq.version = 2;
  deq.inputs = {int8_out};
  deq.outputs = {float_out};
  ops.push_back(deq);
  ops.insert(ops.end(), fg.ops.begin() + last + 1, fg.ops.end());
  q.ops = std::move(ops);
  return q;
}

}  // namespace aiot::ml
