#pragma once

// The bridge's routing rules, sans-I/O: MQTT topic filter -> Kafka topic template and key
// (mqtt -> kafka), Kafka topic -> MQTT topic template (kafka -> mqtt), and the Mapper that turns
// one MQTT message into the Kafka record to buffer, or a dead letter with its reason.
//
// Mapping spec (config `bridge.mappings`): "<filter> -> <kafka topic template> [key=<key>]"
//   filter     an MQTT topic filter (+ and # allowed)
//   template   literal Kafka topic characters [A-Za-z0-9._-] and {N}, topic level N (0-based)
//   key        {N} (topic level N), field:NAME[,NAME...] (the first present payload field; a
//              string, or an integer as its decimal text), or none. Default: field:deviceID,chipID
// e.g. "telemetry/+/+ -> aiot.{2} key={1}": telemetry/fan-7/vibration -> topic aiot.vibration,
// key fan-7.
// Reverse spec (`bridge.kafka_to_mqtt`): "<kafka topic> -> <mqtt topic template>", where {key} is
// the record's key, e.g. "aiot.control -> fan/control/{key}".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "kafka/record.h"
#include "mqtt/protocol/properties.h"

namespace aiot::kafka {

// Header names the bridge writes on Kafka records.
inline constexpr std::string_view kHeaderMqttTopic = "mqtt.topic";
inline constexpr std::string_view kHeaderMqttQos = "mqtt.qos";
inline constexpr std::string_view kHeaderMqttRetain = "mqtt.retain";
inline constexpr std::string_view kHeaderMqttTimestamp = "mqtt.timestamp";  // ms since the epoch
inline constexpr std::string_view kHeaderUserPrefix = "mqtt.user.";         // + user property name
inline constexpr std::string_view kHeaderError = "aiot.error";              // dead letters: reason
inline constexpr std::string_view kHeaderErrorDetail = "aiot.error.detail";
// Loop prevention: the bridge marks what it carries, in both directions, with its origin id (a
// Kafka header on records it produces, a v5 user property on messages it publishes) and does not
// carry back what carries the mark.
inline constexpr std::string_view kOriginHeader = "aiot-bridge-origin";

struct KeySpec {
  enum class Kind { kNone, kLevel, kField };
  Kind kind = Kind::kField;
  int level = 0;
  std::vector<std::string> fields = {"deviceID", "chipID"};
};

// A Kafka topic template: literal text and topic levels.
struct TopicTemplate {
  std::vector<std::variant<std::string, int>> parts;
  // The topic for this MQTT topic's levels; nullopt when a level is missing.
  std::optional<std::string> Render(std::string_view mqtt_topic) const;
};

struct Mapping {
  std::string spec;  // as configured
  std::string filter;
  TopicTemplate topic;
  KeySpec key;
};
// invalid_argument with what is wrong.
Result<Mapping> ParseMapping(std::string_view spec);

struct ReverseMapping {
  std::string spec;
  std::string kafka_topic;
  std::string prefix;  // MQTT topic = prefix + key + suffix (or prefix alone without {key})
  std::string suffix;
  bool uses_key = false;
};
Result<ReverseMapping> ParseReverseMapping(std::string_view spec);

// A valid Kafka topic name: 1-249 of [A-Za-z0-9._-], not "." or "..".
bool IsValidKafkaTopic(std::string_view topic);

// One MQTT message as the bridge received it.
struct MqttIn {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool retain = false;
  const mqtt::UserProperties* user_properties = nullptr;
  int64_t time_ms = 0;
};

// Dead-letter reasons.
inline constexpr std::string_view kReasonOversized = "oversized";
inline constexpr std::string_view kReasonMalformed = "malformed";  // not a JSON object (key field)
inline constexpr std::string_view kReasonNoKey = "no_key";
inline constexpr std::string_view kReasonUnknownTopic = "unknown_topic";
inline constexpr std::string_view kReasonBadTopic = "bad_topic";  // template gave no valid name

struct Routed {
  BridgeRecord record;                  // to the mapped topic, or to the dead-letter topic
  int mapping = -1;                     // index of the mapping that matched; -1 for none
  std::string_view dead_letter_reason;  // empty when routed normally
};

// Route's answer without the record (RouteEncoded).
struct RouteInfo {
  int mapping = -1;
  std::string_view dead_letter_reason;
};

class Mapper {
 public:
  Mapper(std::vector<Mapping> mappings, std::string dead_letter_topic, std::string origin,
         uint32_t max_message_bytes);
  // The first mapping whose filter matches decides.
  Routed Route(const MqttIn& in) const;
  // Route, encoded straight into `*out` (replaced): the bytes of EncodeRecord(Route(in).record),
  // without building the record (the bridges' per-message path: no allocation but `*out`'s for
  // a mapped message without v5 user properties). Thread-safe, as Route.
  // `matched`: Match(in.topic) when the caller has it already (>= 0), else -1.
  RouteInfo RouteEncoded(const MqttIn& in, std::string* out, int matched = -1) const;
  // The index of that mapping, -1 for none.
  int Match(std::string_view topic) const;
  const std::vector<Mapping>& mappings() const { return mappings_; }

 private:
  struct Resolved;
  // Everything Route decides: the mapping, a dead-letter reason, or the topic and key.
  void Resolve(const MqttIn& in, Resolved* r, int matched = -1) const;
  std::vector<Header> Headers(const MqttIn& in) const;
  Routed DeadLetter(const MqttIn& in, int mapping, std::string_view reason,
                    std::string detail) const;

  std::vector<Mapping> mappings_;
  std::string dead_letter_topic_;
  std::string origin_;
  uint32_t max_message_bytes_;
};

}  // namespace aiot::kafka
