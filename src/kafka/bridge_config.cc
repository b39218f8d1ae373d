#include "kafka/bridge_config.h"

#include <fmt/format.h>

#include "kafka/client.h"
#include "kafka/mapping.h"

namespace aiot::kafka {

void Describe(config::Visitor& v, BufferConfig& c) {
  v.Field("dir", c.dir, "directory of the segment files (created if missing)");
  v.Field("max_bytes", c.max_bytes, config::Range{1 << 16, INT64_MAX},
          "the segment files together at most; when full, `aiot bridge` makes QoS 1/2 input wait "
          "(flow control) and drops QoS 0 input (counted); inside the broker see when_full");
  v.Field("segment_bytes", c.segment_bytes, config::Range{1 << 12, INT64_MAX},
          "a segment is closed beyond this size and deleted once all its records are in Kafka");
  v.Field("fsync", c.fsync, kFsyncPolicyNames,
          "always (fdatasync before the MQTT ack), interval (page cache at once, disk every "
          "fsync_interval_ms) or never");
  v.Field("fsync_interval_ms", c.fsync_interval_ms, config::Range{1, 3600000},
          "fsync period of the interval policy");
}

void Validate(config::Checks& checks, const BufferConfig& c) {
  if (c.dir.empty()) checks.Fail("dir", "must not be empty");
  if (c.segment_bytes * 2 > c.max_bytes) {
    checks.Fail("segment_bytes",
                fmt::format("must be at most half of max_bytes ({})", c.max_bytes));
  }
}

BridgeConfig::BridgeConfig() {
  mqtt.client_id = "aiot-bridge";
  mqtt.clean_start = false;
  mqtt.session_expiry_s = 86400;
}

void Describe(config::Visitor& v, BridgeConfig& c) {
  v.Field("enabled", c.enabled,
          "run the bridge inside `aiot up` / `aiot broker`, fed by the embedded broker itself");
  v.Field("ack", c.ack, kAckPolicyNames,
          "inside the broker: a QoS 1/2 PUBLISH the bridge takes is acknowledged after Kafka's "
          "delivery report (delivered) or once it is in the disk buffer (durable)");
  v.Field("when_full", c.when_full, kWhenFullNames,
          "inside the broker, while the disk buffer is full: block (withhold acks, stop reading "
          "publishers), drop_oldest_qos0 (as block, but QoS 0 records waiting are dropped) or "
          "refuse (v5 PUBACK/PUBREC 0x97, 3.1.1 disconnected); counted");
  config::Section(v, "mqtt", c.mqtt,
                  "The MQTT broker the bridge subscribes to (QoS 1); inside the broker only the "
                  "client id of the Kafka -> MQTT side is used.");
  v.Field("bootstrap_servers", c.bootstrap_servers, "Kafka bootstrap servers, host:port[,...]");
  v.Field("kafka", c.kafka,
          "further librdkafka properties by name, e.g. {compression.type: lz4}; "
          "enable.idempotence=true and acks=all are fixed; the producer's defaults differ "
          "from librdkafka's in linger.ms 1 (not 5: acks wait for Kafka) and "
          "message.timeout.ms 0 (retry forever)");
  v.Field("mappings", c.mappings,
          "MQTT -> Kafka: \"<mqtt filter> -> <kafka topic template> [key=...]\"; template "
          "levels {N} (0-based), key {N}, field:NAME[,NAME] or none (default "
          "field:deviceID,chipID)");
  v.Field("kafka_to_mqtt", c.kafka_to_mqtt,
          "Kafka -> MQTT: \"<kafka topic> -> <mqtt topic template>\", {key} = the record key");
  v.Field("consumer_group", c.consumer_group, "consumer group of the Kafka -> MQTT direction");
  v.Field("dead_letter_topic", c.dead_letter_topic,
          "Kafka topic for what cannot be carried (header aiot.error = reason)");
  v.Field("origin", c.origin, "value of the aiot-bridge-origin mark (loop prevention)");
  v.Field("max_message_bytes", c.max_message_bytes, config::Range{1, 64 << 20},
          "larger MQTT payloads are dead-lettered without their payload");
  config::Section(v, "buffer", c.buffer, "The durable on-disk buffer.");
}

void Validate(config::Checks& checks, const BridgeConfig& c) {
  if (c.bootstrap_servers.empty()) checks.Fail("bootstrap_servers", "must not be empty");
  for (const auto& spec : c.mappings) {
    if (auto m = ParseMapping(spec); !m.ok()) checks.Fail("mappings", m.status().message());
  }
  for (const auto& spec : c.kafka_to_mqtt) {
    if (auto m = ParseReverseMapping(spec); !m.ok()) {
      checks.Fail("kafka_to_mqtt", m.status().message());
    }
  }
  if (c.mappings.empty() && c.kafka_to_mqtt.empty()) {
    checks.Fail("mappings", "no mappings in either direction: nothing to bridge");
  }
  if (!IsValidKafkaTopic(c.dead_letter_topic)) {
    checks.Fail("dead_letter_topic", "not a valid Kafka topic name");
  }
  if (Status s = CheckProperties(KafkaProperties(c)); !s.ok()) checks.Fail("kafka", s.message());
  for (const char* fixed : {"enable.idempotence", "acks"}) {
    if (c.kafka.contains(fixed)) {
      checks.Fail("kafka", fmt::format("{} is fixed by the bridge (idempotent, acks=all)", fixed));
    }
  }
  if (c.origin.empty()) checks.Fail("origin", "must not be empty");
}

std::map<std::string, std::string> KafkaProperties(const BridgeConfig& c) {
  std::map<std::string, std::string> p = c.kafka;
  p["bootstrap.servers"] = c.bootstrap_servers;
  return p;
}

}  // namespace aiot::kafka
