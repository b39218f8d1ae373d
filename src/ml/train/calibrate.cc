#include "ml/train/calibrate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/errc.h"

namespace aiot::ml {

const char* CalibrationName(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kPlatt:
      return "platt";
    case CalibrationMethod::kIsotonic:
      return "isotonic";
    default:
      return "none";
  }
}

bool ParseCalibration(const std::string& text, CalibrationMethod* m) {
  for (auto c :
       {CalibrationMethod::kNone, CalibrationMethod::kPlatt, CalibrationMethod::kIsotonic}) {
    if (text == CalibrationName(c)) {
      *m = c;
      return true;
    }
  }
  return false;
}

namespace {

double PlattLoss(const std::vector<float>& z, const std::vector<double>& t, double a, double b) {
  double loss = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    const double f = a * z[i] + b;
    // log(1 + e^f) - t f, stable for both signs of f
    loss += (f > 0 ? f + std::log1p(std::exp(-f)) : std::log1p(std::exp(f))) - t[i] * f;
  }
  return loss;
}

}  // namespace

Calibration FitPlatt(const std::vector<float>& z, const std::vector<int32_t>& labels) {
  Calibration c;
  c.method = CalibrationMethod::kPlatt;
  const size_t n = std::min(z.size(), labels.size());
  double pos = 0;
  for (size_t i = 0; i < n; ++i) pos += labels[i] == 1;
  const double neg = static_cast<double>(n) - pos;
  std::vector<double> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = labels[i] == 1 ? (pos + 1) / (pos + 2) : 1 / (neg + 2);
  std::vector<float> zz(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(n));
  double a = 1, b = 0, loss = PlattLoss(zz, t, a, b);
  for (int it = 0; it < 100; ++it) {
    double ga = 0, gb = 0, haa = 1e-12, hab = 0, hbb = 1e-12;
    for (size_t i = 0; i < n; ++i) {
      const double p = 1 / (1 + std::exp(-(a * zz[i] + b)));
      const double d = p - t[i], w = p * (1 - p);
      ga += d * zz[i];
      gb += d;
      haa += w * zz[i] * zz[i];
      hab += w * zz[i];
      hbb += w;
    }
    const double det = haa * hbb - hab * hab;
    if (!(std::abs(det) > 0)) break;
    const double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    double step = 1;
    for (; step > 1e-10; step /= 2) {  // backtracking: never increase the loss
      const double l = PlattLoss(zz, t, a - step * da, b - step * db);
      if (l <= loss) {
        a -= step * da;
        b -= step * db;
        loss = l;
        break;
      }
    }
    if (step <= 1e-10 || std::abs(da) + std::abs(db) < 1e-9) break;
  }
  c.a = a;
  c.b = b;
  return c;
}

Calibration FitIsotonic(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  Calibration c;
  c.method = CalibrationMethod::kIsotonic;
  const size_t n = std::min(scores.size(), labels.size());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  struct Block {
    double sum, weight;
    float lo, hi;
  };
  std::vector<Block> blocks;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    const double y = labels[i] == 1 ? 1 : 0;
    if (!blocks.empty() && blocks.back().hi == scores[i]) {  // ties are one point
      blocks.back().sum += y;
      blocks.back().weight += 1;
    } else {
      blocks.push_back({y, 1, scores[i], scores[i]});
    }
    // Pool adjacent violators: merge while the previous block's mean is not below this one's.
    while (blocks.size() > 1) {
      Block& cur = blocks.back();
      Block& prev = blocks[blocks.size() - 2];
      if (prev.sum / prev.weight < cur.sum / cur.weight) break;
      prev.sum += cur.sum;
      prev.weight += cur.weight;
      prev.hi = cur.hi;
      blocks.pop_back();
    }
  }
  if (blocks.empty()) {
    c.x = {0.f};
    c.y = {0.5f};
    return c;
  }
  const float range = blocks.back().hi - blocks.front().lo;
  const float spacing = std::max(1e-3f, range / 200.f);
  auto keep = [&](float x, float y, bool force) {
    if (c.x.empty() || x - c.x.back() >= spacing) {
      c.x.push_back(x);
      c.y.push_back(y);
    } else if (force && x > c.x.back()) {  // the last knot: replace the one too close to it
      c.x.back() = x;
      c.y.back() = std::max(c.y.back(), y);
    }
  };
  for (size_t k = 0; k < blocks.size(); ++k) {
    const float mean = static_cast<float>(blocks[k].sum / blocks[k].weight);
    keep(blocks[k].lo, mean, false);
    keep(blocks[k].hi, mean, k + 1 == blocks.size());
  }
  return c;
}

