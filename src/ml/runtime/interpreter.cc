#include "ml/runtime/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "base/errc.h"
#include "ml/runtime/quant_util.h"

namespace aiot::ml {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMaxElements = size_t{1} << 26;
constexpr size_t kMaxArena = size_t{1} << 30;

size_t AlignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
int RoundUp(int v, int m) { return (v + m - 1) / m * m; }

enum class Kind {
  kFcFloat,
  kFcInt8,
  kBinary,
  kLogistic,
  kSoftmax,
  kRelu,
  kRelu6,
  kQuantize,
  kDequantize,
  kCopy,
};

}  // namespace

struct Interpreter::Tensor {
  TensorType type = TensorType::kFloat32;
  std::vector<int32_t> shape;
  size_t elements = 0;  // per batch item (constants: total)
  bool constant = false;
  size_t offset = 0;
  void* data = nullptr;
  float scale = 0;
  int32_t zero_point = 0;
};

struct Interpreter::Node {
  Kind kind = Kind::kCopy;
  Op op = Op::kAdd;
  int in = -1, in2 = -1, out = -1;
  Activation act = Activation::kNone;
  bool reference = false;
  kernels::Isa isa = kernels::Isa::kPortable;
  // FULLY_CONNECTED
  int k = 0, n = 0, rows_per_item = 0;
  int weights = -1, bias = -1;
  size_t packed_offset = 0, bias_offset = 0, mult_offset = 0, shift_offset = 0;
  void* packed = nullptr;
  int32_t* eff_bias = nullptr;
  int32_t* multiplier = nullptr;
  int32_t* shift = nullptr;
  kernels::Int8Requant rq{};
  // ADD / SUB / MUL: in2 is broadcast over `in` with period `period` (1 = scalar, equal = same).
  size_t period = 0;
  bool reversed = false;  // SUB computes in2 - in
  float beta = 1.f;
  // QUANTIZE / DEQUANTIZE
  double scale = 0;
  int32_t zero_point = 0;
};

Interpreter::~Interpreter() { std::free(arena_); }

size_t Interpreter::num_tensors() const { return tensors_.size(); }

TensorView Interpreter::View(int index, int batch) const {
  const Tensor& t = tensors_[index];
  TensorView v;
  v.type = t.type;
  v.data = t.data;
  v.dims = t.shape.data();
  v.rank = t.shape.size();
  v.elements = t.constant ? t.elements : t.elements * static_cast<size_t>(batch);
  v.scale = t.scale;
  v.zero_point = t.zero_point;
  return v;
}

