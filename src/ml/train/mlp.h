#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"

namespace aiot::ml {

// A trained multi-layer perceptron in the layout TensorFlow Lite uses: each dense layer holds
// weights as [outputs][inputs] row-major and a bias per output. Hidden layers use ReLU; the output
// layer is a sigmoid (binary, one unit) or a softmax (K classes, K units). Inputs are raw feature
// values; `norm` standardises them first ((x - mean) / stddev), as the exported model does.
struct DenseLayer {
  int inputs = 0;
  int outputs = 0;
  std::vector<float> weights;  // outputs * inputs, row-major
  std::vector<float> bias;     // outputs
  bool relu = false;
};

enum class OutputKind { kSigmoid, kSoftmax };

struct Mlp {
  std::vector<DenseLayer> layers;
  OutputKind output = OutputKind::kSigmoid;
  Normalization norm;

  int num_inputs() const { return layers.empty() ? 0 : layers.front().inputs; }
  int num_outputs() const { return layers.empty() ? 0 : layers.back().outputs; }
  // Class probabilities for one raw sample: 1 value (P(class 1)) for sigmoid, K for softmax.
  // A plain float reference used by tests and evaluation.
  void Predict(const float* raw_features, float* out) const;
  // Predict for every row: data.rows * num_outputs() values.
  std::vector<float> PredictAll(const Dataset& data) const;
};

// Learning-rate schedule over the epochs: constant (Keras' default), or cosine decay to
// `min_learning_rate`, which sharpens decision boundaries in the last epochs.
enum class LrSchedule { kConstant, kCosine };

// Training hyper-parameters. Defaults are the reference recipe (Keras: Dense 60-30-10 ReLU,
// sigmoid, binary cross-entropy, Adam, 250 epochs, batch 32, 33% test).
struct TrainConfig {
  std::vector<int> hidden = {60, 30, 10};  // empty = logistic regression
  int epochs = 250;
  int batch_size = 32;
  double learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;  // Keras' default
  uint64_t seed = 42;
  double test_fraction = 0.33;
  double validation_fraction = 0.1;  // of the rows left after the test split
  LrSchedule schedule = LrSchedule::kCosine;
  double min_learning_rate = 0.0;
  double l2 = 3e-4;  // L2 penalty on weights (not biases): loss += l2 * sum(w^2)
  int patience = 0;  // early stopping on validation loss after this many epochs; 0 = off
  bool balanced_class_weights = false;  // weight classes by N / (K * n_class)
};

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0;
  double val_loss = 0;
  double val_accuracy = 0;
  double seconds = 0;  // since training started
};

struct TrainResult {
  Mlp model;
  Split split;
  std::vector<EpochStats> history;
  int best_epoch = 0;  // the epoch whose weights were kept
  double seconds = 0;
};

using ProgressFn = std::function<void(const EpochStats& stats, int total_epochs)>;

// Trains on `data` (labels 0..K-1; K == 2 gives a sigmoid output). Single-threaded and
// deterministic: the same data, config and seed give bit-identical weights on the same machine.
// Errors: errc::invalid_argument saying which setting or which class is the problem.
Result<TrainResult> Train(const Dataset& data, const TrainConfig& config,
                          const ProgressFn& progress = {});

}  // namespace aiot::ml
