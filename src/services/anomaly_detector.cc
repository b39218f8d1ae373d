#include "services/anomaly_detector.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "base/check.h"
#include "base/log.h"
#include "services/messages.h"

namespace aiot::services {

namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r,
                                                       const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

}  // namespace

AnomalyDetector::AnomalyDetector(const PredictorConfig& config, ModelHolder& models,
                                 prometheus::Registry& metrics, const Clock& clock,
                                 DetectorSink& sink, DriftWatchFactory drift)
    : config_(config),
      models_(models),
      clock_(clock),
      sink_(sink),
      drift_factory_(std::move(drift)),
      tracker_(config.alerts),
      rejections_(&metrics, "predictor", "predictor", clock),
      received_(CounterFamily(metrics, "aiot_predictor_messages_total",
                              "Telemetry messages received by the predictor")
                    .Add({})),
      scored_(CounterFamily(metrics, "aiot_predictor_scored_total", "Readings scored").Add({})),
      deadletter_family_(CounterFamily(metrics, "aiot_predictor_deadletter_total",
                                       "Telemetry messages sent to the dead-letter topic, by "
                                       "reason")),
      results_family_(
          CounterFamily(metrics, "aiot_predictor_results_total", "Scored readings by level")),
      alerts_family_(CounterFamily(metrics, "aiot_predictor_alerts_total",
                                   "Alerts published, by level entered")),
      commands_(CounterFamily(metrics, "aiot_predictor_commands_total",
                              "Actuator commands sent to devices")
                    .Add({})),
      scoring_errors_(CounterFamily(metrics, "aiot_predictor_scoring_errors_total",
                                    "Batches the model failed to score (readings dead-lettered)")
                          .Add({})),
      drift_events_(
          CounterFamily(metrics, "aiot_predictor_drift_events_total", "Drift events published")
              .Add({})),
      batch_size_(
          prometheus::BuildHistogram()
              .Name("aiot_predictor_batch_size")
              .Help("Readings per scored batch")
              .Register(metrics)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256})) {
  for (Level l : {Level::kOk, Level::kWarning, Level::kCritical}) {
    results_by_level_[static_cast<int>(l)] =
        &results_family_.Add({{"level", std::string(LevelName(l))}});
  }
  const size_t batch = config_.max_batch;
  device_ids_.resize(batch);
  timestamps_.resize(batch);
  scores_.resize(batch);
  for (auto& s : device_ids_) s.reserve(32);
  for (auto& s : timestamps_) s.reserve(32);
  out_.reserve(512);
  topic_.reserve(128);
}

bool AnomalyDetector::PrepareFor(const ModelPtr& model, std::string* why) {
  if (prepared_for_ == model) return true;
  // A new model (start-up or a swap): rebuild what depends on it. Rare; allocation is fine.
  auto resolved = ResolveFeatures(config_.telemetry, model->features());
  if (!resolved.ok()) {
    *why = "predictor: " + resolved.status().message();
    return false;
  }
  std::vector<FeatureField> features = std::move(*resolved);
  if (features.size() != model->input_size()) {
    *why = fmt::format("model {} takes {} inputs but the telemetry mapping gives {} features",
                       model->name(), model->input_size(), features.size());
    return false;
  }
  bool same_fields = parser_ && parser_->features().size() == features.size();
  for (size_t i = 0; same_fields && i < features.size(); ++i) {
    same_fields = parser_->features()[i].field == features[i].field &&
                  parser_->features()[i].min == features[i].min &&
                  parser_->features()[i].max == features[i].max;
  }
  if (!same_fields) {
    parser_ = std::make_unique<TelemetryParser>(config_.telemetry.Message(), std::move(features));
  }
  width_ = parser_->feature_count();
  rows_.assign(width_ * config_.max_batch, 0.0f);
  thresholds_ = Thresholds{config_.thresholds.warning, config_.thresholds.critical};
  if (config_.thresholds.from_model) {
    if (auto t = model->thresholds()) thresholds_ = *t;
  }
  drift_.reset();
  drift_count_ = 0;
  if (config_.drift.enabled && drift_factory_) drift_ = drift_factory_(*model);
  prepared_for_ = model;
  return true;
}

void AnomalyDetector::DeadLetter(std::string_view topic, std::string_view payload,
                                 std::string_view label, std::string_view reason) {
  CountReceived();
  deadletter_family_.Add({{"reason", std::string(label)}}).Increment();
  out_.clear();
  AppendDeadLetter(out_, topic, reason, payload, config_.deadletter_payload_bytes);
  sink_.Publish(config_.deadletter_topic, out_);
}

void AnomalyDetector::CountReceived() {
  if (unreported_received_ == 0) return;
  received_.Increment(static_cast<double>(unreported_received_));
  unreported_received_ = 0;
}

void AnomalyDetector::Ingest(std::string_view topic, std::string_view payload) {
  // Counted here, reported to the (atomic) metric once per batch or dead letter.
  ++unreported_received_;
  if (pending_ == 0) {
    batch_model_ = models_.Get();
    if (!batch_model_) {
      DeadLetter(topic, payload, "no_model", "no model loaded");
      return;
    }
    std::string why;
    if (!PrepareFor(batch_model_, &why)) {
      batch_model_.reset();
      DeadLetter(topic, payload, "model_mismatch", why);
      return;
    }
  }
  float* row = rows_.data() + pending_ * width_;
  Defect defect;
  // The arrival time is only needed by a message without a time (rare: the reference fan and the
  // simulator send one), so the clock is read below, not for every message.
  if (!parser_->Parse(payload, /*arrival_ns=*/0, row, defect)) {
    rejections_.Reject(topic, defect);
    DeadLetter(topic, payload, defect.Label(), defect.Reason());
    return;
  }
  device_ids_[pending_].assign(parser_->device_id());
  if (parser_->timestamp().empty()) {
    // No time in the message: the arrival time (RFC 3339, written without allocating).
    char buf[kTimestampBytes];
    timestamps_[pending_].assign(buf, FormatTimestamp(clock_.NowNanos(), buf));
  } else {
    timestamps_[pending_].assign(parser_->timestamp());
  }
  if (++pending_ >= config_.max_batch) Flush();
}

