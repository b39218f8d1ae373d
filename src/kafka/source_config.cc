#include "kafka/source_config.h"

#include <fmt/format.h>

namespace aiot::kafka {

void Describe(config::Visitor& v, SourceConfig& c) {
  v.Field("bootstrap_servers", c.bootstrap_servers, "Kafka bootstrap servers, host:port[,...]");
  v.Field("group", c.group,
          "consumer group; instances with the same group share the partitions (empty: "
          "aiot-<service>)");
  v.Field("topics", c.topics, "Kafka topics to read telemetry from");
  v.Field("max_outstanding", c.max_outstanding, config::Range{1, 1000000},
          "records handed to the service and not yet done (effect durable), at most");
  v.Field("commit_interval_ms", c.commit_interval_ms, config::Range{10, 60000},
          "how often offsets of done records are committed");
  v.Field("kafka", c.kafka,
          "further librdkafka consumer properties by name, e.g. {session.timeout.ms: 6000}; "
          "enable.auto.commit is fixed (false)");
}

void Validate(config::Checks& checks, const SourceConfig& c) {
  if (c.bootstrap_servers.empty()) checks.Fail("bootstrap_servers", "must not be empty");
  if (c.topics.empty()) checks.Fail("topics", "must name at least one Kafka topic");
  for (const char* fixed : {"enable.auto.commit", "group.id"}) {
    if (c.kafka.contains(fixed)) {
      checks.Fail("kafka", fmt::format("{} is set by the source (use `group`)", fixed));
    }
  }
}

}  // namespace aiot::kafka