Result<std::unique_ptr<Interpreter>> Interpreter::Create(const GraphSpec& g,
                                                         const InterpreterOptions& options) {
  auto fail = [](errc e, std::string msg) { return Status(e, std::move(msg)); };
  if (options.max_batch < 1 || options.max_batch > 1 << 20) {
    return fail(errc::invalid_argument, "max_batch must be in 1..2^20");
  }
  std::unique_ptr<Interpreter> it(new Interpreter());
  it->max_batch_ = options.max_batch;
  it->inputs_ = g.inputs;
  it->outputs_ = g.outputs;
  const int nt = static_cast<int>(g.tensors.size());
  auto valid = [&](int i) { return i >= 0 && i < nt; };
  if (g.inputs.empty() || g.outputs.empty()) {
    return fail(errc::invalid_argument, "model has no inputs or no outputs");
  }
  for (int i : g.inputs) {
    if (!valid(i)) return fail(errc::corrupted, "graph input index out of range");
  }
  for (int i : g.outputs) {
    if (!valid(i)) return fail(errc::corrupted, "graph output index out of range");
  }

  // Tensors: sizes and quantization.
  it->tensors_.resize(nt);
  for (int i = 0; i < nt; ++i) {
    const TensorSpec& s = g.tensors[i];
    Tensor& t = it->tensors_[i];
    t.type = s.type;
    t.shape = s.shape;
    t.constant = s.is_constant();
    size_t e = 1;
    for (int32_t d : s.shape) {
      if (d < 0 || static_cast<size_t>(d) > kMaxElements) {
        return fail(errc::corrupted, "tensor '" + s.name + "': invalid dimension");
      }
      e *= static_cast<size_t>(d);
      if (e > kMaxElements) return fail(errc::unsupported, "tensor '" + s.name + "' is too large");
    }
    t.elements = e;
    if (TensorTypeSize(s.type) == 0) {
      return fail(errc::unsupported, "tensor '" + s.name + "': unsupported type");
    }
    if (t.constant && s.data.size() != e * TensorTypeSize(s.type)) {
      return fail(errc::corrupted, "tensor '" + s.name + "': data size " +
                                       std::to_string(s.data.size()) +
                                       " does not match its shape and type");
    }
    if (!s.quant.scale.empty()) {
      t.scale = s.quant.scale[0];
      t.zero_point = s.quant.zero_point.empty() ? 0 : static_cast<int32_t>(s.quant.zero_point[0]);
    }
  }

  // Plan the arena: constants, then per-node packed data, then activations.
  size_t cursor = 0;
  auto reserve = [&](size_t bytes) {
    const size_t at = cursor;
    cursor = AlignUp(cursor + bytes);
    return at;
  };
  for (auto& t : it->tensors_) {
    const size_t bytes = t.elements * TensorTypeSize(t.type) *
                         (t.constant ? 1 : static_cast<size_t>(options.max_batch));
    if (bytes > kMaxArena) return fail(errc::unsupported, "model needs too much memory");
    t.offset = reserve(bytes);
    if (cursor > kMaxArena) return fail(errc::unsupported, "model needs too much memory");
  }

  auto is_float = [&](int i) { return it->tensors_[i].type == TensorType::kFloat32; };
  auto is_int8 = [&](int i) { return it->tensors_[i].type == TensorType::kInt8; };
  auto has_quant = [&](int i) {
    const auto& q = g.tensors[i].quant;
    return !q.scale.empty() && q.scale[0] > 0 && std::isfinite(q.scale[0]);
  };

  for (size_t oi = 0; oi < g.ops.size(); ++oi) {
    const OpSpec& os = g.ops[oi];
    const std::string where =
        "operator " + std::to_string(oi) + " (" + BuiltinOpName(os.builtin_code) + ")";
    if (!os.custom_code.empty()) {
      return fail(errc::unsupported, "unsupported custom operator '" + os.custom_code +
                                         "' (operator " + std::to_string(oi) + ")");
    }
    auto need = [&](size_t ins, size_t outs) {
      return os.inputs.size() >= ins && os.outputs.size() == outs;
    };
    for (int i : os.inputs) {
      if (i != -1 && !valid(i)) return fail(errc::corrupted, where + ": tensor index out of range");
    }
    for (int i : os.outputs) {
      if (!valid(i)) return fail(errc::corrupted, where + ": tensor index out of range");
    }
    Node nd;
    nd.op = os.op();
    nd.act = os.activation;
    nd.reference = options.reference_kernels;
    nd.isa = kernels::BestIsa(options.max_isa);
    if (!os.outputs.empty()) nd.out = os.outputs[0];
    if (!os.inputs.empty()) nd.in = os.inputs[0];
    if (nd.out >= 0 && it->tensors_[nd.out].constant) {
      return fail(errc::corrupted, where + ": output tensor is a constant");
    }
    if (nd.in == -1 && !os.inputs.empty()) return fail(errc::corrupted, where + ": missing input");
    if (nd.in >= 0 && it->tensors_[nd.in].constant && os.op() != Op::kReshape) {
      return fail(errc::unsupported, where + ": constant first input is not supported");
    }
    if (nd.act != Activation::kNone && nd.act != Activation::kRelu &&
        nd.act != Activation::kRelu6 && nd.act != Activation::kReluN1To1) {
      return fail(errc::unsupported, where + ": unsupported fused activation " +
                                         std::to_string(static_cast<int>(nd.act)));
    }
    const size_t in_e = nd.in >= 0 ? it->tensors_[nd.in].elements : 0;
    const size_t out_e = nd.out >= 0 ? it->tensors_[nd.out].elements : 0;
    switch (os.op()) {
      case Op::kFullyConnected: {
        if (!need(2, 1)) return fail(errc::corrupted, where + ": needs input, weights and output");
        nd.weights = os.inputs[1];
        nd.bias = os.inputs.size() > 2 ? os.inputs[2] : -1;
        if (nd.weights < 0) return fail(errc::corrupted, where + ": missing weights");
        const Tensor& w = it->tensors_[nd.weights];
        if (!w.constant || w.shape.size() != 2) {
          return fail(errc::unsupported, where + ": weights must be a constant 2-D tensor");
        }
        nd.n = w.shape[0];
        nd.k = w.shape[1];
        if (nd.k <= 0 || nd.n <= 0 || in_e % static_cast<size_t>(nd.k) != 0) {
          return fail(errc::corrupted,
                      where + ": input size is not a multiple of the weights' depth");
        }
        nd.rows_per_item = static_cast<int>(in_e / static_cast<size_t>(nd.k));
        if (out_e != static_cast<size_t>(nd.rows_per_item) * static_cast<size_t>(nd.n)) {
          return fail(errc::corrupted, where + ": output shape does not match");
        }
        if (nd.bias >= 0 && (!it->tensors_[nd.bias].constant ||
                             it->tensors_[nd.bias].elements != static_cast<size_t>(nd.n))) {
          return fail(errc::corrupted,
                      where + ": bias must be a constant with one value per output");
        }
        if (is_float(nd.in) && is_float(nd.weights) && is_float(nd.out) &&
            (nd.bias < 0 || is_float(nd.bias))) {
          nd.kind = Kind::kFcFloat;
          if (!nd.reference) {
            nd.packed_offset = reserve(kernels::PackedFloatWeightsSize(nd.k, nd.n) * sizeof(float));
          }
        } else if (is_int8(nd.in) && is_int8(nd.weights) && is_int8(nd.out) &&
                   (nd.bias < 0 || it->tensors_[nd.bias].type == TensorType::kInt32)) {
          nd.kind = Kind::kFcInt8;
          if (!has_quant(nd.in) || !has_quant(nd.weights) || !has_quant(nd.out)) {
            return fail(errc::corrupted, where + ": int8 tensors need a positive scale");
          }
          const auto& wq = g.tensors[nd.weights].quant;
          if (wq.scale.size() != 1 &&
              (wq.scale.size() != static_cast<size_t>(nd.n) || wq.quantized_dimension != 0)) {
            return fail(errc::unsupported,
                        where + ": weight scales must be per-tensor or per output channel");
          }
          for (int64_t zp : wq.zero_point) {
            if (zp != 0)
              return fail(errc::unsupported,
                          where + ": int8 weights must be symmetric (zero point 0)");
          }
          const int n8 = RoundUp(nd.n, 8);
          nd.mult_offset = reserve(n8 * sizeof(int32_t));
          nd.shift_offset = reserve(n8 * sizeof(int32_t));
          if (!nd.reference) {
            nd.bias_offset = reserve(n8 * sizeof(int32_t));
            nd.packed_offset =
                reserve(kernels::PackedInt8WeightsSize(nd.k, nd.n) * sizeof(int16_t));
          }
        } else {
          return fail(errc::unsupported, where + ": unsupported tensor types (" +
                                             TensorTypeName(it->tensors_[nd.in].type) + " input, " +
                                             TensorTypeName(it->tensors_[nd.weights].type) +
                                             " weights)");
        }
        break;
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul: {
        if (!need(2, 1) || os.inputs[1] < 0)
          return fail(errc::corrupted, where + ": needs two inputs");
        nd.kind = Kind::kBinary;
        nd.in2 = os.inputs[1];
        if (!is_float(nd.in) || !is_float(nd.in2) || !is_float(nd.out)) {
          return fail(errc::unsupported, where + ": only float32 tensors are supported");
        }
        const Tensor& a = it->tensors_[nd.in];
        const Tensor& b = it->tensors_[nd.in2];
        const size_t last = a.shape.empty() ? 1 : static_cast<size_t>(a.shape.back());
        if (out_e != in_e) return fail(errc::corrupted, where + ": output shape does not match");
        if (!b.constant && b.elements == a.elements) {
          nd.period = 0;  // element-wise
        } else if (b.constant && b.elements == 1) {
          nd.period = 1;
        } else if (b.constant && b.elements == last && last > 0 && in_e % last == 0) {
          nd.period = last;
        } else {
          return fail(errc::unsupported, where +
                                             ": unsupported broadcast (the second input must be "
                                             "a per-feature constant, a scalar or the same shape)");
        }
        break;
      }
      case Op::kLogistic:
      case Op::kSoftmax:
      case Op::kRelu:
      case Op::kRelu6: {
        if (!need(1, 1)) return fail(errc::corrupted, where + ": needs one input and one output");
        if (!is_float(nd.in) || !is_float(nd.out)) {
          return fail(errc::unsupported, where + ": only float32 tensors are supported");
        }
        if (out_e != in_e) return fail(errc::corrupted, where + ": output shape does not match");
        nd.kind = os.op() == Op::kLogistic  ? Kind::kLogistic
                  : os.op() == Op::kSoftmax ? Kind::kSoftmax
                  : os.op() == Op::kRelu    ? Kind::kRelu
                                            : Kind::kRelu6;
        nd.beta = os.softmax_beta;
        if (nd.kind == Kind::kSoftmax) {
          const auto& sh = it->tensors_[nd.in].shape;
          nd.k = sh.empty() ? 1 : sh.back();
          if (nd.k <= 0 || in_e % static_cast<size_t>(nd.k) != 0) {
            return fail(errc::corrupted, where + ": invalid shape");
          }
        }
        break;
      }
      case Op::kQuantize: {
        if (!need(1, 1)) return fail(errc::corrupted, where + ": needs one input and one output");
        if (!is_float(nd.in) || !is_int8(nd.out) || !has_quant(nd.out)) {
          return fail(errc::unsupported, where + ": only float32 -> int8 is supported");
        }
        if (out_e != in_e) return fail(errc::corrupted, where + ": output shape does not match");
        nd.kind = Kind::kQuantize;
        nd.scale = it->tensors_[nd.out].scale;
        nd.zero_point = it->tensors_[nd.out].zero_point;
        break;
      }
      case Op::kDequantize: {
        if (!need(1, 1)) return fail(errc::corrupted, where + ": needs one input and one output");
        if (!is_int8(nd.in) || !is_float(nd.out) || !has_quant(nd.in)) {
          return fail(errc::unsupported, where + ": only int8 -> float32 is supported");
        }
        if (out_e != in_e) return fail(errc::corrupted, where + ": output shape does not match");
        nd.kind = Kind::kDequantize;
        nd.scale = it->tensors_[nd.in].scale;
        nd.zero_point = it->tensors_[nd.in].zero_point;
        break;
      }
      case Op::kReshape: {
        if (os.inputs.empty() || os.outputs.size() != 1) {
          return fail(errc::corrupted, where + ": needs an input and an output");
        }
        if (it->tensors_[nd.in].constant) {
          return fail(errc::unsupported, where + ": reshaping a constant is not supported");
        }
        if (it->tensors_[nd.in].type != it->tensors_[nd.out].type || out_e != in_e) {
          return fail(errc::corrupted, where + ": output type or size does not match");
        }
        nd.kind = Kind::kCopy;
        break;
      }
      default:
        return fail(errc::unsupported,
                    "unsupported operator " + BuiltinOpName(os.builtin_code) + " (operator " +
                        std::to_string(oi) +
                        "); aiot runs FULLY_CONNECTED, LOGISTIC, SOFTMAX, RELU, "
                        "RELU6, ADD, SUB, MUL, QUANTIZE, DEQUANTIZE and RESHAPE");
    }
    if (nd.out < 0) return fail(errc::corrupted, where + ": missing output");
    it->nodes_.push_back(nd);
  }
  if (cursor > kMaxArena) return fail(errc::unsupported, "model needs too much memory");

  // Allocate the arena once and fill constants and packed data.
  it->arena_size_ = std::max<size_t>(cursor, kAlign);
  it->arena_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, it->arena_size_));
  if (!it->arena_) return fail(errc::resource_exhausted, "cannot allocate the arena");
  std::memset(it->arena_, 0, it->arena_size_);
  for (int i = 0; i < nt; ++i) {
    Tensor& t = it->tensors_[i];
    t.data = it->arena_ + t.offset;
    if (t.constant) std::memcpy(t.data, g.tensors[i].data.data(), g.tensors[i].data.size());
  }
  for (auto& nd : it->nodes_) {
    if (nd.kind == Kind::kFcFloat && !nd.reference) {
      nd.packed = it->arena_ + nd.packed_offset;
      kernels::PackFloatWeights(it->tensors_[nd.weights].data
                                    ? static_cast<const float*>(it->tensors_[nd.weights].data)
                                    : nullptr,
                                nd.k, nd.n, static_cast<float*>(nd.packed));
    }
    if (nd.kind == Kind::kFcInt8) {
      const Tensor& in = it->tensors_[nd.in];
      const Tensor& out = it->tensors_[nd.out];
      const auto& wq = g.tensors[nd.weights].quant;
      nd.multiplier = reinterpret_cast<int32_t*>(it->arena_ + nd.mult_offset);
      nd.shift = reinterpret_cast<int32_t*>(it->arena_ + nd.shift_offset);
      for (int o = 0; o < nd.n; ++o) {
        const double ws = wq.scale.size() == 1 ? wq.scale[0] : wq.scale[o];
        const double real = static_cast<double>(in.scale) * ws / static_cast<double>(out.scale);
        int shift = 0;
        QuantizeMultiplier(real, &nd.multiplier[o], &shift);
        if (options.single_rounding && shift > 30) {
          return fail(errc::unsupported, "FULLY_CONNECTED: requantization multiplier " +
                                             std::to_string(real) + " is out of range");
        }
        nd.shift[o] = shift;
      }
      nd.rq.multiplier = nd.multiplier;
      nd.rq.shift = nd.shift;
      nd.rq.input_zero_point = in.zero_point;
      nd.rq.output_zero_point = out.zero_point;
      nd.rq.single_rounding = options.single_rounding;
      auto quantize = [&](float f) {
        return out.zero_point + static_cast<int32_t>(std::round(f / out.scale));
      };
      nd.rq.act_min = -128;
      nd.rq.act_max = 127;
      if (nd.act == Activation::kRelu || nd.act == Activation::kRelu6) {
        nd.rq.act_min = std::max(-128, quantize(0.f));
      }
      if (nd.act == Activation::kRelu6) nd.rq.act_max = std::min(127, quantize(6.f));
      if (nd.act == Activation::kReluN1To1) {
        nd.rq.act_min = std::max(-128, quantize(-1.f));
        nd.rq.act_max = std::min(127, quantize(1.f));
      }
      if (!nd.reference) {
        nd.eff_bias = reinterpret_cast<int32_t*>(it->arena_ + nd.bias_offset);
        nd.packed = it->arena_ + nd.packed_offset;
        const auto* w = static_cast<const int8_t*>(it->tensors_[nd.weights].data);
        const auto* b =
            nd.bias >= 0 ? static_cast<const int32_t*>(it->tensors_[nd.bias].data) : nullptr;
        kernels::EffectiveBias(w, b, nd.k, nd.n, in.zero_point, nd.eff_bias);
        kernels::PackInt8Weights(w, nd.k, nd.n, static_cast<int16_t*>(nd.packed));
      }
    }
  }
  return it;
}