void AnomalyDetector::Flush() {
  CountReceived();
  if (pending_ == 0) return;
  const size_t n = pending_;
  pending_ = 0;
  ModelPtr model = std::move(batch_model_);
  batch_size_.Observe(static_cast<double>(n));
  Status st = model->Score(rows_.data(), n, scores_.data());
  if (!st.ok()) {
    scoring_errors_.Increment();
    log::Get("predictor")
        ->error("model {} failed to score a batch of {}: {}", model->name(), n, st.message());
    for (size_t i = 0; i < n; ++i) {
      deadletter_family_.Add({{"reason", "scoring_failed"}}).Increment();
      out_.clear();
      out_.append("{\"deviceID\":");
      AppendJsonString(out_, device_ids_[i]);
      out_.append(",\"reason\":");
      AppendJsonString(out_, "model " + model->name() + " failed: " + st.message());
      out_.push_back('}');
      sink_.Publish(config_.deadletter_topic, out_);
    }
    return;
  }
  scored_.Increment(static_cast<double>(n));
  const std::string& model_name = model->name();
  const std::string* ttf = ScoreTimeToFailure(model, n);
  uint32_t by_level[3] = {0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    const float score = scores_[i];
    const Level level = thresholds_.Classify(score);
    ++by_level[static_cast<int>(level)];
    out_.clear();
    AppendAnomaly(out_, device_ids_[i], timestamps_[i], thresholds_.Fault(score), score, level,
                  model_name, ttf ? ttf_[i] : std::numeric_limits<float>::quiet_NaN(),
                  ttf ? std::string_view(*ttf) : std::string_view());
    sink_.Publish(config_.anomaly_topic, out_);
    if (auto t = tracker_.Observe(device_ids_[i], score, thresholds_)) {
      HandleTransition(i, score, *t, model_name);
    }
    if (drift_) {
      drift_->Observe(rows_.data() + i * width_, width_);
      if (++drift_count_ % std::max<uint32_t>(1, config_.drift.check_every) == 0) {
        std::string event = drift_->Check();
        if (!event.empty()) {
          drift_events_.Increment();
          sink_.Publish(config_.drift_topic, event);
        }
      }
    }
  }
  for (int l = 0; l < 3; ++l) {
    if (by_level[l] != 0) results_by_level_[l]->Increment(static_cast<double>(by_level[l]));
  }
}

const std::string* AnomalyDetector::ScoreTimeToFailure(const ModelPtr& model, size_t n) {
  ModelPtr ttf = ttf_models_ ? ttf_models_->Get() : nullptr;
  if (!ttf) return nullptr;
  if (ttf != ttf_for_ || model != ttf_fault_for_) {
    // A new pair (rare): where each TTF input is in the fault model's row.
    ttf_for_ = ttf;
    ttf_fault_for_ = model;
    ttf_index_.clear();
    ttf_fits_ = true;
    const auto& want = ttf->features();
    const auto& have = model->features();
    if (want.empty()) {
      ttf_fits_ = ttf->input_size() == width_;
      for (size_t j = 0; ttf_fits_ && j < width_; ++j) ttf_index_.push_back(j);
    }
    for (const auto& name : want) {
      const auto it = std::find(have.begin(), have.end(), name);
      if (it == have.end()) {
        ttf_fits_ = false;
        break;
      }
      ttf_index_.push_back(static_cast<size_t>(it - have.begin()));
    }
    ttf_fits_ = ttf_fits_ && ttf_index_.size() == ttf->input_size();
    if (!ttf_fits_) {
      log::Get("predictor")
          ->warn(
              "time-to-failure model {} needs features the fault model {} does not read: "
              "not scored",
              ttf->name(), model->name());
    }
  }
  if (!ttf_fits_) return nullptr;
  const size_t k = ttf_index_.size();
  ttf_rows_.resize(n * k);
  ttf_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < k; ++j) ttf_rows_[i * k + j] = rows_[i * width_ + ttf_index_[j]];
  }
  if (Status st = ttf->Score(ttf_rows_.data(), n, ttf_.data()); !st.ok()) {
    scoring_errors_.Increment();
    return nullptr;
  }
  return &ttf_for_->name();  // ttf_for_ keeps the model alive
}

void AnomalyDetector::HandleTransition(size_t row, float score, AlertTransition t,
                                       std::string_view model) {
  const bool publish =
      t.to == Level::kCritical ||
      (t.to == Level::kWarning && t.from == Level::kOk && config_.alert_on_warning) ||
      (t.from == Level::kCritical && config_.alert_on_clear);
  if (publish) {
    alerts_family_.Add({{"level", std::string(LevelName(t.to))}}).Increment();
    out_.clear();
    AppendAlert(out_, device_ids_[row], timestamps_[row], t.to, t.from, score, model);
    sink_.Publish(config_.alert_topic, out_);
    sink_.Alert(out_);
  }
  if (t.to == Level::kCritical && config_.actuation.enabled) {
    commands_.Increment();
    topic_.assign(config_.actuation.topic_prefix);
    topic_.append(device_ids_[row]);
    out_.clear();
    AppendCommand(out_, config_.actuation.command, config_.actuation.payload);
    sink_.Publish(topic_, out_);
  }
}

}  // namespace aiot::services
