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

// The checks Train makes before it splits the data.
Status CheckConfig(const Dataset& data, const TrainConfig& cfg) {
  auto invalid = [](std::string msg) { return Status(errc::invalid_argument, std::move(msg)); };
  if (data.y.size() != data.rows || data.rows == 0) return invalid("training needs labeled rows");
  if (cfg.epochs <= 0 || cfg.batch_size <= 0 || cfg.learning_rate <= 0) {
    return invalid("epochs, batch size and learning rate must be positive");
  }
  if (cfg.test_fraction < 0 || cfg.test_fraction >= 1 || cfg.validation_fraction < 0 ||
      cfg.validation_fraction >= 1) {
    return invalid("test and validation fractions must be in [0, 1)");
  }
  for (int h : cfg.hidden) {
    if (h <= 0) return invalid("hidden layer sizes must be positive");
  }
  return Status::Ok();
}

// Rows per class; an error naming the first class without rows.
Result<std::vector<size_t>> CountClasses(const Dataset& data) {
  const int k = data.num_classes();
  std::vector<size_t> counts(k, 0);
  for (int32_t c : data.y) counts[c]++;
  for (int c = 0; c < k; ++c) {
    if (counts[c] == 0) {
      return Status(errc::invalid_argument,
                    "class " + std::to_string(c) + " ('" + data.class_names[c] + "') has no rows");
    }
  }
  return counts;
}

// Per-class loss weights: 1, or N / (K * n_class) when balanced.
std::vector<float> ClassWeights(const Dataset& data, const std::vector<size_t>& counts,
                                bool balanced) {
  const int k = static_cast<int>(counts.size());
  std::vector<float> w(k, 1.f);
  if (balanced) {
    for (int c = 0; c < k; ++c) {
      w[c] =
          static_cast<float>(static_cast<double>(data.rows) / (k * static_cast<double>(counts[c])));
    }
  }
  return w;
}

std::vector<int32_t> Labels(const Dataset& data, const std::vector<size_t>& rows) {
  std::vector<int32_t> y(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) y[i] = data.y[rows[i]];
  return y;
}

// Layers for `sizes` (inputs, hidden..., outputs): Glorot-uniform weights (Keras' default), zero
// biases and Adam moments, ReLU on all but the output layer.
std::vector<TrainLayer> InitLayers(const std::vector<int>& sizes, uint64_t seed) {
  Rng rng(seed ^ 0x9e3779b97f4a7c15ULL);
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
  return layers;
}

// The epoch's learning rate: constant, or cosine decay to min_learning_rate.
double LearningRate(const TrainConfig& cfg, int epoch) {
  if (cfg.schedule == LrSchedule::kConstant) return cfg.learning_rate;
  const double progress_frac = static_cast<double>(epoch - 1) / cfg.epochs;
  return cfg.min_learning_rate + (cfg.learning_rate - cfg.min_learning_rate) * 0.5 *
                                     (1.0 + std::cos(3.14159265358979323846 * progress_frac));
}

#if defined(__SSE__)
// Adam's second moments and small weights drift into subnormal floats, which are two orders of
// magnitude slower on x86. Flush them to zero while training (deterministic either way).
struct FlushDenormals {
  unsigned int saved = _mm_getcsr();
  FlushDenormals() { _mm_setcsr(saved | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved); }
};
#else
struct FlushDenormals {};
#endif

