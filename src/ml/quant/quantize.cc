#include "ml/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/errc.h"
#include "ml/runtime/interpreter.h"

namespace aiot::ml {

namespace {

// The first contiguous chain of float FULLY_CONNECTED ops: ops [first, last], each feeding the
// next. FULLY_CONNECTED ops after it (an isotonic calibration on the score) stay float.
struct FcChain {
  int first = -1;
  int last = -1;
};

Result<FcChain> FindFcChain(const GraphSpec& fg) {
  FcChain c;
  for (size_t i = 0; i < fg.ops.size(); ++i) {
    if (fg.ops[i].op() == Op::kFullyConnected) {
      if (c.first < 0) c.first = static_cast<int>(i);
      c.last = static_cast<int>(i);
    } else if (c.first >= 0) {
      break;
    }
  }
  if (c.first < 0) return Status(errc::unsupported, "no FULLY_CONNECTED op to quantize");
  for (int i = c.first + 1; i <= c.last; ++i) {
    if (fg.ops[i].inputs[0] != fg.ops[i - 1].outputs[0]) {
      return Status(errc::unsupported, "FULLY_CONNECTED ops must feed each other");
    }
  }
  for (int i = c.first; i <= c.last; ++i) {
    for (int t : fg.ops[i].inputs) {
      if (t >= 0 && fg.tensors[t].type != TensorType::kFloat32) {
        return Status(errc::invalid_argument, "the model is already quantized");
      }
    }
  }
  return c;
}

// Observed [lo, hi] of every tensor (infinite bounds for tensors not watched).
struct Ranges {
  std::vector<float> lo;
  std::vector<float> hi;
};

// Runs the float graph over the calibration rows and records the range of the chain's input and
// of every FULLY_CONNECTED output.
Result<Ranges> Calibrate(const GraphSpec& fg, const FcChain& chain, const float* calibration,
                         size_t rows) {
  const int chunk = 256;
  InterpreterOptions io;
  io.max_batch = chunk;
  auto interp = Interpreter::Create(fg, io);
  if (!interp.ok()) {
    return Status(interp.error() == errc::unsupported ? errc::unsupported : errc::invalid_argument,
                  interp.status().message());
  }
  Interpreter& it = **interp;
  const size_t width = it.input(0).elements;
  Ranges r;
  r.lo.assign(fg.tensors.size(), std::numeric_limits<float>::infinity());
  r.hi.assign(fg.tensors.size(), -std::numeric_limits<float>::infinity());
  std::vector<int> watched = {fg.ops[chain.first].inputs[0]};
  for (int i = chain.first; i <= chain.last; ++i) watched.push_back(fg.ops[i].outputs[0]);
  for (size_t done = 0; done < rows; done += chunk) {
    const int n = static_cast<int>(std::min<size_t>(chunk, rows - done));
    auto in = it.input(0, n);
    std::copy_n(calibration + done * width, in.elements, in.f32());
    if (!it.Invoke(n).ok()) return Status(errc::internal, "calibration run failed");
    for (int t : watched) {
      auto v = it.tensor(t, n);
      for (size_t e = 0; e < v.elements; ++e) {
        r.lo[t] = std::min(r.lo[t], v.f32()[e]);
        r.hi[t] = std::max(r.hi[t], v.f32()[e]);
      }
    }
  }
  for (int t : watched) {
    if (!std::isfinite(r.lo[t]) || !std::isfinite(r.hi[t])) {
      return Status(errc::invalid_argument, "calibration produced non-finite values");
    }
  }
  return r;
}

// Makes tensor `t` of `q` an int8 activation covering its calibrated range.
void SetActivationQuant(GraphSpec& q, const Ranges& r, int t) {
  float scale;
  int32_t zp;
  ChooseQuantParams(r.lo[t], r.hi[t], &scale, &zp);
  q.tensors[t].type = TensorType::kInt8;
  q.tensors[t].quant.scale = {scale};
  q.tensors[t].quant.zero_point = {zp};
  q.tensors[t].quant.quantized_dimension = 0;
}

// Adds an int8 twin ("<name>/int8") of float tensor `t` with t's range; returns its index.
int AddInt8Twin(GraphSpec& q, Ranges& r, const GraphSpec& fg, int t) {
  TensorSpec twin = fg.tensors[t];
  twin.name += "/int8";
  q.tensors.push_back(std::move(twin));
  const int index = static_cast<int>(q.tensors.size() - 1);
  r.lo.push_back(r.lo[t]);
  r.hi.push_back(r.hi[t]);
  SetActivationQuant(q, r, index);
  return index;
}

// Symmetric int8 weights (per tensor or per output channel) in place of the float weights of
// tensor `wt`; returns the scales.
std::vector<float> QuantizeWeights(const GraphSpec& fg, int wt, bool per_channel, TensorSpec& w) {
  const int n = w.shape[0], k = w.shape[1];
  std::vector<float> wf(static_cast<size_t>(n) * k);
  std::copy_n(reinterpret_cast<const float*>(fg.tensors[wt].data.data()), wf.size(), wf.data());
  std::vector<float> wscale(per_channel ? n : 1, 0.f);
  for (int o = 0; o < n; ++o) {
    float& s = wscale[per_channel ? o : 0];
    for (int i2 = 0; i2 < k; ++i2) s = std::max(s, std::abs(wf[static_cast<size_t>(o) * k + i2]));
  }
  for (float& s : wscale) s = s > 0 ? s / 127.f : 1.f;
  std::vector<int8_t> wq(wf.size());
  for (int o = 0; o < n; ++o) {
    const float s = wscale[per_channel ? o : 0];
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
  return wscale;
}

// int32 bias of tensor `bt` with scale in_scale * weight scale, in place of the float bias.
void QuantizeBias(const GraphSpec& fg, int bt, int n, float in_scale,
                  const std::vector<float>& wscale, bool per_channel, TensorSpec& b) {
  const auto* bf = reinterpret_cast<const float*>(fg.tensors[bt].data.data());
  std::vector<int32_t> bq(n);
  std::vector<float> bscale(wscale.size());
  for (size_t s = 0; s < wscale.size(); ++s) bscale[s] = in_scale * wscale[s];
  for (int o = 0; o < n; ++o) {
    const double s = static_cast<double>(in_scale) * wscale[per_channel ? o : 0];
    bq[o] = static_cast<int32_t>(std::clamp(std::round(bf[o] / s), -2147483647.0, 2147483647.0));
  }
  b.type = TensorType::kInt32;
  b.data = ToBytes(bq);
  b.quant.scale = bscale;
  b.quant.zero_point.assign(bscale.size(), 0);
  b.quant.quantized_dimension = 0;
}

OpSpec ConversionOp(Op op, int in, int out) {
  OpSpec o;
  o.builtin_code = static_cast<int32_t>(op);
  o.version = 2;
  o.inputs = {in};
  o.outputs = {out};
  return o;
}

}  // namespace

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
  if (rows == 0) return Status(errc::invalid_argument, "calibration needs at least one row");
  auto chain = FindFcChain(fg);
  if (!chain.ok()) return chain.status();
  const int first = chain->first, last = chain->last;
  auto ranges = Calibrate(fg, *chain, calibration, rows);
  if (!ranges.ok()) return ranges.status();
  Ranges& r = *ranges;

