#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "services/alert_tracker.h"
#include "services/model.h"
#include "services/predictor_config.h"
#include "services/telemetry.h"
#include "telemetry/rejections.h"

namespace aiot::services {

// Where the detector's output goes. The predictor service publishes over MQTT; tests collect.
class DetectorSink {
 public:
  virtual ~DetectorSink() = default;
  virtual void Publish(std::string_view topic, std::string_view payload) = 0;
  // An alert (already published on the alert topic) for out-of-band delivery (the webhook).
  virtual void Alert(std::string_view payload) { (void)payload; }
};

// Online drift check hook: sees every scored row; returns a JSON event to publish when drift is
// found. Implemented over src/ml's drift monitor (see predictor.cc).
class DriftWatch {
 public:
  virtual ~DriftWatch() = default;
  virtual void Observe(const float* row, size_t n) = 0;
  // Called every `check_every` readings; a non-empty result is published on the drift topic.
  virtual std::string Check() = 0;
};
using DriftWatchFactory = std::function<std::unique_ptr<DriftWatch>(const ScoringModel&)>;

// The predictor's stream logic, sans I/O: telemetry payloads in; anomalies, alerts, actuator
// commands, drift events and dead letters out through a DetectorSink. Readings are parsed into a
// batch and scored together by one model snapshot, so a model swap takes effect between batches
// and never drops or splits a reading.
//
// Not thread-safe: one detector per worker, driven from one thread (the ModelHolder it reads
// may be swapped from any thread).
class AnomalyDetector {
 public:
  AnomalyDetector(const PredictorConfig& config, ModelHolder& models, prometheus::Registry& metrics,
                  const Clock& clock, DetectorSink& sink, DriftWatchFactory drift = nullptr);

  // Handles one telemetry message: dead-letters it, or adds it to the batch (scoring the batch
  // when it is full).
  void Ingest(std::string_view topic, std::string_view payload);
  // Scores and publishes the pending batch, if any.
  void Flush();

  // A time-to-failure model to score each batch with as well (ScoringModel::time_to_failure):
  // its hours go into every result as `time_to_failure_h`. Its features are taken by name from
  // the fault model's row (so it may use fewer or reorder them); one that needs a feature the fault
  // model does not read is skipped (logged once). nullptr = none. Set before the first Ingest.
  void SetTimeToFailureModels(const ModelHolder* ttf) { ttf_models_ = ttf; }

  size_t pending() const { return pending_; }
  const AlertTracker& alerts() const { return tracker_; }

 private:
  void DeadLetter(std::string_view topic, std::string_view payload, std::string_view label,
                  std::string_view reason);
  // Builds the parser etc. for `model`; false (with `why`) when telemetry cannot feed it.
  bool PrepareFor(const ModelPtr& model, std::string* why);
  void HandleTransition(size_t row, float score, AlertTransition t, std::string_view model);
  void CountReceived();
  // Scores the batch's n rows with the TTF model into ttf_; its name, or nullptr when there is
  // none or it does not fit `model`'s features.
  const std::string* ScoreTimeToFailure(const ModelPtr& model, size_t n);

  PredictorConfig config_;
  ModelHolder& models_;
  const Clock& clock_;
  DetectorSink& sink_;
  DriftWatchFactory drift_factory_;

  // The model of the current batch, and the parser/drift watch built for it.
  ModelPtr batch_model_;
  ModelPtr prepared_for_;
  std::unique_ptr<TelemetryParser> parser_;
  std::unique_ptr<DriftWatch> drift_;
  uint64_t drift_count_ = 0;
  Thresholds thresholds_;

  size_t pending_ = 0;
  uint64_t unreported_received_ = 0;  // received, not yet added to received_
  size_t width_ = 0;
  std::vector<float> rows_;
  std::vector<float> scores_;
  std::vector<std::string> device_ids_;
  std::vector<std::string> timestamps_;
  std::string out_;
  std::string topic_;

  const ModelHolder* ttf_models_ = nullptr;
  ModelPtr ttf_for_, ttf_fault_for_;  // the pair ttf_index_ was built for
  std::vector<size_t> ttf_index_;     // TTF input j = fault model's column ttf_index_[j]
  bool ttf_fits_ = false;
  std::vector<float> ttf_rows_, ttf_;

  AlertTracker tracker_;
  telemetry::Rejections rejections_;

  prometheus::Counter& received_;
  prometheus::Counter& scored_;
  prometheus::Family<prometheus::Counter>& deadletter_family_;
  prometheus::Family<prometheus::Counter>& results_family_;
  prometheus::Counter* results_by_level_[3];
  prometheus::Family<prometheus::Counter>& alerts_family_;
  prometheus::Counter& commands_;
  prometheus::Counter& scoring_errors_;
  prometheus::Counter& drift_events_;
  prometheus::Histogram& batch_size_;
};

}  // namespace aiot::services
