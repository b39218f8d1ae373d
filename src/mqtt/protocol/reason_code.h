#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace aiot::mqtt {

// MQTT 5.0 reason codes (section 2.4). Also the error codes of the codec: a decode error is the
// reason code a v5 server sends in its DISCONNECT (Malformed Packet, Protocol Error, Packet too
// large, ...). For MQTT 3.1.1 the same values are used in the API and mapped to v3.1.1 CONNACK
// return codes / SUBACK codes on the wire by the codec.
enum class ReasonCode : uint8_t {
  kSuccess = 0x00,  // also Normal disconnection, Granted QoS 0
  kGrantedQos1 = 0x01,
  kGrantedQos2 = 0x02,
  kDisconnectWithWillMessage = 0x04,
  kNoMatchingSubscribers = 0x10,
  kNoSubscriptionExisted = 0x11,
  kContinueAuthentication = 0x18,
  kReAuthenticate = 0x19,
  kUnspecifiedError = 0x80,
  kMalformedPacket = 0x81,
  kProtocolError = 0x82,
  kImplementationSpecificError = 0x83,
  kUnsupportedProtocolVersion = 0x84,
  kClientIdentifierNotValid = 0x85,
  kBadUserNameOrPassword = 0x86,
  kNotAuthorized = 0x87,
  kServerUnavailable = 0x88,
  kServerBusy = 0x89,
  kBanned = 0x8A,
  kServerShuttingDown = 0x8B,
  kBadAuthenticationMethod = 0x8C,
  kKeepAliveTimeout = 0x8D,
  kSessionTakenOver = 0x8E,
  kTopicFilterInvalid = 0x8F,
  kTopicNameInvalid = 0x90,
  kPacketIdentifierInUse = 0x91,
  kPacketIdentifierNotFound = 0x92,
  kReceiveMaximumExceeded = 0x93,
  kTopicAliasInvalid = 0x94,
  kPacketTooLarge = 0x95,
  kMessageRateTooHigh = 0x96,
  kQuotaExceeded = 0x97,
  kAdministrativeAction = 0x98,
  kPayloadFormatInvalid = 0x99,
  kRetainNotSupported = 0x9A,
  kQosNotSupported = 0x9B,
  kUseAnotherServer = 0x9C,
  kServerMoved = 0x9D,
  kSharedSubscriptionsNotSupported = 0x9E,
  kConnectionRateExceeded = 0x9F,
  kMaximumConnectTime = 0xA0,
  kSubscriptionIdentifiersNotSupported = 0xA1,
  kWildcardSubscriptionsNotSupported = 0xA2,
};

inline constexpr ReasonCode kNormalDisconnection = ReasonCode::kSuccess;
inline constexpr ReasonCode kGrantedQos0 = ReasonCode::kSuccess;

// The spec's name of a reason code ("Malformed Packet"); "Unknown reason code" for other values.
const char* ReasonCodeName(ReasonCode rc);
// True for values defined by MQTT 5.0 section 2.4.
bool IsKnownReasonCode(uint8_t value);
// Failure codes are >= 0x80.
inline bool IsError(ReasonCode rc) { return static_cast<uint8_t>(rc) >= 0x80; }

// std::error_code integration: codec errors travel as Result<...> with this category.
const std::error_category& mqtt_category();
inline std::error_code make_error_code(ReasonCode rc) {
  return {static_cast<int>(rc), mqtt_category()};
}
// The reason code inside an error_code of mqtt_category(); kUnspecifiedError for other categories.
ReasonCode ToReasonCode(std::error_code ec);

// MQTT 3.1.1 CONNACK return codes <-> v5 reason codes (3.1.1 section 3.2.2.3).
uint8_t ToV311ConnackCode(ReasonCode rc);
ReasonCode FromV311ConnackCode(uint8_t code);

}  // namespace aiot::mqtt

template <>
struct std::is_error_code_enum<aiot::mqtt::ReasonCode> : std::true_type {};
