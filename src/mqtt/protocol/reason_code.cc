#include "mqtt/protocol/reason_code.h"

#include "base/error_category.h"

namespace aiot::mqtt {

// A flat switch, one case per reason code with the spec's name: it keeps its length.
const char* ReasonCodeName(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::kSuccess:
      return "Success";
    case ReasonCode::kGrantedQos1:
      return "Granted QoS 1";
    case ReasonCode::kGrantedQos2:
      return "Granted QoS 2";
    case ReasonCode::kDisconnectWithWillMessage:
      return "Disconnect with Will Message";
    case ReasonCode::kNoMatchingSubscribers:
      return "No matching subscribers";
    case ReasonCode::kNoSubscriptionExisted:
      return "No subscription existed";
    case ReasonCode::kContinueAuthentication:
      return "Continue authentication";
    case ReasonCode::kReAuthenticate:
      return "Re-authenticate";
    case ReasonCode::kUnspecifiedError:
      return "Unspecified error";
    case ReasonCode::kMalformedPacket:
      return "Malformed Packet";
    case ReasonCode::kProtocolError:
      return "Protocol Error";
    case ReasonCode::kImplementationSpecificError:
      return "Implementation specific error";
    case ReasonCode::kUnsupportedProtocolVersion:
      return "Unsupported Protocol Version";
    case ReasonCode::kClientIdentifierNotValid:
      return "Client Identifier not valid";
    case ReasonCode::kBadUserNameOrPassword:
      return "Bad User Name or Password";
    case ReasonCode::kNotAuthorized:
      return "Not authorized";
    case ReasonCode::kServerUnavailable:
      return "Server unavailable";
    case ReasonCode::kServerBusy:
      return "Server busy";
    case ReasonCode::kBanned:
      return "Banned";
    case ReasonCode::kServerShuttingDown:
      return "Server shutting down";
    case ReasonCode::kBadAuthenticationMethod:
      return "Bad authentication method";
    case ReasonCode::kKeepAliveTimeout:
      return "Keep Alive timeout";
    case ReasonCode::kSessionTakenOver:
      return "Session taken over";
    case ReasonCode::kTopicFilterInvalid:
      return "Topic Filter invalid";
    case ReasonCode::kTopicNameInvalid:
      return "Topic Name invalid";
    case ReasonCode::kPacketIdentifierInUse:
      return "Packet Identifier in use";
    case ReasonCode::kPacketIdentifierNotFound:
      return "Packet Identifier not found";
    case ReasonCode::kReceiveMaximumExceeded:
      return "Receive Maximum exceeded";
    case ReasonCode::kTopicAliasInvalid:
      return "Topic Alias invalid";
    case ReasonCode::kPacketTooLarge:
      return "Packet too large";
    case ReasonCode::kMessageRateTooHigh:
      return "Message rate too high";
    case ReasonCode::kQuotaExceeded:
      return "Quota exceeded";
    case ReasonCode::kAdministrativeAction:
      return "Administrative action";
    case ReasonCode::kPayloadFormatInvalid:
      return "Payload format invalid";
    case ReasonCode::kRetainNotSupported:
      return "Retain not supported";
    case ReasonCode::kQosNotSupported:
      return "QoS not supported";
    case ReasonCode::kUseAnotherServer:
      return "Use another server";
    case ReasonCode::kServerMoved:
      return "Server moved";
    case ReasonCode::kSharedSubscriptionsNotSupported:
      return "Shared Subscriptions not supported";
    case ReasonCode::kConnectionRateExceeded:
      return "Connection rate exceeded";
    case ReasonCode::kMaximumConnectTime:
      return "Maximum connect time";
    case ReasonCode::kSubscriptionIdentifiersNotSupported:
      return "Subscription Identifiers not supported";
    case ReasonCode::kWildcardSubscriptionsNotSupported:
      return "Wildcard Subscriptions not supported";
  }
  return "Unknown reason code";
}

bool IsKnownReasonCode(uint8_t value) {
  return std::string_view(ReasonCodeName(static_cast<ReasonCode>(value))) != "Unknown reason code";
}

const std::error_category& mqtt_category() {
  static const NamedCategory category("mqtt", [](int ev) {
    return ev < 0 || ev > 0xFF ? "Unknown reason code"
                               : ReasonCodeName(static_cast<ReasonCode>(ev));
  });
  return category;
}

ReasonCode ToReasonCode(std::error_code ec) {
  if (!ec) return ReasonCode::kSuccess;
  if (ec.category() != mqtt_category()) return ReasonCode::kUnspecifiedError;
  return static_cast<ReasonCode>(ec.value());
}

uint8_t ToV311ConnackCode(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::kSuccess:
      return 0;
    case ReasonCode::kUnsupportedProtocolVersion:
      return 1;
    case ReasonCode::kClientIdentifierNotValid:
      return 2;
    case ReasonCode::kBadUserNameOrPassword:
      return 4;
    case ReasonCode::kNotAuthorized:
    case ReasonCode::kBanned:
    case ReasonCode::kBadAuthenticationMethod:
      return 5;
    default:
      return 3;  // Server unavailable
  }
}

ReasonCode FromV311ConnackCode(uint8_t code) {
  switch (code) {
    case 0:
      return ReasonCode::kSuccess;
    case 1:
      return ReasonCode::kUnsupportedProtocolVersion;
    case 2:
      return ReasonCode::kClientIdentifierNotValid;
    case 3:
      return ReasonCode::kServerUnavailable;
    case 4:
      return ReasonCode::kBadUserNameOrPassword;
    case 5:
      return ReasonCode::kNotAuthorized;
    default:
      return ReasonCode::kMalformedPacket;
  }
}

}  // namespace aiot::mqtt