  GraphSpec q = fg;
  // QUANTIZE: float chain input -> new int8 tensor. The chain's final output stays float for
  // downstream ops: the int8 version is a new tensor, DEQUANTIZE'd into it.
  const int float_in = fg.ops[first].inputs[0];
  const int int8_in = AddInt8Twin(q, r, fg, float_in);
  const int float_out = fg.ops[last].outputs[0];
  const int int8_out = AddInt8Twin(q, r, fg, float_out);

  std::vector<OpSpec> ops(fg.ops.begin(), fg.ops.begin() + first);
  ops.push_back(ConversionOp(Op::kQuantize, float_in, int8_in));
  for (int i = first; i <= last; ++i) {
    OpSpec op = fg.ops[i];
    op.version = options.per_channel ? 5 : 4;
    const int in = i == first ? int8_in : op.inputs[0];
    const int out = i == last ? int8_out : op.outputs[0];
    op.inputs[0] = in;
    op.outputs[0] = out;
    if (i != last) SetActivationQuant(q, r, out);
    const float in_scale = q.tensors[in].quant.scale[0];
    const int wt = op.inputs[1];
    const std::vector<float> wscale = QuantizeWeights(fg, wt, options.per_channel, q.tensors[wt]);
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
      const int bt = op.inputs[2];
      QuantizeBias(fg, bt, q.tensors[wt].shape[0], in_scale, wscale, options.per_channel,
                   q.tensors[bt]);
    }
    ops.push_back(op);
  }
  ops.push_back(ConversionOp(Op::kDequantize, int8_out, float_out));
  ops.insert(ops.end(), fg.ops.begin() + last + 1, fg.ops.end());
  q.ops = std::move(ops);
  return q;
}

}  // namespace aiot::ml
