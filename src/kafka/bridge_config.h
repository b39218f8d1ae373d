#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/config.h"
#include "kafka/disk_buffer.h"
#include "mqtt/client/client_config.h"

namespace aiot::kafka {

// `bridge.buffer`: the durable on-disk buffer between MQTT and Kafka.
struct BufferConfig {
  std::string dir = "var/aiot/bridge";
  uint64_t max_bytes = 256ull << 20;
  uint64_t segment_bytes = 16ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  uint32_t fsync_interval_ms = 200;
};
void Describe(config::Visitor& v, BufferConfig& c);
void Validate(config::Checks& checks, const BufferConfig& c);

// `bridge:` — `aiot bridge` (MQTT <-> Kafka).
struct BridgeConfig {
  BridgeConfig();
  // The MQTT side: a persistent session (clean_start false, session expiry) so that the broker
  // keeps what the bridge has not acknowledged while it is away.
  mqtt::MqttClientConfig mqtt;
  // Kafka bootstrap servers, host:port[,host:port...].
  std::string bootstrap_servers = "127.0.0.1:9092";
  // Further librdkafka properties by name (e.g. compression.type: lz4), for the producer and the
  // consumer; enable.idempotence and acks are fixed (true, all).
  std::map<std::string, std::string> kafka;
  // MQTT -> Kafka: "<mqtt filter> -> <kafka topic template> [key=...]" (see kafka/mapping.h).
  std::vector<std::string> mappings = {"fan/messages -> aiot.telemetry"};
  // Kafka -> MQTT: "<kafka topic> -> <mqtt topic template with {key}>".
  std::vector<std::string> kafka_to_mqtt = {"aiot.control -> fan/control/{key}"};
  // Consumer group of the Kafka -> MQTT direction.
  std::string consumer_group = "aiot-bridge";
  // Where records that cannot be carried go, with an aiot.error header.
  std::string dead_letter_topic = "aiot.deadletter";
  // Value of the aiot-bridge-origin mark (loop prevention).
  std::string origin = "aiot-bridge";
  // MQTT payloads above this are dead-lettered without their payload.
  uint32_t max_message_bytes = 1u << 20;
  BufferConfig buffer;
};
void Describe(config::Visitor& v, BridgeConfig& c);
void Validate(config::Checks& checks, const BridgeConfig& c);

// The librdkafka properties of the bridge's clients: bootstrap.servers + `kafka`.
std::map<std::string, std::string> KafkaProperties(const BridgeConfig& c);

}  // namespace aiot::kafka