Status Interpreter::Invoke(int batch) {
  if (batch < 1 || batch > max_batch_) return errc::invalid_argument;
  for (const Node& nd : nodes_) {
    const Tensor& in = tensors_[nd.in];
    const Tensor& out = tensors_[nd.out];
    const size_t count = in.elements * static_cast<size_t>(batch);
    switch (nd.kind) {
      case Kind::kFcFloat: {
        const int rows = nd.rows_per_item * batch;
        const auto* x = static_cast<const float*>(in.data);
        const auto* b = nd.bias >= 0 ? static_cast<const float*>(tensors_[nd.bias].data) : nullptr;
        auto* y = static_cast<float*>(out.data);
        if (nd.reference) {
          kernels::FullyConnectedFloatRef(x, rows, nd.k,
                                          static_cast<const float*>(tensors_[nd.weights].data), b,
                                          nd.n, nd.act, y);
        } else {
          kernels::FullyConnectedFloatOpt(x, rows, nd.k, static_cast<const float*>(nd.packed), b,
                                          nd.n, nd.act, y);
        }
        break;
      }
      case Kind::kFcInt8: {
        const int rows = nd.rows_per_item * batch;
        const auto* x = static_cast<const int8_t*>(in.data);
        auto* y = static_cast<int8_t*>(out.data);
        if (nd.reference) {
          const auto* b =
              nd.bias >= 0 ? static_cast<const int32_t*>(tensors_[nd.bias].data) : nullptr;
          kernels::FullyConnectedInt8Ref(x, rows, nd.k,
                                         static_cast<const int8_t*>(tensors_[nd.weights].data), b,
                                         nd.n, nd.rq, y);
        } else {
          kernels::FullyConnectedInt8Opt(x, rows, nd.k, static_cast<const int16_t*>(nd.packed),
                                         nd.eff_bias, nd.n, nd.rq, y, nd.isa);
        }
        break;
      }
      case Kind::kBinary: {
        const auto* a = static_cast<const float*>(in.data);
        const auto* b = static_cast<const float*>(tensors_[nd.in2].data);
        auto* y = static_cast<float*>(out.data);
        float lo = -__builtin_huge_valf(), hi = __builtin_huge_valf();
        if (nd.act == Activation::kRelu || nd.act == Activation::kRelu6) lo = 0.f;
        if (nd.act == Activation::kRelu6) hi = 6.f;
        if (nd.act == Activation::kReluN1To1) lo = -1.f, hi = 1.f;
        // The broadcast operand repeats with period `period` (0 = element-wise, 1 = scalar).
        const size_t period = nd.period == 0 ? count : nd.period;
        for (size_t base = 0; base < count; base += period) {
          const size_t len = std::min(period, count - base);
          for (size_t j = 0; j < len; ++j) {
            const size_t i = base + j;
            const float bv = nd.period == 0 ? b[i] : b[nd.period == 1 ? 0 : j];
            float v = nd.op == Op::kAdd ? a[i] + bv : nd.op == Op::kSub ? a[i] - bv : a[i] * bv;
            y[i] = std::min(std::max(v, lo), hi);
          }
        }
        break;
      }
      case Kind::kLogistic: {
        const auto* x = static_cast<const float*>(in.data);
        auto* y = static_cast<float*>(out.data);
        for (size_t i = 0; i < count; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
        break;
      }
      case Kind::kSoftmax: {
        const auto* x = static_cast<const float*>(in.data);
        auto* y = static_cast<float*>(out.data);
        for (size_t r = 0; r < count / static_cast<size_t>(nd.k); ++r) {
          const float* xr = x + r * nd.k;
          float* yr = y + r * nd.k;
          float mx = xr[0];
          for (int j = 1; j < nd.k; ++j) mx = std::max(mx, xr[j]);
          float sum = 0.f;
          for (int j = 0; j < nd.k; ++j) sum += (yr[j] = std::exp((xr[j] - mx) * nd.beta));
          for (int j = 0; j < nd.k; ++j) yr[j] /= sum;
        }
        break;
      }
      case Kind::kRelu:
      case Kind::kRelu6: {
        const auto* x = static_cast<const float*>(in.data);
        auto* y = static_cast<float*>(out.data);
        const float hi = nd.kind == Kind::kRelu6 ? 6.f : __builtin_huge_valf();
        for (size_t i = 0; i < count; ++i) y[i] = std::min(std::max(x[i], 0.f), hi);
        break;
      }
      case Kind::kQuantize: {
        const auto* x = static_cast<const float*>(in.data);
        auto* y = static_cast<int8_t*>(out.data);
        for (size_t i = 0; i < count; ++i) y[i] = QuantizeValue(x[i], nd.scale, nd.zero_point);
        break;
      }
      case Kind::kDequantize: {
        const auto* x = static_cast<const int8_t*>(in.data);
        auto* y = static_cast<float*>(out.data);
        for (size_t i = 0; i < count; ++i) y[i] = DequantizeValue(x[i], nd.scale, nd.zero_point);
        break;
      }
      case Kind::kCopy:
        if (in.data != out.data) std::memmove(out.data, in.data, count * TensorTypeSize(in.type));
        break;
    }
  }
  return Status::Ok();
}

}  // namespace aiot::ml
