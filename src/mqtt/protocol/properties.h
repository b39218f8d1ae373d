#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aiot::mqtt {

// MQTT 5.0 property identifiers (section 2.2.2.2).
enum class PropertyId : uint8_t {
  kPayloadFormatIndicator = 0x01,           // byte
  kMessageExpiryInterval = 0x02,            // four byte integer
  kContentType = 0x03,                      // UTF-8 string
  kResponseTopic = 0x08,                    // UTF-8 string
  kCorrelationData = 0x09,                  // binary data
  kSubscriptionIdentifier = 0x0B,           // variable byte integer
  kSessionExpiryInterval = 0x11,            // four byte integer
  kAssignedClientIdentifier = 0x12,         // UTF-8 string
  kServerKeepAlive = 0x13,                  // two byte integer
  kAuthenticationMethod = 0x15,             // UTF-8 string
  kAuthenticationData = 0x16,               // binary data
  kRequestProblemInformation = 0x17,        // byte
  kWillDelayInterval = 0x18,                // four byte integer
  kRequestResponseInformation = 0x19,       // byte
  kResponseInformation = 0x1A,              // UTF-8 string
  kServerReference = 0x1C,                  // UTF-8 string
  kReasonString = 0x1F,                     // UTF-8 string
  kReceiveMaximum = 0x21,                   // two byte integer
  kTopicAliasMaximum = 0x22,                // two byte integer
  kTopicAlias = 0x23,                       // two byte integer
  kMaximumQos = 0x24,                       // byte
  kRetainAvailable = 0x25,                  // byte
  kUserProperty = 0x26,                     // UTF-8 string pair
  kMaximumPacketSize = 0x27,                // four byte integer
  kWildcardSubscriptionAvailable = 0x28,    // byte
  kSubscriptionIdentifierAvailable = 0x29,  // byte
  kSharedSubscriptionAvailable = 0x2A,      // byte
};

enum class PropertyType : uint8_t {
  kByte,
  kTwoByteInteger,
  kFourByteInteger,
  kVariableByteInteger,
  kUtf8String,
  kBinaryData,
  kUtf8StringPair,
};

// The spec's name of a property ("Message Expiry Interval"), or nullptr for an unknown id.
const char* PropertyName(PropertyId id);

using UserProperties = std::vector<std::pair<std::string, std::string>>;

// All MQTT 5.0 properties of one packet (or of a will). A property is present when its optional
// holds a value. Which properties a packet may carry is checked by the codec on decode (a property
// not allowed in the packet, or repeated where it must not be, is a Protocol Error) and on encode
// (the packet is rejected with Protocol Error). For MQTT 3.1.1 properties are not on the wire: the
// encoder ignores them and the decoder leaves them empty.
struct Properties {
  std::optional<uint8_t> payload_format_indicator;
  std::optional<uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  // PUBLISH (server to client) may carry several; SUBSCRIBE at most one.
  std::vector<uint32_t> subscription_identifiers;
  std::optional<uint32_t> session_expiry_interval;
  std::optional<std::string> assigned_client_identifier;
  std::optional<uint16_t> server_keep_alive;
  std::optional<std::string> authentication_method;
  std::optional<std::string> authentication_data;
  std::optional<uint8_t> request_problem_information;
  std::optional<uint32_t> will_delay_interval;
  std::optional<uint8_t> request_response_information;
  std::optional<std::string> response_information;
  std::optional<std::string> server_reference;
  std::optional<std::string> reason_string;
  std::optional<uint16_t> receive_maximum;
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;
  std::optional<uint8_t> maximum_qos;
  std::optional<uint8_t> retain_available;
  UserProperties user_properties;
  std::optional<uint32_t> maximum_packet_size;
  std::optional<uint8_t> wildcard_subscription_available;
  std::optional<uint8_t> subscription_identifier_available;
  std::optional<uint8_t> shared_subscription_available;

  bool empty() const;
  bool operator==(const Properties&) const = default;
};

}  // namespace aiot::mqtt
