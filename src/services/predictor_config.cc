#include "services/predictor_config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace aiot::services {

void Describe(config::Visitor& v, ThresholdConfig& c) {
  v.Field("warning", c.warning, "Scores at or above this are a warning (and fault=1).");
  v.Field("critical", c.critical, "Scores at or above this are critical.");
  v.Field("from_model", c.from_model,
          "Prefer the thresholds in the model's metadata when it carries them.");
}

void Describe(config::Visitor& v, ActuationConfig& c) {
  v.Field("enabled", c.enabled,
          "Send a command to a device when its alert state becomes critical.");
  v.Field("command", c.command, "Command name sent to the device.");
  v.Field("payload", c.payload, "Command payload (a JSON object).");
  v.Field("topic_prefix", c.topic_prefix,
          "Per-device control topic prefix; the device id is appended.");
}

void Describe(config::Visitor& v, WebhookConfig& c) {
  v.Field("url", c.url, "POST every alert to this http:// URL; empty disables.");
  v.Field("max_attempts", c.max_attempts, config::Range{1, UINT32_MAX},
          "Attempts per alert, including the first.");
  v.Field("initial_backoff_ms", c.initial_backoff_ms,
          "Delay before the first retry, doubled per retry.");
  v.Field("max_backoff_ms", c.max_backoff_ms, "Longest delay between retries.");
  v.Field("timeout_ms", c.timeout_ms, "Timeout of one attempt.");
  v.Field("queue_limit", c.queue_limit,
          "Alerts waiting for delivery at most; the oldest is dropped beyond this.");
}

void Describe(config::Visitor& v, DriftConfig& c) {
  v.Field("enabled", c.enabled,
          "Compare a sliding window of live features with the model's reference profile and "
          "publish drift events.");
  v.Field("window", c.window, config::Range{1, UINT32_MAX}, "Readings per window.");
  v.Field("check_every", c.check_every, config::Range{1, UINT32_MAX},
          "Run the comparison every this many readings.");
  v.Field("ks_alpha", c.ks_alpha,
          "Family-wise significance of a check's KS tests (Bonferroni over the features); small "
          "because the check repeats on overlapping windows.");
  v.Field("ks_min_statistic", c.ks_min_statistic,
          "A KS rejection counts as drift only when its statistic D (largest CDF gap, 0..1) is at "
          "least this: large windows reject at any alpha for meaningless gaps; 0 = p-value alone.");
  v.Choice("reference", c.reference, {"live", "model"},
           "What live telemetry is compared with: live = the first reference_window readings the "
           "model scores (the fleet's own operating data; a new model pins anew), model = the "
           "model's profile of its healthy training rows.");
  v.Field("reference_window", c.reference_window, config::Range{100, 10'000'000},
          "Readings pinned as the live reference.");
  v.Field("psi_threshold", c.psi_threshold,
          "A feature drifts when its PSI reaches this (0.25 = significant shift), or its KS test "
          "rejects.");
}

