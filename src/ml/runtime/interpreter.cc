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
  kTreeEnsemble,
  kSlice,
  kConcat,
};

// At least `ins` inputs and exactly `outs` outputs.
bool Need(const OpSpec& os, size_t ins, size_t outs) {
  return os.inputs.size() >= ins && os.outputs.size() == outs;
}

bool SupportedActivation(Activation a) {
  return a == Activation::kNone || a == Activation::kRelu || a == Activation::kRelu6 ||
         a == Activation::kReluN1To1;
}

// ---- the float element-wise kernels (FULLY_CONNECTED's are in kernels.h) ----

float ApplyBinary(Op op, float x, float y) {
  switch (op) {
    case Op::kAdd:
      return x + y;
    case Op::kSub:
      return x - y;
    case Op::kMul:
      return x * y;
    default:
      return x / y;  // DIV: IEEE 754 (x/0 = +-inf, 0/0 = NaN), as TFLite's float DIV
  }
}

// ADD / SUB / MUL / DIV with a fused activation: b repeats with period `period` (0 =
// element-wise, 1 = scalar, else a per-feature vector); `reversed` computes b op a (a constant
// first operand: 2 - x, 1 / x).
void BinaryFloat(Op op, Activation act, size_t period, bool reversed, const float* a,
                 const float* b, float* y, size_t count) {
  float lo = -__builtin_huge_valf(), hi = __builtin_huge_valf();
  if (act == Activation::kRelu || act == Activation::kRelu6) lo = 0.f;
  if (act == Activation::kRelu6) hi = 6.f;
  if (act == Activation::kReluN1To1) lo = -1.f, hi = 1.f;
  const size_t step = period == 0 ? count : period;
  for (size_t base = 0; base < count; base += step) {
    const size_t len = std::min(step, count - base);
    for (size_t j = 0; j < len; ++j) {
      const size_t i = base + j;
      const float bv = period == 0 ? b[i] : b[period == 1 ? 0 : j];
      const float v = reversed ? ApplyBinary(op, bv, a[i]) : ApplyBinary(op, a[i], bv);
      y[i] = std::min(std::max(v, lo), hi);
    }
  }
}

void LogisticFloat(const float* x, float* y, size_t count) {
  for (size_t i = 0; i < count; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
}

void SoftmaxFloat(const float* x, float* y, size_t rows, int k, float beta) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * k;
    float* yr = y + r * k;
    float mx = xr[0];
    for (int j = 1; j < k; ++j) mx = std::max(mx, xr[j]);
    float sum = 0.f;
    for (int j = 0; j < k; ++j) sum += (yr[j] = std::exp((xr[j] - mx) * beta));
    for (int j = 0; j < k; ++j) yr[j] /= sum;
  }
}

void ReluFloat(const float* x, float* y, size_t count, float hi) {
  for (size_t i = 0; i < count; ++i) y[i] = std::min(std::max(x[i], 0.f), hi);
}

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
  // ADD / SUB / MUL / DIV: in2 is broadcast over `in` with period `period` (1 = scalar, equal =
  // same).
  size_t period = 0;
  bool reversed = false;  // the model's first operand is in2 (a constant): in2 op in
  // SLICE (last axis): `width` values per input row, `len` of them from `begin`. CONCATENATION:
  // inputs lists_[list, list + list_len), each `width` values per row (widths_ at the same place).
  int width = 0, begin = 0, len = 0;
  size_t list = 0, list_len = 0;
  float beta = 1.f;
  // QUANTIZE / DEQUANTIZE
  double scale = 0;
  int32_t zero_point = 0;
  // AIOT_TREE_ENSEMBLE: index into trees_
  size_t trees = 0;
};

struct Interpreter::Trees {
  TreeEnsemble ensemble;
  // Optimised kernels: binned thresholds when the trees fit (kernels::CanBin), else the float
  // layout; both empty with reference kernels.
  bool binned = false;
  kernels::BinnedTrees bins;
  std::vector<uint16_t> scratch;  // one block's bins, so Invoke allocates nothing
  kernels::PackedTrees packed;
};

// Create()'s steps, as in TFLite's Prepare: check the graph, size the tensors and plan their
// memory, prepare every op (one function per op kind: validates types, shapes and quantization,
// reserves packed weights), then allocate the one arena and fill constants and packed data.
class Interpreter::Planner {
 public:
  Planner(const GraphSpec& g, const InterpreterOptions& options, Interpreter& it)
      : g_(g), options_(options), it_(it), nt_(static_cast<int>(g.tensors.size())) {}

  Status CheckGraph() const;
  Status SizeTensors();
  Status PlanTensorMemory();
  Status PrepareOp(size_t index);
  Status AllocateArena();
  Status FillArena();

