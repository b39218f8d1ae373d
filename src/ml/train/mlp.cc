#include "ml/train/mlp.h"

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "base/errc.h"
#include "ml/data/random.h"

namespace aiot::ml {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;

// Dense layer state during training: W is outputs x inputs.
struct TrainLayer {
  Matrix w, mw, vw, gw;
  Vector b, mb, vb, gb;
  bool relu = false;
};

// Column-per-sample standardised features.
Matrix Standardise(const Dataset& data, const std::vector<size_t>& rows, const Normalization& n) {
  Matrix m(data.cols, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* r = data.Row(rows[i]);
    for (size_t j = 0; j < data.cols; ++j) m(j, i) = (r[j] - n.mean[j]) / n.stddev[j];
  }
  return m;
}

// Forward pass on the columns of `x`; z/a hold pre- and post-activation per layer.
void Forward(std::vector<TrainLayer>& layers, const Eigen::Ref<const Matrix>& x,
             std::vector<Matrix>& z, std::vector<Matrix>& a, OutputKind output) {
  const Eigen::Index n = x.cols();
  for (size_t l = 0; l < layers.size(); ++l) {
    auto& L = layers[l];
    z[l].resize(L.w.rows(), n);
    if (l == 0) {
      z[l].noalias() = L.w * x;
    } else {
      z[l].noalias() = L.w * a[l - 1];
    }
    z[l].colwise() += L.b;
    a[l].resize(L.w.rows(), n);
    if (L.relu) {
      a[l] = z[l].cwiseMax(0.f);
    } else if (output == OutputKind::kSigmoid) {
      a[l] = ((-z[l].array()).exp() + 1.f).inverse();
    } else {
      for (Eigen::Index c = 0; c < n; ++c) {
        float mx = z[l].col(c).maxCoeff();
        a[l].col(c) = (z[l].col(c).array() - mx).exp();
        a[l].col(c) /= a[l].col(c).sum();
      }
    }
  }
}

// Mean loss (per-sample weighted) and correct predictions on the columns of `x`.
void LossAndAccuracy(std::vector<TrainLayer>& layers, const Matrix& x,
                     const std::vector<int32_t>& y, OutputKind output, double* loss,
                     double* accuracy) {
  std::vector<Matrix> z(layers.size()), a(layers.size());
  Forward(layers, x, z, a, output);
  const Matrix& p = a.back();
  double total = 0;
  size_t correct = 0;
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    if (output == OutputKind::kSigmoid) {
      double zz = z.back()(0, c);
      double t = y[c];
      total += std::max(zz, 0.0) - zz * t + std::log1p(std::exp(-std::abs(zz)));
      correct += ((p(0, c) >= 0.5f) ? 1 : 0) == y[c];
    } else {
      Eigen::Index arg;
      p.col(c).maxCoeff(&arg);
      total += -std::log(std::max(p(y[c], c), 1e-12f));
      correct += arg == y[c];
    }
  }
  const double n = std::max<double>(1, static_cast<double>(x.cols()));
  *loss = total / n;
  *accuracy = static_cast<double>(correct) / n;
}

Mlp ToMlp(const std::vector<TrainLayer>& layers, OutputKind output, const Normalization& norm) {
  Mlp m;
  m.output = output;
  m.norm = norm;
  for (const auto& L : layers) {
    DenseLayer d;
    d.inputs = static_cast<int>(L.w.cols());
    d.outputs = static_cast<int>(L.w.rows());
    d.relu = L.relu;
    d.weights.resize(static_cast<size_t>(d.inputs) * d.outputs);
    for (int o = 0; o < d.outputs; ++o) {
      for (int i = 0; i < d.inputs; ++i)
        d.weights[static_cast<size_t>(o) * d.inputs + i] = L.w(o, i);
    }
    d.bias.assign(L.b.data(), L.b.data() + L.b.size());
    m.layers.push_back(std::move(d));
  }
  return m;
}

}  // namespace

void Mlp::Predict(const float* raw, float* out) const {
  std::vector<float> cur(raw, raw + num_inputs()), next;
  for (size_t j = 0; j < cur.size(); ++j) cur[j] = (cur[j] - norm.mean[j]) / norm.stddev[j];
  for (const auto& L : layers) {
    next.assign(L.outputs, 0.f);
    for (int o = 0; o < L.outputs; ++o) {
      float acc = L.bias[o];
      for (int i = 0; i < L.inputs; ++i)
        acc += L.weights[static_cast<size_t>(o) * L.inputs + i] * cur[i];
      next[o] = L.relu ? std::max(acc, 0.f) : acc;
    }
    cur.swap(next);
  }
  if (output == OutputKind::kSigmoid) {
    out[0] = 1.f / (1.f + std::exp(-cur[0]));
  } else {
    float mx = *std::max_element(cur.begin(), cur.end());
    float sum = 0;
    for (float& v : cur) sum += (v = std::exp(v - mx));
    for (size_t k = 0; k < cur.size(); ++k) out[k] = cur[k] / sum;
  }
}

