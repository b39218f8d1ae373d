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

// Inside the broker: when a QoS 1/2 PUBLISH the bridge takes is acknowledged to the device.
enum class AckPolicy {
  kDelivered,  // after Kafka's delivery report (acks=all)
  kDurable,    // once the record is in the disk buffer (durable as bridge.buffer.fsync says)
};
inline constexpr config::Named<AckPolicy> kAckPolicyNames[] = {{AckPolicy::kDelivered, "delivered"},
                                                               {AckPolicy::kDurable, "durable"}};

// Inside the broker: what happens while the disk buffer is full.
enum class WhenFull {
  kBlock,           // everything waits in order; acks withheld, publishers not read (flow control)
  kDropOldestQos0,  // as block for QoS 1/2; QoS 0 records waiting for space are dropped
  kRefuse,          // new QoS 1/2: v5 PUBACK/PUBREC 0x97 (quota exceeded), 3.1.1 disconnected
};
inline constexpr config::Named<WhenFull> kWhenFullNames[] = {
    {WhenFull::kBlock, "block"},
    {WhenFull::kDropOldestQos0, "drop_oldest_qos0"},
    {WhenFull::kRefuse, "refuse"}};

// `bridge:` — `aiot bridge` (MQTT <-> Kafka), or inside `aiot up` / `aiot broker` (`enabled`).
struct BridgeConfig {
  BridgeConfig();
  // Inside `aiot up` / `aiot broker`: the embedded broker hands the mapped PUBLISHes to the
  // bridge directly (the `mqtt` section is then used only for the Kafka -> MQTT client's id).
  bool enabled = false;
  // Inside the broker: ack QoS 1/2 after Kafka's delivery report, or once durable on disk.
  AckPolicy ack = AckPolicy::kDelivered;
  // Inside the broker: the policy while the disk buffer is full.
  WhenFull when_full = WhenFull::kBlock;
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
