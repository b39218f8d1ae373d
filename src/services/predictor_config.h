#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "kafka/source_config.h"
#include "services/alert_tracker.h"
#include "services/telemetry.h"

namespace aiot::services {

struct ThresholdConfig {
  // Scores at or above this are a warning (and "fault":1).
  double warning = 0.5;
  // Scores at or above this are critical.
  double critical = 0.8;
  // Use the thresholds carried in the model's metadata when it has them.
  bool from_model = true;
};

struct ActuationConfig {
  // Send a command to the device when its alert state becomes critical.
  bool enabled = false;
  // Command name (the reference's "set-actuator").
  std::string command = "set-actuator";
  // Command payload, a JSON object.
  std::string payload = R"({"actuator":"valve","state":"closed"})";
  // Prefix of the per-device control topic; the device id is appended.
  std::string topic_prefix = "fan/control/";
};

struct WebhookConfig {
  // POST alerts here (http://host:port/path); empty disables the webhook.
  std::string url;
  // Attempts per alert, including the first.
  uint32_t max_attempts = 5;
  // Delay before the first retry; doubled each retry up to max_backoff_ms.
  uint32_t initial_backoff_ms = 200;
  uint32_t max_backoff_ms = 5000;
  // Per-attempt timeout.
  uint32_t timeout_ms = 3000;
  // Alerts waiting for delivery at most; beyond this the oldest is dropped (and counted).
  uint32_t queue_limit = 1000;
};

struct DriftConfig {
  // Compare a sliding window of live features with the model's reference profile.
  bool enabled = true;
  // Readings per window.
  uint32_t window = 1000;
  // Check every this many readings.
  uint32_t check_every = 1000;
  // Family-wise significance of the per-feature KS tests of one check. The check repeats every
  // `check_every` readings on overlapping windows, so 0.05 would raise false alarms on healthy
  // telemetry every few windows; 0.001 keeps them rare and still flags real shifts at once.
  double ks_alpha = 0.001;
  // Effect size a KS rejection needs: the statistic D (the largest gap between the window's and
  // the reference's CDFs) at least this. A window of 1000 autocorrelated readings rejects at any
  // alpha for gaps of a few percent (a fleet warming up, one machine wearing out), so the p-value
  // alone calls a healthy fleet drifted and that episode never ends; 0.25 asks for a quarter of
  // the readings to have moved, which a new operating regime does (D ~ 0.5 or more, 0.94 once the
  // window holds it) and a healthy fleet does not (at most 0.20 measured: 50 machines, a fifth of
  // them wearing out to failure unprotected).
  double ks_min_statistic = 0.25;
  // What live telemetry is compared with: "live" = the first `reference_window` readings the
  // model scores (the fleet's own healthy operating data when the model goes into service; a
  // new model pins a new reference), "model" = the profile in the model's metadata (its healthy
  // training rows: right when the training data came from this fleet; a small fleet is a
  // narrower population than a data set of many machines, so it can look drifted against it).
  std::string reference = "live";
  // Readings pinned as the live reference (no checks until they are in).
  uint32_t reference_window = 1000;
  // A feature drifts when its PSI reaches this ("significant"), or its KS test rejects.
  double psi_threshold = 0.25;
};

// Where the predictor's per-reading results (anomaly_topic) go.
enum class ResultsTo { kMqtt, kKafka, kBoth };
inline constexpr config::Named<ResultsTo> kResultsToNames[] = {
    {ResultsTo::kMqtt, "mqtt"}, {ResultsTo::kKafka, "kafka"}, {ResultsTo::kBoth, "both"}};

struct PredictorConfig {
  // Where telemetry comes from: MQTT (`topics`) or Kafka (`kafka`, a consumer group; offsets
  // committed after each reading's result is published).
  kafka::TelemetrySource source = kafka::TelemetrySource::kMqtt;
  // `source: kafka`: the consumer group and topics (also the Kafka of results_to kafka/both).
  kafka::SourceConfig kafka;
  // Per-reading results to MQTT (`anomaly_topic`), Kafka (`kafka_anomaly_topic`) or both.
  ResultsTo results_to = ResultsTo::kMqtt;
  std::string kafka_anomaly_topic = "aiot.anomaly";
  // Telemetry topics to subscribe to (MQTT wildcards allowed).
  std::vector<std::string> topics = {"fan/messages"};
  // Model file (.tflite) to load at start.
  std::string model;
  // Name reported with results ("fan-mlp@3"); empty = from the model's metadata or file name.
  std::string model_name;
  // A time-to-failure model (.tflite whose metadata task is time_to_failure, `aiot train --task
  // time_to_failure`) to load at start; scored alongside the fault model, its hours published as
  // `time_to_failure_h` in each result. Empty = none (one may still arrive as a model event).
  std::string ttf_model;
  // Readings scored together at most.
  uint32_t max_batch = 64;
  // How long a reading may wait for a batch to fill, in microseconds. 0 = score as soon as the
  // messages already received are handled (batches then grow with load, at no added latency).
  uint32_t max_batch_delay_us = 0;
  // MQTT QoS of the subscriptions and of published results (0 or 1).
  uint32_t qos = 0;
  // Output topics.
  std::string anomaly_topic = "fan/anomaly";
  std::string alert_topic = "aiot/alerts";
  std::string deadletter_topic = "aiot/deadletter";
  std::string drift_topic = "aiot/events/drift";
  // Model events (registry promotions, load commands); see src/services/README.md.
  std::string model_events_topic = "aiot/events/model";
  // Original payload bytes kept in a dead letter.
  uint32_t deadletter_payload_bytes = 512;
  // Publish an alert when a device enters warning (critical always alerts).
  bool alert_on_warning = false;
  // Publish an alert when a device leaves critical.
  bool alert_on_clear = true;

  ThresholdConfig thresholds;
  AlertConfig alerts;
  TelemetryConfig telemetry;
  ActuationConfig actuation;
  WebhookConfig webhook;
  DriftConfig drift;
};

void Describe(config::Visitor& v, ThresholdConfig& c);
void Describe(config::Visitor& v, ActuationConfig& c);
void Describe(config::Visitor& v, WebhookConfig& c);
void Describe(config::Visitor& v, DriftConfig& c);
void Describe(config::Visitor& v, PredictorConfig& c);

// Parses "http://host[:port][/path]". Returns false for anything else.
bool ParseHttpUrl(std::string_view url, std::string* host, std::string* port, std::string* path);

// What the field types cannot say (relations between fields, JSON payloads, the webhook URL); run
// by the configuration loader, so a Predictor is only ever given a checked configuration.
void Validate(config::Checks& checks, const PredictorConfig& c);

}  // namespace aiot::services