void Describe(config::Visitor& v, PredictorConfig& c) {
  v.Field("source", c.source, kafka::kTelemetrySourceNames,
          "Where telemetry comes from: mqtt (`topics`) or kafka (`kafka`: a consumer group, "
          "offsets committed once each reading's result is published).");
  config::Section(v, "kafka", c.kafka,
                  "Kafka source (source: kafka) and the Kafka of results_to: kafka/both.");
  v.Field("results_to", c.results_to, kResultsToNames,
          "Per-reading results to mqtt (anomaly_topic), kafka (kafka_anomaly_topic) or both.");
  v.Field("kafka_anomaly_topic", c.kafka_anomaly_topic,
          "Kafka topic of per-reading results (results_to: kafka or both).");
  v.Field("topics", c.topics, "Telemetry topics to subscribe to (wildcards allowed).");
  v.Field("model", c.model, "Model file (.tflite) to load at start.");
  v.Field("ttf_model", c.ttf_model,
          "Time-to-failure model (.tflite, metadata task time_to_failure) to load at start, scored "
          "alongside the fault model: results then carry time_to_failure_h. Empty = none.");
  v.Field("model_name", c.model_name,
          "Name reported with results, e.g. fan-mlp@3; empty = from the model.");
  v.Field("max_batch", c.max_batch, config::Range{1, UINT32_MAX},
          "Readings scored together at most.");
  v.Field("max_batch_delay_us", c.max_batch_delay_us,
          "How long a reading may wait for its batch to fill (microseconds); 0 = score once the "
          "messages already received are handled.");
  v.Field("qos", c.qos, config::Range{0, 1}, "MQTT QoS for subscriptions and results (0 or 1).");
  v.Field("anomaly_topic", c.anomaly_topic, "Where per-reading results go.");
  v.Field("alert_topic", c.alert_topic, "Where alerts go.");
  v.Field("deadletter_topic", c.deadletter_topic,
          "Where unusable telemetry goes, with the reason.");
  v.Field("drift_topic", c.drift_topic, "Where drift events go.");
  v.Field("model_events_topic", c.model_events_topic,
          "Model events (registry promotions, load commands) the predictor follows.");
  v.Field("deadletter_payload_bytes", c.deadletter_payload_bytes,
          "Bytes of the original payload kept in a dead letter.");
  v.Field("alert_on_warning", c.alert_on_warning, "Also alert when a device enters warning.");
  v.Field("alert_on_clear", c.alert_on_clear, "Also alert when a device leaves critical.");
  config::Section(v, "thresholds", c.thresholds, "Score levels.");
  config::Section(v, "alerts", c.alerts, "Alert debounce and hysteresis.");
  config::Section(v, "telemetry", c.telemetry, "Telemetry fields and plausible ranges.");
  config::Section(v, "actuation", c.actuation, "Commands sent to devices on critical.");
  config::Section(v, "webhook", c.webhook, "Alert webhook.");
  config::Section(v, "drift", c.drift, "Online drift monitoring.");
}

bool ParseHttpUrl(std::string_view url, std::string* host, std::string* port, std::string* path) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  *path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.empty()) return false;
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    *host = std::string(authority.substr(0, colon));
    *port = std::string(authority.substr(colon + 1));
  } else {
    *host = std::string(authority);
    *port = "80";
  }
  return !host->empty() && !port->empty();
}

void Validate(config::Checks& checks, const PredictorConfig& c) {
  if (c.topics.empty()) checks.Fail("topics", "is empty; list at least one topic");
  if (c.results_to != ResultsTo::kMqtt && c.kafka_anomaly_topic.empty()) {
    checks.Fail("kafka_anomaly_topic", "must not be empty with results_to kafka or both");
  }
  if (!(c.thresholds.warning <= c.thresholds.critical)) {
    checks.Fail("thresholds.warning", fmt::format("({}) must not exceed thresholds.critical ({})",
                                                  c.thresholds.warning, c.thresholds.critical));
  }
  if (!(c.drift.psi_threshold > 0)) {
    checks.Fail("drift.psi_threshold",
                fmt::format("({}) must be above 0, e.g. 0.25", c.drift.psi_threshold));
  }
  if (!(c.drift.ks_min_statistic >= 0 && c.drift.ks_min_statistic <= 1)) {
    checks.Fail("drift.ks_min_statistic",
                fmt::format("({}) must be in [0, 1], e.g. 0.25", c.drift.ks_min_statistic));
  }
  if (!(c.drift.ks_alpha > 0 && c.drift.ks_alpha < 1)) {
    checks.Fail("drift.ks_alpha",
                fmt::format("({}) must be in (0, 1), e.g. 0.001", c.drift.ks_alpha));
  }
  auto payload = nlohmann::json::parse(c.actuation.payload, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    checks.Fail("actuation.payload",
                fmt::format("is not a JSON object: {}; e.g. '{{\"state\":\"closed\"}}'",
                            c.actuation.payload));
  }
  std::string host, port, path;
  if (!c.webhook.url.empty() && (c.webhook.url.rfind("http://", 0) != 0 ||
                                 !ParseHttpUrl(c.webhook.url, &host, &port, &path))) {
    checks.Fail("webhook.url",
                fmt::format("`{}` must be http://host[:port]/path (https is not supported)",
                            c.webhook.url));
  }
  if (c.webhook.initial_backoff_ms > c.webhook.max_backoff_ms) {
    checks.Fail("webhook.initial_backoff_ms", "must not exceed webhook.max_backoff_ms");
  }
}

}  // namespace aiot::services