float ApplyCalibration(const Calibration& c, float v) {
  switch (c.method) {
    case CalibrationMethod::kPlatt:
      return 1.f / (1.f + std::exp(-static_cast<float>(c.a * v + c.b)));
    case CalibrationMethod::kIsotonic: {
      if (v <= c.x.front()) return c.y.front();
      if (v >= c.x.back()) return c.y.back();
      const size_t k = std::upper_bound(c.x.begin(), c.x.end(), v) - c.x.begin();
      const float t = (v - c.x[k - 1]) / (c.x[k] - c.x[k - 1]);
      return c.y[k - 1] + t * (c.y[k] - c.y[k - 1]);
    }
    default:
      return v;
  }
}

int LogitTensor(const GraphSpec& g) {
  if (g.ops.empty() || g.outputs.empty()) return -1;
  const OpSpec& last = g.ops.back();
  if (last.op() != Op::kLogistic || last.inputs.empty() || last.outputs.empty() ||
      last.outputs[0] != g.outputs[0]) {
    return -1;
  }
  return last.inputs[0];
}

namespace {

int32_t Add(GraphSpec& g, std::string name, std::vector<int32_t> shape,
            std::vector<float> data = {}) {
  TensorSpec t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.data = ToBytes(data);
  g.tensors.push_back(std::move(t));
  return static_cast<int32_t>(g.tensors.size() - 1);
}

OpSpec Make(Op op, std::vector<int32_t> in, int32_t out, Activation act = Activation::kNone) {
  OpSpec o;
  o.builtin_code = static_cast<int32_t>(op);
  o.inputs = std::move(in);
  o.outputs = {out};
  o.activation = act;
  return o;
}

// score -> FC(K, RELU) -> FC(1, RELU) -> new output (the old output is renamed).
void AddIsotonic(GraphSpec& g, const Calibration& c) {
  const int32_t score = g.outputs[0];
  g.tensors[score].name = "calibration/uncalibrated";
  const int k = static_cast<int>(c.x.size());
  std::vector<float> ones(k, 1.f), bias(k), change(k, 0.f);
  for (int i = 0; i < k; ++i) bias[i] = -c.x[i];
  double prev = 0;
  for (int i = 0; i + 1 < k; ++i) {
    const double slope =
        (static_cast<double>(c.y[i + 1]) - c.y[i]) / (static_cast<double>(c.x[i + 1]) - c.x[i]);
    change[i] = static_cast<float>(slope - prev);
    prev = slope;
  }
  if (k > 1) change[k - 1] = static_cast<float>(-prev);
  const int32_t w1 = Add(g, "calibration/knot_weights", {k, 1}, ones);
  const int32_t b1 = Add(g, "calibration/knots", {k}, bias);
  const int32_t hidden = Add(g, "calibration/ramps", {1, k});
  const int32_t w2 = Add(g, "calibration/slope_changes", {1, k}, change);
  const int32_t b2 = Add(g, "calibration/base", {1}, {c.y.front()});
  const int32_t out = Add(g, "score", {1, 1});
  g.ops.push_back(Make(Op::kFullyConnected, {score, w1, b1}, hidden, Activation::kRelu));
  g.ops.push_back(Make(Op::kFullyConnected, {hidden, w2, b2}, out, Activation::kRelu));
  g.outputs[0] = out;
}

}  // namespace

Result<GraphSpec> AddCalibration(GraphSpec g, const Calibration& c) {
  if (c.method == CalibrationMethod::kNone) return g;
  const int logit = LogitTensor(g);
  if (logit < 0) {
    return Status(errc::unsupported,
                  "calibration needs a binary model ending in LOGISTIC (not softmax)");
  }
  if (c.method == CalibrationMethod::kIsotonic) {
    if (c.x.empty() || c.x.size() != c.y.size()) {
      return Status(errc::invalid_argument, "isotonic calibration without knots");
    }
    AddIsotonic(g, c);
    return g;
  }
  const int32_t a = Add(g, "calibration/platt_a", {1}, {static_cast<float>(c.a)});
  const int32_t b = Add(g, "calibration/platt_b", {1}, {static_cast<float>(c.b)});
  const int32_t scaled = Add(g, "calibration/scaled", {1, 1});
  const int32_t shifted = Add(g, "calibration/logit", {1, 1});
  OpSpec logistic = g.ops.back();
  g.ops.pop_back();
  g.ops.push_back(Make(Op::kMul, {logit, a}, scaled));
  g.ops.push_back(Make(Op::kAdd, {scaled, b}, shifted));
  logistic.inputs[0] = shifted;
  g.ops.push_back(std::move(logistic));
  return g;
}

}  // namespace aiot::ml