 private:
  Status PrepareOperands(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareByOp(size_t index, const OpSpec& os, const std::string& where, Node& nd);
  Status PrepareFullyConnected(const OpSpec& os, const std::string& where, Node& nd);
  Status PrepareFullyConnectedInt8(const std::string& where, Node& nd);
  Status PrepareBinary(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareActivation(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareQuantize(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareDequantize(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareReshape(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareSlice(const OpSpec& os, const std::string& where, Node& nd) const;
  Status PrepareConcat(const OpSpec& os, const std::string& where, Node& nd);
  bool ConstInt32(int t, size_t n, int32_t* out) const;
  Status PrepareTreeEnsemble(const OpSpec& os, const std::string& where, Node& nd);
  Status FillRequant(Node& nd) const;
  void PackInt8Weights(Node& nd) const;

  size_t Reserve(size_t bytes) {
    const size_t at = cursor_;
    cursor_ = AlignUp(cursor_ + bytes);
    return at;
  }
  bool Valid(int i) const { return i >= 0 && i < nt_; }
  const Tensor& At(int i) const { return it_.tensors_[i]; }
  size_t Elements(int i) const { return i >= 0 ? At(i).elements : 0; }
  bool IsFloat(int i) const { return At(i).type == TensorType::kFloat32; }
  bool IsInt8(int i) const { return At(i).type == TensorType::kInt8; }
  bool HasQuant(int i) const {
    // Every scale: a per-channel weight tensor carries one per output channel, and a NaN or
    // infinite one would reach the float-to-int conversion in QuantizeMultiplier.
    const auto& q = g_.tensors[i].quant;
    return !q.scale.empty() && std::all_of(q.scale.begin(), q.scale.end(),
                                           [](float s) { return s > 0 && std::isfinite(s); });
  }

  const GraphSpec& g_;
  const InterpreterOptions& options_;
  Interpreter& it_;
  const int nt_;
  size_t cursor_ = 0;
};

Status Interpreter::Planner::CheckGraph() const {
  if (g_.inputs.empty() || g_.outputs.empty()) {
    return Status(errc::invalid_argument, "model has no inputs or no outputs");
  }
  for (int i : g_.inputs) {
    if (!Valid(i)) return Status(errc::corrupted, "graph input index out of range");
  }
  for (int i : g_.outputs) {
    if (!Valid(i)) return Status(errc::corrupted, "graph output index out of range");
  }
  return Status::Ok();
}

// A quantized tensor's zero point is a value of its type (TFLite: int8 -128..127, uint8 0..255,
// 0 for the others). A larger one would overflow the kernels' int32 arithmetic.
static bool ZeroPointFits(TensorType type, int64_t zp) {
  switch (type) {
    case TensorType::kInt8:
      return zp >= -128 && zp <= 127;
    case TensorType::kUInt8:
      return zp >= 0 && zp <= 255;
    default:
      return zp == 0;
  }
}

// Tensors: sizes and quantization.
Status Interpreter::Planner::SizeTensors() {
  it_.tensors_.resize(nt_);
  for (int i = 0; i < nt_; ++i) {
    const TensorSpec& s = g_.tensors[i];
    Tensor& t = it_.tensors_[i];
    t.type = s.type;
    t.shape = s.shape;
    t.constant = s.is_constant();
    size_t e = 1;
    for (int32_t d : s.shape) {
      if (d < 0 || static_cast<size_t>(d) > kMaxElements) {
        return Status(errc::corrupted, "tensor '" + s.name + "': invalid dimension");
      }
      e *= static_cast<size_t>(d);
      if (e > kMaxElements)
        return Status(errc::unsupported, "tensor '" + s.name + "' is too large");
    }
    t.elements = e;
    if (TensorTypeSize(s.type) == 0) {
      return Status(errc::unsupported, "tensor '" + s.name + "': unsupported type");
    }
    if (t.constant && s.data.size() != e * TensorTypeSize(s.type)) {
      return Status(errc::corrupted, "tensor '" + s.name + "': data size " +
                                         std::to_string(s.data.size()) +
                                         " does not match its shape and type");
    }
    if (!s.quant.scale.empty()) {
      const int64_t zp = s.quant.zero_point.empty() ? 0 : s.quant.zero_point[0];
      if (!ZeroPointFits(s.type, zp)) {
        return Status(errc::corrupted, "tensor '" + s.name + "': zero point " + std::to_string(zp) +
                                           " is outside its type's range");
      }
      t.scale = s.quant.scale[0];
      t.zero_point = static_cast<int32_t>(zp);
    }
  }
  return Status::Ok();
}

// The arena holds the constants, then per-node packed data, then activations; this reserves the
// tensors' part (activations for max_batch rows).
Status Interpreter::Planner::PlanTensorMemory() {
  for (auto& t : it_.tensors_) {
    const size_t bytes = t.elements * TensorTypeSize(t.type) *
                         (t.constant ? 1 : static_cast<size_t>(options_.max_batch));
    if (bytes > kMaxArena) return Status(errc::unsupported, "model needs too much memory");
    t.offset = Reserve(bytes);
    if (cursor_ > kMaxArena) return Status(errc::unsupported, "model needs too much memory");
  }
  return Status::Ok();
}

Status Interpreter::Planner::PrepareOp(size_t oi) {
  const OpSpec& os = g_.ops[oi];
  const std::string where =
      "operator " + std::to_string(oi) + " (" +
      (os.custom_code.empty() ? BuiltinOpName(os.builtin_code) : os.custom_code) + ")";
  if (!os.custom_code.empty() && os.custom_code != kTreeEnsembleOp) {
    return Status(errc::unsupported, "unsupported custom operator '" + os.custom_code +
                                         "' (operator " + std::to_string(oi) + "); aiot runs " +
                                         kTreeEnsembleOp);
  }
  for (int i : os.inputs) {
    if (i != -1 && !Valid(i)) return Status(errc::corrupted, where + ": tensor index out of range");
  }
  for (int i : os.outputs) {
    if (!Valid(i)) return Status(errc::corrupted, where + ": tensor index out of range");
  }
  Node nd;
  nd.op = os.op();
  nd.act = os.activation;
  nd.reference = options_.reference_kernels;
  nd.isa = kernels::BestIsa(options_.max_isa);
  if (!os.outputs.empty()) nd.out = os.outputs[0];
  if (!os.inputs.empty()) nd.in = os.inputs[0];
  if (Status st = PrepareOperands(os, where, nd); !st.ok()) return st;
  if (Status st = PrepareByOp(oi, os, where, nd); !st.ok()) return st;
  if (nd.out < 0) return Status(errc::corrupted, where + ": missing output");
  it_.nodes_.push_back(nd);
  return Status::Ok();
}

// Checks every op kind shares: a writable output, a non-constant first input, a fused activation
// the kernels implement.
Status Interpreter::Planner::PrepareOperands(const OpSpec& os, const std::string& where,
                                             Node& nd) const {
  if (nd.out >= 0 && At(nd.out).constant) {
    return Status(errc::corrupted, where + ": output tensor is a constant");
  }
  if (nd.in == -1 && !os.inputs.empty()) return Status(errc::corrupted, where + ": missing input");
  const bool binary =
      os.op() == Op::kAdd || os.op() == Op::kSub || os.op() == Op::kMul || os.op() == Op::kDiv;
  if (nd.in >= 0 && At(nd.in).constant && os.op() != Op::kReshape && !binary) {
    return Status(errc::unsupported, where + ": constant first input is not supported");
  }
  if (!SupportedActivation(nd.act)) {
    return Status(errc::unsupported, where + ": unsupported fused activation " +
                                         std::to_string(static_cast<int>(nd.act)));
  }
  return Status::Ok();
}

// One prepare function per builtin op kind (a flat dispatch).
Status Interpreter::Planner::PrepareByOp(size_t oi, const OpSpec& os, const std::string& where,
                                         Node& nd) {
  if (!os.custom_code.empty()) return PrepareTreeEnsemble(os, where, nd);
  switch (os.op()) {
    case Op::kFullyConnected:
      return PrepareFullyConnected(os, where, nd);
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
      return PrepareBinary(os, where, nd);
    case Op::kSlice:
      return PrepareSlice(os, where, nd);
    case Op::kConcatenation:
      return PrepareConcat(os, where, nd);
    case Op::kLogistic:
    case Op::kSoftmax:
    case Op::kRelu:
    case Op::kRelu6:
      return PrepareActivation(os, where, nd);
    case Op::kQuantize:
      return PrepareQuantize(os, where, nd);
    case Op::kDequantize:
      return PrepareDequantize(os, where, nd);
    case Op::kReshape:
      return PrepareReshape(os, where, nd);
    default:
      return Status(errc::unsupported,
                    "unsupported operator " + BuiltinOpName(os.builtin_code) + " (operator " +
                        std::to_string(oi) +
                        "); aiot runs FULLY_CONNECTED, LOGISTIC, SOFTMAX, RELU, "
                        "RELU6, ADD, SUB, MUL, DIV, QUANTIZE, DEQUANTIZE, RESHAPE, SLICE "
                        "and CONCATENATION");
  }
}

Status Interpreter::Planner::PrepareFullyConnected(const OpSpec& os, const std::string& where,
                                                   Node& nd) {
  if (!Need(os, 2, 1)) {
    return Status(errc::corrupted, where + ": needs input, weights and output");
  }
  nd.weights = os.inputs[1];
  nd.bias = os.inputs.size() > 2 ? os.inputs[2] : -1;
  if (nd.weights < 0) return Status(errc::corrupted, where + ": missing weights");
  const Tensor& w = At(nd.weights);
  if (!w.constant || w.shape.size() != 2) {
    return Status(errc::unsupported, where + ": weights must be a constant 2-D tensor");
  }
  nd.n = w.shape[0];
  nd.k = w.shape[1];
  const size_t in_e = Elements(nd.in);
  if (nd.k <= 0 || nd.n <= 0 || in_e % static_cast<size_t>(nd.k) != 0) {
    return Status(errc::corrupted, where + ": input size is not a multiple of the weights' depth");
  }
  nd.rows_per_item = static_cast<int>(in_e / static_cast<size_t>(nd.k));
  if (Elements(nd.out) != static_cast<size_t>(nd.rows_per_item) * static_cast<size_t>(nd.n)) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  if (nd.bias >= 0 &&
      (!At(nd.bias).constant || At(nd.bias).elements != static_cast<size_t>(nd.n))) {
    return Status(errc::corrupted, where + ": bias must be a constant with one value per output");
  }
  if (IsFloat(nd.in) && IsFloat(nd.weights) && IsFloat(nd.out) &&
      (nd.bias < 0 || IsFloat(nd.bias))) {
    nd.kind = Kind::kFcFloat;
    if (!nd.reference) {
      nd.packed_offset = Reserve(kernels::PackedFloatWeightsSize(nd.k, nd.n) * sizeof(float));
    }
    return Status::Ok();
  }
  if (IsInt8(nd.in) && IsInt8(nd.weights) && IsInt8(nd.out) &&
      (nd.bias < 0 || At(nd.bias).type == TensorType::kInt32)) {
    return PrepareFullyConnectedInt8(where, nd);
  }
  return Status(errc::unsupported, where + ": unsupported tensor types (" +
                                       TensorTypeName(At(nd.in).type) + " input, " +
                                       TensorTypeName(At(nd.weights).type) + " weights)");
}

// int8 FULLY_CONNECTED: TFLite's quantization scheme (positive scales, symmetric weights with
// per-tensor or per-output-channel scales); reserves the requantization tables and packed data.
Status Interpreter::Planner::PrepareFullyConnectedInt8(const std::string& where, Node& nd) {
  nd.kind = Kind::kFcInt8;
  if (!HasQuant(nd.in) || !HasQuant(nd.weights) || !HasQuant(nd.out)) {
    return Status(errc::corrupted, where + ": int8 tensors need a positive scale");
  }
  const auto& wq = g_.tensors[nd.weights].quant;
  if (wq.scale.size() != 1 &&
      (wq.scale.size() != static_cast<size_t>(nd.n) || wq.quantized_dimension != 0)) {
    return Status(errc::unsupported,
                  where + ": weight scales must be per-tensor or per output channel");
  }
  for (int64_t zp : wq.zero_point) {
    if (zp != 0) {
      return Status(errc::unsupported, where + ": int8 weights must be symmetric (zero point 0)");
    }
  }
  const int n8 = RoundUp(nd.n, 8);
  nd.mult_offset = Reserve(n8 * sizeof(int32_t));
  nd.shift_offset = Reserve(n8 * sizeof(int32_t));
  if (!nd.reference) {
    nd.bias_offset = Reserve(n8 * sizeof(int32_t));
    nd.packed_offset = Reserve(kernels::PackedInt8WeightsSize(nd.k, nd.n) * sizeof(int16_t));
  }
  return Status::Ok();
}

// ADD, SUB, MUL, DIV (float): the second input element-wise, a scalar or a per-feature constant;
// or a constant scalar first input and a variable second one (then computed reversed).
Status Interpreter::Planner::PrepareBinary(const OpSpec& os, const std::string& where,
                                           Node& nd) const {
  if (!Need(os, 2, 1) || os.inputs[1] < 0 || nd.in < 0) {
    return Status(errc::corrupted, where + ": needs two inputs");
  }
  nd.kind = Kind::kBinary;
  nd.in2 = os.inputs[1];
  if (At(nd.in).constant) {
    if (At(nd.in2).constant || At(nd.in).elements != 1) {
      return Status(errc::unsupported,
                    where + ": a constant first input must be a scalar, the second a variable");
    }
    std::swap(nd.in, nd.in2);
    nd.reversed = true;
  }
  if (!IsFloat(nd.in) || !IsFloat(nd.in2) || !IsFloat(nd.out)) {
    return Status(errc::unsupported, where + ": only float32 tensors are supported");
  }
  const Tensor& a = At(nd.in);
  const Tensor& b = At(nd.in2);
  const size_t in_e = Elements(nd.in);
  const size_t last = a.shape.empty() ? 1 : static_cast<size_t>(a.shape.back());
  if (Elements(nd.out) != in_e) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  if (!b.constant && b.elements == a.elements) {
    nd.period = 0;  // element-wise
  } else if (b.constant && b.elements == 1) {
    nd.period = 1;
  } else if (b.constant && b.elements == last && last > 0 && in_e % last == 0) {
    nd.period = last;
  } else {
    return Status(errc::unsupported, where +
                                         ": unsupported broadcast (the second input must be "
                                         "a per-feature constant, a scalar or the same shape)");
  }
  return Status::Ok();
}

// LOGISTIC, SOFTMAX, RELU, RELU6 (float).
Status Interpreter::Planner::PrepareActivation(const OpSpec& os, const std::string& where,
                                               Node& nd) const {
  if (!Need(os, 1, 1)) return Status(errc::corrupted, where + ": needs one input and one output");
  if (!IsFloat(nd.in) || !IsFloat(nd.out)) {
    return Status(errc::unsupported, where + ": only float32 tensors are supported");
  }
  const size_t in_e = Elements(nd.in);
  if (Elements(nd.out) != in_e) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  nd.kind = os.op() == Op::kLogistic  ? Kind::kLogistic
            : os.op() == Op::kSoftmax ? Kind::kSoftmax
            : os.op() == Op::kRelu    ? Kind::kRelu
                                      : Kind::kRelu6;
  nd.beta = os.softmax_beta;
  if (nd.kind == Kind::kSoftmax) {
    const auto& sh = At(nd.in).shape;
    nd.k = sh.empty() ? 1 : sh.back();
    if (nd.k <= 0 || in_e % static_cast<size_t>(nd.k) != 0) {
      return Status(errc::corrupted, where + ": invalid shape");
    }
  }
  return Status::Ok();
}

Status Interpreter::Planner::PrepareQuantize(const OpSpec& os, const std::string& where,
                                             Node& nd) const {
  if (!Need(os, 1, 1)) return Status(errc::corrupted, where + ": needs one input and one output");
  if (!IsFloat(nd.in) || !IsInt8(nd.out) || !HasQuant(nd.out)) {
    return Status(errc::unsupported, where + ": only float32 -> int8 is supported");
  }
  if (Elements(nd.out) != Elements(nd.in)) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  nd.kind = Kind::kQuantize;
  nd.scale = At(nd.out).scale;
  nd.zero_point = At(nd.out).zero_point;
  return Status::Ok();
}

Status Interpreter::Planner::PrepareDequantize(const OpSpec& os, const std::string& where,
                                               Node& nd) const {
  if (!Need(os, 1, 1)) return Status(errc::corrupted, where + ": needs one input and one output");
  if (!IsInt8(nd.in) || !IsFloat(nd.out) || !HasQuant(nd.in)) {
    return Status(errc::unsupported, where + ": only int8 -> float32 is supported");
  }
  if (Elements(nd.out) != Elements(nd.in)) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  nd.kind = Kind::kDequantize;
  nd.scale = At(nd.in).scale;
  nd.zero_point = At(nd.in).zero_point;
  return Status::Ok();
}

// The `n` values of constant int32 tensor `t`; false when it is not one.
bool Interpreter::Planner::ConstInt32(int t, size_t n, int32_t* out) const {
  if (!Valid(t) || !At(t).constant || At(t).type != TensorType::kInt32 || At(t).elements != n) {
    return false;
  }
  std::memcpy(out, g_.tensors[t].data.data(), n * sizeof(int32_t));
  return true;
}

// SLICE of a 2-D float tensor [B, W] along its last axis: begin {0, b}, size {-1 or B, len or -1}.
Status Interpreter::Planner::PrepareSlice(const OpSpec& os, const std::string& where,
                                          Node& nd) const {
  if (!Need(os, 3, 1)) return Status(errc::corrupted, where + ": needs input, begin and size");
  const Tensor& in = At(nd.in);
  int32_t begin[2], size[2];
  if (in.shape.size() != 2 || !ConstInt32(os.inputs[1], 2, begin) ||
      !ConstInt32(os.inputs[2], 2, size)) {
    return Status(errc::unsupported,
                  where + ": only 2-D inputs with constant int32 begin and size are supported");
  }
  const int32_t w = in.shape[1];
  if (size[1] == -1 && begin[1] >= 0 && begin[1] <= w) size[1] = w - begin[1];
  if (begin[0] != 0 || (size[0] != -1 && size[0] != in.shape[0]) || begin[1] < 0 || size[1] < 0 ||
      begin[1] > w || size[1] > w - begin[1]) {
    return Status(errc::unsupported,
                  where + ": begin/size out of range or not along the last axis");
  }
  if (!IsFloat(nd.in) || !IsFloat(nd.out)) {
    return Status(errc::unsupported, where + ": only float32 tensors are supported");
  }
  if (Elements(nd.out) != static_cast<size_t>(in.shape[0]) * static_cast<size_t>(size[1])) {
    return Status(errc::corrupted, where + ": output shape does not match");
  }
  nd.kind = Kind::kSlice;
  nd.width = w;
  nd.begin = begin[1];
  nd.len = size[1];
  return Status::Ok();
}

// CONCATENATION of float tensors [B, w_i] along the last axis into [B, sum w_i].
Status Interpreter::Planner::PrepareConcat(const OpSpec& os, const std::string& where, Node& nd) {
  if (os.inputs.empty() || os.outputs.size() != 1 || os.inputs.size() > 4096) {
    return Status(errc::corrupted, where + ": needs 1..4096 inputs and one output");
  }
  const Tensor& out = At(nd.out);
  const int rank = static_cast<int>(out.shape.size());
  if (rank != 2 || (os.axis != 1 && os.axis != -1) || nd.act != Activation::kNone ||
      !IsFloat(nd.out)) {
    return Status(errc::unsupported,
                  where + ": only float 2-D tensors along the last axis, no activation");
  }
  size_t total = 0;
  nd.list = it_.lists_.size();
  for (int t : os.inputs) {
    if (t < 0 || At(t).constant || !IsFloat(t) || At(t).shape.size() != 2 ||
        At(t).shape[0] != out.shape[0]) {
      return Status(errc::unsupported,
                    where + ": inputs must be float [B, w] variables with the output's rows");
    }
    total += static_cast<size_t>(At(t).shape[1]);
    it_.lists_.push_back(t);
  }
  nd.list_len = os.inputs.size();
  if (total != static_cast<size_t>(out.shape[1])) {
    return Status(errc::corrupted, where + ": output width is not the sum of the inputs'");
  }
  nd.kind = Kind::kConcat;
  return Status::Ok();
}

Status Interpreter::Planner::PrepareReshape(const OpSpec& os, const std::string& where,
                                            Node& nd) const {
  if (os.inputs.empty() || os.outputs.size() != 1) {
    return Status(errc::corrupted, where + ": needs an input and an output");
  }
  if (At(nd.in).constant) {
    return Status(errc::unsupported, where + ": reshaping a constant is not supported");
  }
  if (At(nd.in).type != At(nd.out).type || Elements(nd.out) != Elements(nd.in)) {
    return Status(errc::corrupted, where + ": output type or size does not match");
  }
  nd.kind = Kind::kCopy;
  return Status::Ok();
}

// AIOT_TREE_ENSEMBLE: the options decoded and checked (a hostile file cannot make the kernels read
// outside the nodes or the row), float [B, F] in, one float per row out.
Status Interpreter::Planner::PrepareTreeEnsemble(const OpSpec& os, const std::string& where,
                                                 Node& nd) {
  if (!Need(os, 1, 1)) return Status(errc::corrupted, where + ": needs one input and one output");
  if (!IsFloat(nd.in) || !IsFloat(nd.out)) {
    return Status(errc::unsupported, where + ": only float32 tensors are supported");
  }
  auto e = DecodeTreeEnsemble(os.custom_options.data(), os.custom_options.size());
  if (!e.ok()) return e.status().Prefix(where);
  if (Elements(nd.in) != static_cast<size_t>(e->num_features)) {
    return Status(errc::corrupted, where + ": the input has " + std::to_string(Elements(nd.in)) +
                                       " values per row, the trees read " +
                                       std::to_string(e->num_features));
  }
  if (Elements(nd.out) != 1) {
    return Status(errc::corrupted, where + ": the output must hold one value per row");
  }
  nd.kind = Kind::kTreeEnsemble;
  nd.trees = it_.trees_.size();
  Trees trees;
  if (!nd.reference) {
    trees.binned = options_.tree_kernel == TreeKernel::kBinned  ? kernels::CanBin(*e)
                   : options_.tree_kernel == TreeKernel::kFloat ? false
                                                                : kernels::PreferBinned(*e);
    if (trees.binned) {
      trees.bins = kernels::BinTrees(*e);
      trees.scratch.resize(trees.bins.ScratchSize());
    } else {
      trees.packed = kernels::PackTrees(*e);
    }
  }
  trees.ensemble = std::move(*e);
  it_.trees_.push_back(std::move(trees));
  return Status::Ok();
}

Status Interpreter::Planner::AllocateArena() {
  if (cursor_ > kMaxArena) return Status(errc::unsupported, "model needs too much memory");
  it_.arena_size_ = std::max<size_t>(cursor_, kAlign);
  it_.arena_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, it_.arena_size_));
  if (!it_.arena_) return Status(errc::resource_exhausted, "cannot allocate the arena");
  std::memset(it_.arena_, 0, it_.arena_size_);
  return Status::Ok();
}

// Points the tensors into the arena, copies the constants and fills each node's packed weights
// and requantization tables.
Status Interpreter::Planner::FillArena() {
  for (int i = 0; i < nt_; ++i) {
    Tensor& t = it_.tensors_[i];
    t.data = it_.arena_ + t.offset;
    if (t.constant) std::memcpy(t.data, g_.tensors[i].data.data(), g_.tensors[i].data.size());
  }
  for (auto& nd : it_.nodes_) {
    if (nd.kind == Kind::kFcFloat && !nd.reference) {
      nd.packed = it_.arena_ + nd.packed_offset;
      const Tensor& w = At(nd.weights);
      kernels::PackFloatWeights(w.data ? static_cast<const float*>(w.data) : nullptr, nd.k, nd.n,
                                static_cast<float*>(nd.packed));
    }
    if (nd.kind == Kind::kFcInt8) {
      if (Status st = FillRequant(nd); !st.ok()) return st;
      if (!nd.reference) PackInt8Weights(nd);
    }
  }
  return Status::Ok();
}

// Per-channel multipliers and shifts for in_scale * w_scale / out_scale, zero points and the
// fused activation's clamp range in output steps.
Status Interpreter::Planner::FillRequant(Node& nd) const {
  const Tensor& in = At(nd.in);
  const Tensor& out = At(nd.out);
  const auto& wq = g_.tensors[nd.weights].quant;
  nd.multiplier = reinterpret_cast<int32_t*>(it_.arena_ + nd.mult_offset);
  nd.shift = reinterpret_cast<int32_t*>(it_.arena_ + nd.shift_offset);
  for (int o = 0; o < nd.n; ++o) {
    const double ws = wq.scale.size() == 1 ? wq.scale[0] : wq.scale[o];
    const double real = static_cast<double>(in.scale) * ws / static_cast<double>(out.scale);
    int shift = 0;
    QuantizeMultiplier(real, &nd.multiplier[o], &shift);
    if (shift > 30) {  // TFLite's limit; a larger left shift overflows the int32 arithmetic
      return Status(errc::unsupported, "FULLY_CONNECTED: requantization multiplier " +
                                           std::to_string(real) + " is out of range");
    }
    nd.shift[o] = shift;
  }
  nd.rq.multiplier = nd.multiplier;
  nd.rq.shift = nd.shift;
  nd.rq.input_zero_point = in.zero_point;
  nd.rq.output_zero_point = out.zero_point;
  nd.rq.single_rounding = options_.single_rounding;
  auto quantize = [&](float f) {  // clamped before the conversion: a tiny scale is no overflow
    const double q = out.zero_point + std::round(static_cast<double>(f) / out.scale);
    return static_cast<int32_t>(std::clamp(q, -129.0, 128.0));
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
  return Status::Ok();
}

// The optimized int8 kernel's inputs: the input zero point folded into the bias, the weights
// widened and packed.
void Interpreter::Planner::PackInt8Weights(Node& nd) const {
  nd.eff_bias = reinterpret_cast<int32_t*>(it_.arena_ + nd.bias_offset);
  nd.packed = it_.arena_ + nd.packed_offset;
  const auto* w = static_cast<const int8_t*>(At(nd.weights).data);
  const auto* b = nd.bias >= 0 ? static_cast<const int32_t*>(At(nd.bias).data) : nullptr;
  kernels::EffectiveBias(w, b, nd.k, nd.n, At(nd.in).zero_point, nd.eff_bias);
  kernels::PackInt8Weights(w, nd.k, nd.n, static_cast<int16_t*>(nd.packed));
}

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
  if (options.max_batch < 1 || options.max_batch > 1 << 20) {
    return Status(errc::invalid_argument, "max_batch must be in 1..2^20");
  }
  std::unique_ptr<Interpreter> it(new Interpreter());
  it->max_batch_ = options.max_batch;
  it->inputs_ = g.inputs;
  it->outputs_ = g.outputs;
  Planner p(g, options, *it);
  if (Status st = p.CheckGraph(); !st.ok()) return st;
  if (Status st = p.SizeTensors(); !st.ok()) return st;
  if (Status st = p.PlanTensorMemory(); !st.ok()) return st;
  for (size_t oi = 0; oi < g.ops.size(); ++oi) {
    if (Status st = p.PrepareOp(oi); !st.ok()) return st;
  }
  if (Status st = p.AllocateArena(); !st.ok()) return st;
  if (Status st = p.FillArena(); !st.ok()) return st;
  return it;
}

Status Interpreter::Invoke(int batch) {
  if (batch < 1 || batch > max_batch_) return errc::invalid_argument;
  for (const Node& nd : nodes_) Run(nd, batch);
  return Status::Ok();
}

// One node on `batch` rows: a flat dispatch to the kernels.
void Interpreter::Run(const Node& nd, int batch) {
  const Tensor& in = tensors_[nd.in];
  const Tensor& out = tensors_[nd.out];
  const size_t count = in.elements * static_cast<size_t>(batch);
  switch (nd.kind) {
    case Kind::kFcFloat:
      RunFullyConnectedFloat(nd, batch);
      break;
    case Kind::kFcInt8:
      RunFullyConnectedInt8(nd, batch);
      break;
    case Kind::kBinary:
      BinaryFloat(nd.op, nd.act, nd.period, nd.reversed, static_cast<const float*>(in.data),
                  static_cast<const float*>(tensors_[nd.in2].data), static_cast<float*>(out.data),
                  count);
      break;
    case Kind::kLogistic:
      LogisticFloat(static_cast<const float*>(in.data), static_cast<float*>(out.data), count);
      break;
    case Kind::kSoftmax:
      SoftmaxFloat(static_cast<const float*>(in.data), static_cast<float*>(out.data),
                   count / static_cast<size_t>(nd.k), nd.k, nd.beta);
      break;
    case Kind::kRelu:
    case Kind::kRelu6:
      ReluFloat(static_cast<const float*>(in.data), static_cast<float*>(out.data), count,
                nd.kind == Kind::kRelu6 ? 6.f : __builtin_huge_valf());
      break;
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
    case Kind::kTreeEnsemble:
      RunTreeEnsemble(nd, batch);
      break;
    case Kind::kSlice:
    case Kind::kConcat:
      RunSliceOrConcat(nd, batch);
      break;
    case Kind::kCopy:
      if (in.data != out.data) std::memmove(out.data, in.data, count * TensorTypeSize(in.type));
      break;
  }
}

void Interpreter::RunFullyConnectedFloat(const Node& nd, int batch) {
  const int rows = nd.rows_per_item * batch;
  const auto* x = static_cast<const float*>(tensors_[nd.in].data);
  const auto* b = nd.bias >= 0 ? static_cast<const float*>(tensors_[nd.bias].data) : nullptr;
  auto* y = static_cast<float*>(tensors_[nd.out].data);
  if (nd.reference) {
    kernels::FullyConnectedFloatRef(
        x, rows, nd.k, static_cast<const float*>(tensors_[nd.weights].data), b, nd.n, nd.act, y);
  } else {
    kernels::FullyConnectedFloatOpt(x, rows, nd.k, static_cast<const float*>(nd.packed), b, nd.n,
                                    nd.act, y);
  }
}

// Row by row copies along the last axis (rows = batch x the tensors' first dimension).
void Interpreter::RunSliceOrConcat(const Node& nd, int batch) {
  auto* y = static_cast<float*>(tensors_[nd.out].data);
  const Tensor& out = tensors_[nd.out];
  // Prepare checked: the input (SLICE) or every input and the output (CONCATENATION) are [B, w].
  const size_t rows = static_cast<size_t>(tensors_[nd.in].shape[0]) * static_cast<size_t>(batch);
  if (nd.kind == Kind::kSlice) {
    const auto* x = static_cast<const float*>(tensors_[nd.in].data);
    for (size_t r = 0; r < rows; ++r) {
      std::memcpy(y + r * nd.len, x + r * nd.width + nd.begin, sizeof(float) * nd.len);
    }
    return;
  }
  const size_t w_out = static_cast<size_t>(out.shape[1]);
  size_t col = 0;
  for (size_t i = 0; i < nd.list_len; ++i) {
    const Tensor& t = tensors_[lists_[nd.list + i]];
    const auto* x = static_cast<const float*>(t.data);
    const size_t w = static_cast<size_t>(t.shape[1]);
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(y + r * w_out + col, x + r * w, sizeof(float) * w);
    col += w;
  }
}

void Interpreter::RunTreeEnsemble(const Node& nd, int batch) {
  const auto* x = static_cast<const float*>(tensors_[nd.in].data);
  auto* y = static_cast<float*>(tensors_[nd.out].data);
  Trees& t = trees_[nd.trees];
  if (nd.reference) {
    kernels::TreeEnsembleRef(t.ensemble, x, batch, y);
  } else if (t.binned) {
    kernels::TreeEnsembleBinned(t.bins, x, batch, y, t.scratch.data());
  } else {
    kernels::TreeEnsembleOpt(t.packed, x, batch, y);
  }
}

void Interpreter::RunFullyConnectedInt8(const Node& nd, int batch) {
  const int rows = nd.rows_per_item * batch;
  const auto* x = static_cast<const int8_t*>(tensors_[nd.in].data);
  auto* y = static_cast<int8_t*>(tensors_[nd.out].data);
  if (nd.reference) {
    const auto* b = nd.bias >= 0 ? static_cast<const int32_t*>(tensors_[nd.bias].data) : nullptr;
    kernels::FullyConnectedInt8Ref(
        x, rows, nd.k, static_cast<const int8_t*>(tensors_[nd.weights].data), b, nd.n, nd.rq, y);
  } else {
    kernels::FullyConnectedInt8Opt(x, rows, nd.k, static_cast<const int16_t*>(nd.packed),
                                   nd.eff_bias, nd.n, nd.rq, y, nd.isa);
  }
}

}  // namespace aiot::ml
