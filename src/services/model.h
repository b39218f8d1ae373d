#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "services/levels.h"

namespace aiot::services {

// A model as the predictor and the scoring API see it: immutable once loaded, named
// ("fan-mlp@3"), with its input features in order and optionally its own thresholds.
// Thread-safety: every method may be called from any thread at once (implementations keep
// per-thread scratch state, e.g. one interpreter arena per thread).
class ScoringModel {
 public:
  virtual ~ScoringModel() = default;

  // "<name>@<version>", reported with every result.
  virtual const std::string& name() const = 0;
  // Feature names in input order (from the model's metadata); empty when the model names none.
  virtual const std::vector<std::string>& features() const = 0;
  // Number of input features per row.
  virtual size_t input_size() const = 0;
  // True for a time-to-failure model (metadata task "time_to_failure"): Score writes hours until
  // the device's next failure, not probabilities. The predictor scores it alongside the fault
  // model instead of replacing it.
  virtual bool time_to_failure() const { return false; }
  // Thresholds from the model's metadata, if it carries them.
  virtual std::optional<Thresholds> thresholds() const { return std::nullopt; }
  // Reference profile of the training data for drift detection: per feature, sample values
  // (may be empty when the model carries none).
  virtual const std::vector<std::vector<float>>& reference_profile() const;

  // Scores `rows` rows of input_size() floats (row-major) into `scores` (one probability of a
  // fault per row, in [0, 1]; hours for a time-to-failure model).
  virtual Status Score(const float* input, size_t rows, float* scores) const = 0;
};

using ModelPtr = std::shared_ptr<const ScoringModel>;

// The model currently in service. Swapping is atomic: a batch takes a snapshot (Get) and is
// scored entirely by that model; the next batch sees the new one. No message is dropped.
// Thread-safety: all methods are safe from any thread.
class ModelHolder {
 public:
  ModelHolder() = default;
  explicit ModelHolder(ModelPtr model) : model_(std::move(model)) {}

  ModelPtr Get() const { return model_.load(std::memory_order_acquire); }
  // Installs `model`; returns the previous one.
  ModelPtr Swap(ModelPtr model) {
    swaps_.fetch_add(1, std::memory_order_relaxed);
    return model_.exchange(std::move(model), std::memory_order_acq_rel);
  }
  uint64_t swaps() const { return swaps_.load(std::memory_order_relaxed); }

 private:
  std::atomic<ModelPtr> model_;
  std::atomic<uint64_t> swaps_{0};
};

}  // namespace aiot::services