// Mini-batch Adam over the training columns: the layers it updates and the buffers a batch
// reuses. Loss: sigmoid + binary cross-entropy or softmax + cross-entropy, per-sample weighted,
// plus L2 on the weights.
class Trainer {
 public:
  Trainer(const TrainConfig& cfg, OutputKind output, const Matrix& x, const std::vector<int32_t>& y,
          std::vector<float> class_weight, std::vector<TrainLayer>& layers)
      : cfg_(cfg),
        output_(output),
        x_(x),
        y_(y),
        class_weight_(std::move(class_weight)),
        layers_(layers),
        shuffle_rng_(cfg.seed) {
    const int bs = cfg.batch_size;
    xb_.resize(x.rows(), bs);
    yb_.resize(layers.back().w.rows(), bs);
    wb_.resize(bs);
    z_.resize(layers.size());
    a_.resize(layers.size());
    order_.resize(y.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  }

  // One pass over the training rows in a fresh random order; returns the mean weighted loss.
  double Epoch(double lr) {
    shuffle_rng_.Shuffle(order_);
    const size_t n = order_.size();
    const size_t bs = static_cast<size_t>(cfg_.batch_size);
    double loss = 0;
    for (size_t begin = 0; begin < n; begin += bs) {
      const Eigen::Index b = static_cast<Eigen::Index>(std::min<size_t>(bs, n - begin));
      LoadBatch(begin, b);
      Forward(layers_, xb_.leftCols(b), z_, a_, output_);
      OutputGradient(b, &loss);
      Backward(b);
      AdamStep(lr);
    }
    return loss / static_cast<double>(n);
  }

 private:
  // Columns order_[begin, begin + b) into xb_, their targets (0/1 or one-hot) into yb_ and their
  // class weights into wb_.
  void LoadBatch(size_t begin, Eigen::Index b) {
    yb_.setZero();
    for (Eigen::Index c = 0; c < b; ++c) {
      const size_t idx = order_[begin + c];
      xb_.col(c) = x_.col(static_cast<Eigen::Index>(idx));
      const int32_t y = y_[idx];
      if (output_ == OutputKind::kSigmoid) {
        yb_(0, c) = static_cast<float>(y);
      } else {
        yb_(y, c) = 1.f;
      }
      wb_(c) = class_weight_[y];
    }
  }

  // delta_ = d(loss)/dz of the output layer, the same for sigmoid + BCE and softmax + CE:
  // (p - y) * w / b. Adds the batch's weighted loss to *loss.
  void OutputGradient(Eigen::Index b, double* loss) {
    delta_ = a_.back() - yb_.leftCols(b);
    for (Eigen::Index c = 0; c < b; ++c) delta_.col(c) *= wb_(c) / static_cast<float>(b);
    for (Eigen::Index c = 0; c < b; ++c) {
      if (output_ == OutputKind::kSigmoid) {
        double zz = z_.back()(0, c);
        *loss +=
            wb_(c) * (std::max(zz, 0.0) - zz * yb_(0, c) + std::log1p(std::exp(-std::abs(zz))));
      } else {
        Eigen::Index t;
        yb_.col(c).maxCoeff(&t);
        *loss += -wb_(c) * std::log(std::max(a_.back()(t, c), 1e-12f));
      }
    }
  }

  // Gradients of every layer (with the L2 term), propagating delta_ back through the ReLUs.
  void Backward(Eigen::Index b) {
    auto x_used = xb_.leftCols(b);
    for (size_t l = layers_.size(); l-- > 0;) {
      auto& L = layers_[l];
      if (l == 0) {
        L.gw.noalias() = delta_ * x_used.transpose();
      } else {
        L.gw.noalias() = delta_ * a_[l - 1].transpose();
      }
      if (cfg_.l2 > 0) L.gw += (2.0f * static_cast<float>(cfg_.l2)) * L.w;
      L.gb = delta_.rowwise().sum();
      if (l > 0) {
        delta_prev_.noalias() = L.w.transpose() * delta_;
        delta_ = (z_[l - 1].array() > 0.f).select(delta_prev_, 0.f);
      }
    }
  }

  // Adam with bias correction folded into the step size.
  void AdamStep(double epoch_lr) {
    ++step_;
    const double lr_t = epoch_lr * std::sqrt(1.0 - std::pow(cfg_.beta2, step_)) /
                        (1.0 - std::pow(cfg_.beta1, step_));
    const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
    const float lr = static_cast<float>(lr_t), eps = static_cast<float>(cfg_.epsilon);
    for (auto& L : layers_) {
      L.mw = b1 * L.mw + (1.f - b1) * L.gw;
      L.vw = b2 * L.vw + (1.f - b2) * L.gw.cwiseAbs2();
      L.w.array() -= lr * L.mw.array() / (L.vw.array().sqrt() + eps);
      L.mb = b1 * L.mb + (1.f - b1) * L.gb;
      L.vb = b2 * L.vb + (1.f - b2) * L.gb.cwiseAbs2();
      L.b.array() -= lr * L.mb.array() / (L.vb.array().sqrt() + eps);
    }
  }

  const TrainConfig& cfg_;
  const OutputKind output_;
  const Matrix& x_;
  const std::vector<int32_t>& y_;
  const std::vector<float> class_weight_;
  std::vector<TrainLayer>& layers_;
  Rng shuffle_rng_;
  std::vector<size_t> order_;
  Matrix xb_, yb_, delta_, delta_prev_;
  Vector wb_;
  std::vector<Matrix> z_, a_;
  int64_t step_ = 0;
};

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
  if (Status st = CheckConfig(data, cfg); !st.ok()) return st;
  auto counts = CountClasses(data);
  if (!counts.ok()) return counts.status();
  const int k = data.num_classes();
  const OutputKind output = k == 2 ? OutputKind::kSigmoid : OutputKind::kSoftmax;
  const int out_units = k == 2 ? 1 : k;

  TrainResult result;
  result.split = StratifiedSplit(data.y, k, cfg.test_fraction, cfg.validation_fraction, cfg.seed);
  const auto& train_rows = result.split.train;
  if (train_rows.empty()) {
    return Status(errc::invalid_argument, "no training rows after the split");
  }
  const Normalization norm = ComputeNormalization(data, train_rows);
  const Matrix x_train = Standardise(data, train_rows, norm);
  const Matrix x_val = Standardise(data, result.split.validation, norm);
  const std::vector<int32_t> y_train = Labels(data, train_rows);
  const std::vector<int32_t> y_val = Labels(data, result.split.validation);

  std::vector<int> sizes = {static_cast<int>(data.cols)};
  sizes.insert(sizes.end(), cfg.hidden.begin(), cfg.hidden.end());
  sizes.push_back(out_units);
  std::vector<TrainLayer> layers = InitLayers(sizes, cfg.seed);
  Trainer trainer(cfg, output, x_train, y_train,
                  ClassWeights(data, *counts, cfg.balanced_class_weights), layers);

  [[maybe_unused]] FlushDenormals flush_denormals;
  const auto start = std::chrono::steady_clock::now();
  const bool early_stopping = cfg.patience > 0 && x_val.cols() > 0;
  double best_val = std::numeric_limits<double>::infinity();
  int since_best = 0;
  std::vector<TrainLayer> best = layers;
  result.best_epoch = cfg.epochs;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    EpochStats st;
    st.epoch = epoch;
    st.loss = trainer.Epoch(LearningRate(cfg, epoch));
    if (x_val.cols() > 0) {
      LossAndAccuracy(layers, x_val, y_val, output, &st.val_loss, &st.val_accuracy);
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.history.push_back(st);
    if (progress) progress(st, cfg.epochs);
    if (early_stopping) {
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
  if (early_stopping) layers = best;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.model = ToMlp(layers, output, norm);
  return result;
}

}  // namespace aiot::ml