std::vector<float> Mlp::PredictAll(const Dataset& data) const {
  std::vector<float> out(data.rows * num_outputs());
  for (size_t r = 0; r < data.rows; ++r) Predict(data.Row(r), out.data() + r * num_outputs());
  return out;
}

Result<TrainResult> Train(const Dataset& data, const TrainConfig& cfg, const ProgressFn& progress) {
  auto fail = [](errc e, std::string msg) { return Status(e, std::move(msg)); };
  if (data.y.size() != data.rows || data.rows == 0) {
    return fail(errc::invalid_argument, "training needs labeled rows");
  }
  if (cfg.epochs <= 0 || cfg.batch_size <= 0 || cfg.learning_rate <= 0) {
    return fail(errc::invalid_argument, "epochs, batch size and learning rate must be positive");
  }
  if (cfg.test_fraction < 0 || cfg.test_fraction >= 1 || cfg.validation_fraction < 0 ||
      cfg.validation_fraction >= 1) {
    return fail(errc::invalid_argument, "test and validation fractions must be in [0, 1)");
  }
  if (cfg.schedule != "constant" && cfg.schedule != "cosine") {
    return fail(errc::invalid_argument, "schedule must be constant or cosine");
  }
  for (int h : cfg.hidden) {
    if (h <= 0) return fail(errc::invalid_argument, "hidden layer sizes must be positive");
  }
  const int k = data.num_classes();
  std::vector<size_t> counts(k, 0);
  for (int32_t c : data.y) counts[c]++;
  for (int c = 0; c < k; ++c) {
    if (counts[c] == 0) {
      return fail(errc::invalid_argument,
                  "class " + std::to_string(c) + " ('" + data.class_names[c] + "') has no rows");
    }
  }
  const OutputKind output = k == 2 ? OutputKind::kSigmoid : OutputKind::kSoftmax;
  const int out_units = k == 2 ? 1 : k;

  TrainResult result;
  result.split = StratifiedSplit(data.y, k, cfg.test_fraction, cfg.validation_fraction, cfg.seed);
  const auto& train_rows = result.split.train;
  if (train_rows.empty()) return fail(errc::invalid_argument, "no training rows after the split");
  const Normalization norm = ComputeNormalization(data, train_rows);
  const Matrix x_train = Standardise(data, train_rows, norm);
  const Matrix x_val = Standardise(data, result.split.validation, norm);
  std::vector<int32_t> y_train(train_rows.size()), y_val(result.split.validation.size());
  for (size_t i = 0; i < train_rows.size(); ++i) y_train[i] = data.y[train_rows[i]];
  for (size_t i = 0; i < y_val.size(); ++i) y_val[i] = data.y[result.split.validation[i]];

  std::vector<float> class_weight(k, 1.f);
  if (cfg.balanced_class_weights) {
    for (int c = 0; c < k; ++c) {
      class_weight[c] =
          static_cast<float>(static_cast<double>(data.rows) / (k * static_cast<double>(counts[c])));
    }
  }

  // Glorot-uniform weights (Keras' default), zero biases.
  Rng rng(cfg.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<int> sizes = {static_cast<int>(data.cols)};
  sizes.insert(sizes.end(), cfg.hidden.begin(), cfg.hidden.end());
  sizes.push_back(out_units);
  std::vector<TrainLayer> layers(sizes.size() - 1);
  for (size_t l = 0; l < layers.size(); ++l) {
    auto& L = layers[l];
    const int in = sizes[l], out = sizes[l + 1];
    const double limit = std::sqrt(6.0 / (in + out));
    L.w.resize(out, in);
    for (int i = 0; i < in; ++i) {
      for (int o = 0; o < out; ++o) L.w(o, i) = static_cast<float>(rng.Uniform(-limit, limit));
    }
    L.b = Vector::Zero(out);
    L.mw = L.vw = L.gw = Matrix::Zero(out, in);
    L.mb = L.vb = L.gb = Vector::Zero(out);
    L.relu = l + 1 < layers.size();
  }

  const int bs = cfg.batch_size;
  const size_t n = train_rows.size();
  Matrix xb(data.cols, bs), yb(out_units, bs), delta, delta_prev;
  Vector wb(bs);
  std::vector<Matrix> z(layers.size()), a(layers.size());
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  Rng shuffle_rng(cfg.seed);

#if defined(__SSE__)
  // Adam's second moments and small weights drift into subnormal floats, which are two orders of
  // magnitude slower on x86. Flush them to zero while training (deterministic either way).
  struct FlushDenormals {
    unsigned int saved = _mm_getcsr();
    FlushDenormals() { _mm_setcsr(saved | 0x8040); }  // FTZ | DAZ
    ~FlushDenormals() { _mm_setcsr(saved); }
  } flush_denormals;
#endif
  const auto start = std::chrono::steady_clock::now();
  double best_val = std::numeric_limits<double>::infinity();
  int since_best = 0;
  std::vector<TrainLayer> best = layers;
  result.best_epoch = cfg.epochs;
  int64_t step = 0;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    shuffle_rng.Shuffle(order);
    double epoch_lr = cfg.learning_rate;
    if (cfg.schedule == "cosine") {
      const double progress_frac = static_cast<double>(epoch - 1) / cfg.epochs;
      epoch_lr =
          cfg.min_learning_rate + (cfg.learning_rate - cfg.min_learning_rate) * 0.5 *
                                      (1.0 + std::cos(3.14159265358979323846 * progress_frac));
    }
    double epoch_loss = 0;
    for (size_t begin = 0; begin < n; begin += bs) {
      const Eigen::Index b = static_cast<Eigen::Index>(std::min<size_t>(bs, n - begin));
      yb.setZero();
      for (Eigen::Index c = 0; c < b; ++c) {
        const size_t idx = order[begin + c];
        xb.col(c) = x_train.col(static_cast<Eigen::Index>(idx));
        const int32_t y = y_train[idx];
        if (output == OutputKind::kSigmoid) {
          yb(0, c) = static_cast<float>(y);
        } else {
          yb(y, c) = 1.f;
        }
        wb(c) = class_weight[y];
      }
      auto x_used = xb.leftCols(b);
      Forward(layers, x_used, z, a, output);
      // d(loss)/dz of the output for sigmoid + BCE and softmax + CE alike: (p - y) * w / b.
      delta = a.back() - yb.leftCols(b);
      for (Eigen::Index c = 0; c < b; ++c) delta.col(c) *= wb(c) / static_cast<float>(b);
      for (Eigen::Index c = 0; c < b; ++c) {
        if (output == OutputKind::kSigmoid) {
          double zz = z.back()(0, c);
          epoch_loss +=
              wb(c) * (std::max(zz, 0.0) - zz * yb(0, c) + std::log1p(std::exp(-std::abs(zz))));
        } else {
          Eigen::Index t;
          yb.col(c).maxCoeff(&t);
          epoch_loss += -wb(c) * std::log(std::max(a.back()(t, c), 1e-12f));
        }
      }
      for (size_t l = layers.size(); l-- > 0;) {
        auto& L = layers[l];
        if (l == 0) {
          L.gw.noalias() = delta * x_used.transpose();
        } else {
          L.gw.noalias() = delta * a[l - 1].transpose();
        }
        if (cfg.l2 > 0) L.gw += (2.0f * static_cast<float>(cfg.l2)) * L.w;
        L.gb = delta.rowwise().sum();
        if (l > 0) {
          delta_prev.noalias() = L.w.transpose() * delta;
          delta = (z[l - 1].array() > 0.f).select(delta_prev, 0.f);
        }
      }
      ++step;
      const double lr_t =
          epoch_lr * std::sqrt(1.0 - std::pow(cfg.beta2, step)) / (1.0 - std::pow(cfg.beta1, step));
      const float b1 = static_cast<float>(cfg.beta1), b2 = static_cast<float>(cfg.beta2);
      const float lr = static_cast<float>(lr_t), eps = static_cast<float>(cfg.epsilon);
      for (auto& L : layers) {
        L.mw = b1 * L.mw + (1.f - b1) * L.gw;
        L.vw = b2 * L.vw + (1.f - b2) * L.gw.cwiseAbs2();
        L.w.array() -= lr * L.mw.array() / (L.vw.array().sqrt() + eps);
        L.mb = b1 * L.mb + (1.f - b1) * L.gb;
        L.vb = b2 * L.vb + (1.f - b2) * L.gb.cwiseAbs2();
        L.b.array() -= lr * L.mb.array() / (L.vb.array().sqrt() + eps);
      }
    }
    EpochStats st;
    st.epoch = epoch;
    st.loss = epoch_loss / static_cast<double>(n);
    if (x_val.cols() > 0) {
      LossAndAccuracy(layers, x_val, y_val, output, &st.val_loss, &st.val_accuracy);
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.history.push_back(st);
    if (progress) progress(st, cfg.epochs);
    if (cfg.patience > 0 && x_val.cols() > 0) {
      if (st.val_loss < best_val - 1e-6) {
        best_val = st.val_loss;
        best = layers;
        result.best_epoch = epoch;
        since_best = 0;
      } else if (++since_best >= cfg.patience) {
        break;
      }
    }
  }
  if (cfg.patience > 0 && x_val.cols() > 0) layers = best;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.model = ToMlp(layers, output, norm);
  return result;
}

}  // namespace aiot::ml
