#pragma once

// The configuration of `source: kafka` (kafka/source.h), apart from librdkafka so that sans-I/O
// configuration structs (e.g. services::PredictorConfig) can hold it. Validate checks the
// structure; librdkafka checks its property names and values when the source is created.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/config.h"

namespace aiot::kafka {

// Where a service reads its telemetry.
enum class TelemetrySource { kMqtt, kKafka };
inline constexpr config::Named<TelemetrySource> kTelemetrySourceNames[] = {
    {TelemetrySource::kMqtt, "mqtt"}, {TelemetrySource::kKafka, "kafka"}};

// `<service>.kafka`: where a service reads telemetry when its `source` is kafka.
struct SourceConfig {
  // Kafka bootstrap servers, host:port[,host:port...].
  std::string bootstrap_servers = "127.0.0.1:9092";
  // Consumer group: instances with the same group share the topics' partitions.
  std::string group;
  // Topics to read (the bridge writes telemetry to aiot.telemetry by default).
  std::vector<std::string> topics = {"aiot.telemetry"};
  // Records handed to the service and not yet done, at most (the reader waits beyond).
  uint32_t max_outstanding = 10000;
  // How often done offsets are committed.
  uint32_t commit_interval_ms = 200;
  // Further librdkafka properties by name (e.g. session.timeout.ms).
  std::map<std::string, std::string> kafka;
};
void Describe(config::Visitor& v, SourceConfig& c);
void Validate(config::Checks& checks, const SourceConfig& c);

}  // namespace aiot::kafka
