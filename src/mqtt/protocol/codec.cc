#include "mqtt/protocol/codec.h"

#include <cstring>
#include <type_traits>

#include "base/check.h"
#include "mqtt/protocol/topic.h"
#include "mqtt/protocol/utf8.h"

namespace aiot::mqtt {

const char* PacketTypeName(PacketType t) {
  switch (t) {
    case PacketType::kConnect:
      return "CONNECT";
    case PacketType::kConnack:
      return "CONNACK";
    case PacketType::kPublish:
      return "PUBLISH";
    case PacketType::kPuback:
      return "PUBACK";
    case PacketType::kPubrec:
      return "PUBREC";
    case PacketType::kPubrel:
      return "PUBREL";
    case PacketType::kPubcomp:
      return "PUBCOMP";
    case PacketType::kSubscribe:
      return "SUBSCRIBE";
    case PacketType::kSuback:
      return "SUBACK";
    case PacketType::kUnsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::kUnsuback:
      return "UNSUBACK";
    case PacketType::kPingreq:
      return "PINGREQ";
    case PacketType::kPingresp:
      return "PINGRESP";
    case PacketType::kDisconnect:
      return "DISCONNECT";
    case PacketType::kAuth:
      return "AUTH";
  }
  return "RESERVED";
}

namespace {

// ---- Property table ----------------------------------------------------------------------------

// Bit i set: allowed in packet type i. Bit 0 (type 0 is reserved) stands for the will properties.
constexpr uint32_t kWillCtx = 1u << 0;
constexpr uint32_t Bit(PacketType t) { return 1u << static_cast<int>(t); }
constexpr uint32_t kAckCtx = Bit(PacketType::kPuback) | Bit(PacketType::kPubrec) |
                             Bit(PacketType::kPubrel) | Bit(PacketType::kPubcomp);
constexpr uint32_t kAllCtx = kWillCtx | Bit(PacketType::kConnect) | Bit(PacketType::kConnack) |
                             Bit(PacketType::kPublish) | kAckCtx | Bit(PacketType::kSubscribe) |
                             Bit(PacketType::kSuback) | Bit(PacketType::kUnsubscribe) |
                             Bit(PacketType::kUnsuback) | Bit(PacketType::kDisconnect) |
                             Bit(PacketType::kAuth);

struct PropertyInfo {
  PropertyType type;
  uint32_t allowed;
  const char* name;
};

constexpr PropertyInfo kNoProperty{PropertyType::kByte, 0, nullptr};

constexpr PropertyInfo Info(uint8_t id) {
  using P = PropertyType;
  using T = PacketType;
  constexpr uint32_t kPubWill = Bit(T::kPublish) | kWillCtx;
  switch (id) {
    case 0x01:
      return {P::kByte, kPubWill, "Payload Format Indicator"};
    case 0x02:
      return {P::kFourByteInteger, kPubWill, "Message Expiry Interval"};
    case 0x03:
      return {P::kUtf8String, kPubWill, "Content Type"};
    case 0x08:
      return {P::kUtf8String, kPubWill, "Response Topic"};
    case 0x09:
      return {P::kBinaryData, kPubWill, "Correlation Data"};
    case 0x0B:
      return {P::kVariableByteInteger, Bit(T::kPublish) | Bit(T::kSubscribe),
              "Subscription Identifier"};
    case 0x11:
      return {P::kFourByteInteger, Bit(T::kConnect) | Bit(T::kConnack) | Bit(T::kDisconnect),
              "Session Expiry Interval"};
    case 0x12:
      return {P::kUtf8String, Bit(T::kConnack), "Assigned Client Identifier"};
    case 0x13:
      return {P::kTwoByteInteger, Bit(T::kConnack), "Server Keep Alive"};
    case 0x15:
      return {P::kUtf8String, Bit(T::kConnect) | Bit(T::kConnack) | Bit(T::kAuth),
              "Authentication Method"};
    case 0x16:
      return {P::kBinaryData, Bit(T::kConnect) | Bit(T::kConnack) | Bit(T::kAuth),
              "Authentication Data"};
    case 0x17:
      return {P::kByte, Bit(T::kConnect), "Request Problem Information"};
    case 0x18:
      return {P::kFourByteInteger, kWillCtx, "Will Delay Interval"};
    case 0x19:
      return {P::kByte, Bit(T::kConnect), "Request Response Information"};
    case 0x1A:
      return {P::kUtf8String, Bit(T::kConnack), "Response Information"};
    case 0x1C:
      return {P::kUtf8String, Bit(T::kConnack) | Bit(T::kDisconnect), "Server Reference"};
    case 0x1F:
      return {P::kUtf8String,
              Bit(T::kConnack) | kAckCtx | Bit(T::kSuback) | Bit(T::kUnsuback) |
                  Bit(T::kDisconnect) | Bit(T::kAuth),
              "Reason String"};
    case 0x21:
      return {P::kTwoByteInteger, Bit(T::kConnect) | Bit(T::kConnack), "Receive Maximum"};
    case 0x22:
      return {P::kTwoByteInteger, Bit(T::kConnect) | Bit(T::kConnack), "Topic Alias Maximum"};
    case 0x23:
      return {P::kTwoByteInteger, Bit(T::kPublish), "Topic Alias"};
    case 0x24:
      return {P::kByte, Bit(T::kConnack), "Maximum QoS"};
    case 0x25:
      return {P::kByte, Bit(T::kConnack), "Retain Available"};
    case 0x26:
      return {P::kUtf8StringPair, kAllCtx, "User Property"};
    case 0x27:
      return {P::kFourByteInteger, Bit(T::kConnect) | Bit(T::kConnack), "Maximum Packet Size"};
    case 0x28:
      return {P::kByte, Bit(T::kConnack), "Wildcard Subscription Available"};
    case 0x29:
      return {P::kByte, Bit(T::kConnack), "Subscription Identifier Available"};
    case 0x2A:
      return {P::kByte, Bit(T::kConnack), "Shared Subscription Available"};
    default:
      return kNoProperty;
  }
}

// ---- Writing -----------------------------------------------------------------------------------

// Counts bytes; the same Write* templates drive sizing and encoding.
struct Counter {
  size_t n = 0;
  void Byte(uint8_t) { ++n; }
  void Bytes(std::string_view s) { n += s.size(); }
};

struct Appender {
  std::string* out;
  void Byte(uint8_t b) { out->push_back(static_cast<char>(b)); }
  void Bytes(std::string_view s) { out->append(s); }
};

template <class W>
void U16(W& w, uint16_t v) {
  w.Byte(static_cast<uint8_t>(v >> 8));
  w.Byte(static_cast<uint8_t>(v));
}
template <class W>
void U32(W& w, uint32_t v) {
  w.Byte(static_cast<uint8_t>(v >> 24));
  w.Byte(static_cast<uint8_t>(v >> 16));
  w.Byte(static_cast<uint8_t>(v >> 8));
  w.Byte(static_cast<uint8_t>(v));
}
template <class W>
void Vbi(W& w, uint32_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    w.Byte(b);
  } while (v);
}
template <class W>
void Str(W& w, std::string_view s) {
  U16(w, static_cast<uint16_t>(s.size()));
  w.Bytes(s);
}

template <class W>
void PropId(W& w, PropertyId id) {
  w.Byte(static_cast<uint8_t>(id));
}

// Writes the property list (without its length prefix).
template <class W>
void PropList(W& w, const Properties& p) {
  using I = PropertyId;
  if (p.payload_format_indicator)
    PropId(w, I::kPayloadFormatIndicator), w.Byte(*p.payload_format_indicator);
  if (p.message_expiry_interval)
    PropId(w, I::kMessageExpiryInterval), U32(w, *p.message_expiry_interval);
  if (p.content_type) PropId(w, I::kContentType), Str(w, *p.content_type);
  if (p.response_topic) PropId(w, I::kResponseTopic), Str(w, *p.response_topic);
  if (p.correlation_data) PropId(w, I::kCorrelationData), Str(w, *p.correlation_data);
  for (uint32_t id : p.subscription_identifiers) PropId(w, I::kSubscriptionIdentifier), Vbi(w, id);
  if (p.session_expiry_interval)
    PropId(w, I::kSessionExpiryInterval), U32(w, *p.session_expiry_interval);
  if (p.assigned_client_identifier)
    PropId(w, I::kAssignedClientIdentifier), Str(w, *p.assigned_client_identifier);
  if (p.server_keep_alive) PropId(w, I::kServerKeepAlive), U16(w, *p.server_keep_alive);
  if (p.authentication_method)
    PropId(w, I::kAuthenticationMethod), Str(w, *p.authentication_method);
  if (p.authentication_data) PropId(w, I::kAuthenticationData), Str(w, *p.authentication_data);
  if (p.request_problem_information)
    PropId(w, I::kRequestProblemInformation), w.Byte(*p.request_problem_information);
  if (p.will_delay_interval) PropId(w, I::kWillDelayInterval), U32(w, *p.will_delay_interval);
  if (p.request_response_information)
    PropId(w, I::kRequestResponseInformation), w.Byte(*p.request_response_information);
  if (p.response_information) PropId(w, I::kResponseInformation), Str(w, *p.response_information);
  if (p.server_reference) PropId(w, I::kServerReference), Str(w, *p.server_reference);
  if (p.reason_string) PropId(w, I::kReasonString), Str(w, *p.reason_string);
  if (p.receive_maximum) PropId(w, I::kReceiveMaximum), U16(w, *p.receive_maximum);
  if (p.topic_alias_maximum) PropId(w, I::kTopicAliasMaximum), U16(w, *p.topic_alias_maximum);
  if (p.topic_alias) PropId(w, I::kTopicAlias), U16(w, *p.topic_alias);
  if (p.maximum_qos) PropId(w, I::kMaximumQos), w.Byte(*p.maximum_qos);
  if (p.retain_available) PropId(w, I::kRetainAvailable), w.Byte(*p.retain_available);
  for (const auto& [k, v] : p.user_properties) PropId(w, I::kUserProperty), Str(w, k), Str(w, v);
  if (p.maximum_packet_size) PropId(w, I::kMaximumPacketSize), U32(w, *p.maximum_packet_size);
  if (p.wildcard_subscription_available)
    PropId(w, I::kWildcardSubscriptionAvailable), w.Byte(*p.wildcard_subscription_available);
  if (p.subscription_identifier_available)
    PropId(w, I::kSubscriptionIdentifierAvailable), w.Byte(*p.subscription_identifier_available);
  if (p.shared_subscription_available)
    PropId(w, I::kSharedSubscriptionAvailable), w.Byte(*p.shared_subscription_available);
}

size_t PropListSize(const Properties& p) {
  Counter c;
  PropList(c, p);
  return c.n;
}

// Properties with their Variable Byte Integer length prefix.
template <class W>
void Props(W& w, const Properties& p) {
  Vbi(w, static_cast<uint32_t>(PropListSize(p)));
  PropList(w, p);
}

// ---- Encode-side validation --------------------------------------------------------------------

bool StrOk(std::string_view s) { return s.size() <= 65535; }
bool OptStrOk(const std::optional<std::string>& s) { return !s || StrOk(*s); }
bool Bool01(const std::optional<uint8_t>& v) { return !v || *v <= 1; }

// Whether `p` may be sent in context `ctx` (a Bit() or kWillCtx) under v5 rules.
bool PropsValid(const Properties& p, uint32_t ctx) {
  auto allowed = [ctx](PropertyId id) {
    return (Info(static_cast<uint8_t>(id)).allowed & ctx) != 0;
  };
  using I = PropertyId;
#define AIOT_MQTT_CHECK_PROP(field, id) \
  if (p.field && !allowed(I::id)) return false;
  AIOT_MQTT_CHECK_PROP(payload_format_indicator, kPayloadFormatIndicator)
  AIOT_MQTT_CHECK_PROP(message_expiry_interval, kMessageExpiryInterval)
  AIOT_MQTT_CHECK_PROP(content_type, kContentType)
  AIOT_MQTT_CHECK_PROP(response_topic, kResponseTopic)
  AIOT_MQTT_CHECK_PROP(correlation_data, kCorrelationData)
  AIOT_MQTT_CHECK_PROP(session_expiry_interval, kSessionExpiryInterval)
  AIOT_MQTT_CHECK_PROP(assigned_client_identifier, kAssignedClientIdentifier)
  AIOT_MQTT_CHECK_PROP(server_keep_alive, kServerKeepAlive)
  AIOT_MQTT_CHECK_PROP(authentication_method, kAuthenticationMethod)
  AIOT_MQTT_CHECK_PROP(authentication_data, kAuthenticationData)
  AIOT_MQTT_CHECK_PROP(request_problem_information, kRequestProblemInformation)
  AIOT_MQTT_CHECK_PROP(will_delay_interval, kWillDelayInterval)
  AIOT_MQTT_CHECK_PROP(request_response_information, kRequestResponseInformation)
  AIOT_MQTT_CHECK_PROP(response_information, kResponseInformation)
  AIOT_MQTT_CHECK_PROP(server_reference, kServerReference)
  AIOT_MQTT_CHECK_PROP(reason_string, kReasonString)
  AIOT_MQTT_CHECK_PROP(receive_maximum, kReceiveMaximum)
  AIOT_MQTT_CHECK_PROP(topic_alias_maximum, kTopicAliasMaximum)
  AIOT_MQTT_CHECK_PROP(topic_alias, kTopicAlias)
  AIOT_MQTT_CHECK_PROP(maximum_qos, kMaximumQos)
  AIOT_MQTT_CHECK_PROP(retain_available, kRetainAvailable)
  AIOT_MQTT_CHECK_PROP(maximum_packet_size, kMaximumPacketSize)
  AIOT_MQTT_CHECK_PROP(wildcard_subscription_available, kWildcardSubscriptionAvailable)
  AIOT_MQTT_CHECK_PROP(subscription_identifier_available, kSubscriptionIdentifierAvailable)
  AIOT_MQTT_CHECK_PROP(shared_subscription_available, kSharedSubscriptionAvailable)
#undef AIOT_MQTT_CHECK_PROP
  if (!p.subscription_identifiers.empty()) {
    if (!allowed(I::kSubscriptionIdentifier)) return false;
    if (ctx == Bit(PacketType::kSubscribe) && p.subscription_identifiers.size() > 1) return false;
    for (uint32_t id : p.subscription_identifiers) {
      if (id == 0 || id > kMaxRemainingLength) return false;
    }
  }
  if (!Bool01(p.payload_format_indicator) || !Bool01(p.request_problem_information) ||
      !Bool01(p.request_response_information) || !Bool01(p.maximum_qos) ||
      !Bool01(p.retain_available) || !Bool01(p.wildcard_subscription_available) ||
      !Bool01(p.subscription_identifier_available) || !Bool01(p.shared_subscription_available)) {
    return false;
  }
  if ((p.receive_maximum && *p.receive_maximum == 0) ||
      (p.maximum_packet_size && *p.maximum_packet_size == 0) ||
      (p.topic_alias && *p.topic_alias == 0)) {
    return false;
  }
  if (!OptStrOk(p.content_type) || !OptStrOk(p.response_topic) || !OptStrOk(p.correlation_data) ||
      !OptStrOk(p.assigned_client_identifier) || !OptStrOk(p.authentication_method) ||
      !OptStrOk(p.authentication_data) || !OptStrOk(p.response_information) ||
      !OptStrOk(p.server_reference) || !OptStrOk(p.reason_string)) {
    return false;
  }
  for (const auto& [k, v] : p.user_properties) {
    if (!StrOk(k) || !StrOk(v)) return false;
  }
  return true;
}

bool PacketIdOk(uint16_t id) { return id != 0; }

template <class T, size_t I = 0>
constexpr size_t IndexOf() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, Packet>, T>) {
    return I;
  } else {
    return IndexOf<T, I + 1>();
  }
}

// Checks what the encoder can check; kSuccess or the reason to refuse.
ReasonCode ValidateForEncode(const Packet& packet, uint8_t v) {
  const bool v5 = v == kMqtt5;
  if (v != kMqtt311 && v != kMqtt5) return ReasonCode::kUnsupportedProtocolVersion;
  auto props = [&](const Properties& p, uint32_t ctx) { return !v5 || PropsValid(p, ctx); };
  return std::visit(
      [&](const auto& p) -> ReasonCode {
        using T = std::decay_t<decltype(p)>;
        const uint32_t ctx = Bit(static_cast<PacketType>(IndexOf<T>() + 1));
        (void)ctx;
        if constexpr (std::is_same_v<T, Connect>) {
          if (p.protocol_version != v) return ReasonCode::kProtocolError;
          if (!StrOk(p.client_id) || !OptStrOk(p.username) || !OptStrOk(p.password)) {
            return ReasonCode::kProtocolError;
          }
          if (!v5 && p.password && !p.username) return ReasonCode::kProtocolError;
          if (!props(p.properties, ctx)) return ReasonCode::kProtocolError;
          if (p.will) {
            if (!StrOk(p.will->topic) || p.will->payload.size() > 65535 ||
                static_cast<uint8_t>(p.will->qos) > 2 || !props(p.will->properties, kWillCtx)) {
              return ReasonCode::kProtocolError;
            }
          }
        } else if constexpr (std::is_same_v<T, Connack>) {
          if (!props(p.properties, ctx)) return ReasonCode::kProtocolError;
        } else if constexpr (std::is_same_v<T, Publish>) {
          if (static_cast<uint8_t>(p.qos) > 2) return ReasonCode::kProtocolError;
          if ((p.qos != QoS::kAtMostOnce) != (p.packet_id != 0)) return ReasonCode::kProtocolError;
          if (p.qos == QoS::kAtMostOnce && p.dup) return ReasonCode::kProtocolError;
          if (!StrOk(p.topic)) return ReasonCode::kProtocolError;
          if (p.topic.empty() && !(v5 && p.properties.topic_alias))
            return ReasonCode::kProtocolError;
          if (!props(p.properties, ctx)) return ReasonCode::kProtocolError;
        } else if constexpr (std::is_same_v<T, Puback> || std::is_same_v<T, Pubrec> ||
                             std::is_same_v<T, Pubrel> || std::is_same_v<T, Pubcomp>) {
          if (!PacketIdOk(p.packet_id) || !props(p.properties, ctx))
            return ReasonCode::kProtocolError;
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          if (!PacketIdOk(p.packet_id) || p.subscriptions.empty() || !props(p.properties, ctx)) {
            return ReasonCode::kProtocolError;
          }
          for (const auto& s : p.subscriptions) {
            if (s.filter.empty() || !StrOk(s.filter) || static_cast<uint8_t>(s.options.qos) > 2 ||
                static_cast<uint8_t>(s.options.retain_handling) > 2) {
              return ReasonCode::kProtocolError;
            }
          }
        } else if constexpr (std::is_same_v<T, Suback>) {
          if (!PacketIdOk(p.packet_id) || p.reason_codes.empty() || !props(p.properties, ctx)) {
            return ReasonCode::kProtocolError;
          }
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          if (!PacketIdOk(p.packet_id) || p.filters.empty() || !props(p.properties, ctx)) {
            return ReasonCode::kProtocolError;
          }
          for (const auto& f : p.filters) {
            if (f.empty() || !StrOk(f)) return ReasonCode::kProtocolError;
          }
        } else if constexpr (std::is_same_v<T, Unsuback>) {
          if (!PacketIdOk(p.packet_id) || !props(p.properties, ctx))
            return ReasonCode::kProtocolError;
          if (v5 && p.reason_codes.empty()) return ReasonCode::kProtocolError;
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          if (!props(p.properties, ctx)) return ReasonCode::kProtocolError;
        } else if constexpr (std::is_same_v<T, Auth>) {
          if (!v5 || !props(p.properties, ctx)) return ReasonCode::kProtocolError;
        }
        return ReasonCode::kSuccess;
      },
      packet);
}

// ---- Body writers ------------------------------------------------------------------------------

uint8_t QosBits(QoS q) { return static_cast<uint8_t>(q) & 3; }

template <class W>
void Body(W& w, const Connect& c, uint8_t v) {
  Str(w, "MQTT");
  w.Byte(v);
  uint8_t flags = 0;
  if (c.username) flags |= 0x80;
  if (c.password) flags |= 0x40;
  if (c.will) {
    flags |= 0x04 | static_cast<uint8_t>(QosBits(c.will->qos) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.clean_start) flags |= 0x02;
  w.Byte(flags);
  U16(w, c.keep_alive);
  if (v == kMqtt5) Props(w, c.properties);
  Str(w, c.client_id);
  if (c.will) {
    if (v == kMqtt5) Props(w, c.will->properties);
    Str(w, c.will->topic);
    Str(w, c.will->payload.view());
  }
  if (c.username) Str(w, *c.username);
  if (c.password) Str(w, *c.password);
}

template <class W>
void Body(W& w, const Connack& c, uint8_t v) {
  w.Byte(c.session_present ? 1 : 0);
  if (v == kMqtt5) {
    w.Byte(static_cast<uint8_t>(c.reason_code));
    Props(w, c.properties);
  } else {
    w.Byte(ToV311ConnackCode(c.reason_code));
  }
}

// PUBLISH without the payload.
template <class W>
void PublishHead(W& w, const Publish& p, uint8_t v) {
  Str(w, p.topic);
  if (p.qos != QoS::kAtMostOnce) U16(w, p.packet_id);
  if (v == kMqtt5) Props(w, p.properties);
}

template <class W>
void Body(W& w, const Publish& p, uint8_t v) {
  PublishHead(w, p, v);
  w.Bytes(p.payload.view());
}

template <class W, PacketType kType>
void Body(W& w, const PublishResponse<kType>& p, uint8_t v) {
  U16(w, p.packet_id);
  if (v != kMqtt5) return;
  const bool has_props = !p.properties.empty();
  if (p.reason_code == ReasonCode::kSuccess && !has_props) return;  // 3.4.2.1: may be omitted
  w.Byte(static_cast<uint8_t>(p.reason_code));
  if (has_props) Props(w, p.properties);
}

template <class W>
void Body(W& w, const Subscribe& s, uint8_t v) {
  U16(w, s.packet_id);
  if (v == kMqtt5) Props(w, s.properties);
  for (const auto& sub : s.subscriptions) {
    Str(w, sub.filter);
    uint8_t o = QosBits(sub.options.qos);
    if (v == kMqtt5) {
      if (sub.options.no_local) o |= 0x04;
      if (sub.options.retain_as_published) o |= 0x08;
      o |= static_cast<uint8_t>((static_cast<uint8_t>(sub.options.retain_handling) & 3) << 4);
    }
    w.Byte(o);
  }
}

template <class W>
void Body(W& w, const Suback& s, uint8_t v) {
  U16(w, s.packet_id);
  if (v == kMqtt5) {
    Props(w, s.properties);
    for (ReasonCode rc : s.reason_codes) w.Byte(static_cast<uint8_t>(rc));
  } else {
    for (ReasonCode rc : s.reason_codes) {
      const auto b = static_cast<uint8_t>(rc);
      w.Byte(b <= 2 ? b : 0x80);
    }
  }
}

template <class W>
void Body(W& w, const Unsubscribe& u, uint8_t v) {
  U16(w, u.packet_id);
  if (v == kMqtt5) Props(w, u.properties);
  for (const auto& f : u.filters) Str(w, f);
}

template <class W>
void Body(W& w, const Unsuback& u, uint8_t v) {
  U16(w, u.packet_id);
  if (v != kMqtt5) return;
  Props(w, u.properties);
  for (ReasonCode rc : u.reason_codes) w.Byte(static_cast<uint8_t>(rc));
}

template <class W>
void Body(W&, const Pingreq&, uint8_t) {}
template <class W>
void Body(W&, const Pingresp&, uint8_t) {}

// DISCONNECT and AUTH: reason code and properties, both omitted when Success without properties.
template <class W, class P>
void ReasonAndProps(W& w, const P& d, uint8_t v) {
  if (v != kMqtt5) return;
  const bool has_props = !d.properties.empty();
  if (d.reason_code == ReasonCode::kSuccess && !has_props) return;
  w.Byte(static_cast<uint8_t>(d.reason_code));
  if (has_props) Props(w, d.properties);
}
template <class W>
void Body(W& w, const Disconnect& d, uint8_t v) {
  ReasonAndProps(w, d, v);
}
template <class W>
void Body(W& w, const Auth& a, uint8_t v) {
  ReasonAndProps(w, a, v);
}

uint8_t FirstByte(const Packet& packet) {
  const uint8_t type = static_cast<uint8_t>(TypeOf(packet)) << 4;
  if (const auto* p = std::get_if<Publish>(&packet)) {
    return type | (p->dup ? 0x08 : 0) | static_cast<uint8_t>(QosBits(p->qos) << 1) |
           (p->retain ? 0x01 : 0);
  }
  switch (TypeOf(packet)) {
    case PacketType::kPubrel:
    case PacketType::kSubscribe:
    case PacketType::kUnsubscribe:
      return type | 0x02;  // [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
    default:
      return type;
  }
}

size_t BodySize(const Packet& packet, uint8_t v) {
  Counter c;
  std::visit([&](const auto& p) { Body(c, p, v); }, packet);
  return c.n;
}

}  // namespace

// Field by field, not `*this == Properties{}` (which built, compared and destroyed a default
// Properties on every encode of an ack). A field added to Properties must be added here: the
// size check below fails until it is (and Properties.EmptyMatchesDefault tests the result).
bool Properties::empty() const {
#if defined(__GLIBCXX__) && __SIZEOF_POINTER__ == 8
  static_assert(sizeof(Properties) == 488, "a field was added to Properties: add it to empty()");
#endif
  return !payload_format_indicator && !message_expiry_interval && !content_type &&
         !response_topic && !correlation_data && subscription_identifiers.empty() &&
         !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
         !authentication_method && !authentication_data && !request_problem_information &&
         !will_delay_interval && !request_response_information && !response_information &&
         !server_reference && !reason_string && !receive_maximum && !topic_alias_maximum &&
         !topic_alias && !maximum_qos && !retain_available && user_properties.empty() &&
         !maximum_packet_size && !wildcard_subscription_available &&
         !subscription_identifier_available && !shared_subscription_available;
}

const char* PropertyName(PropertyId id) { return Info(static_cast<uint8_t>(id)).name; }

size_t VariableByteIntegerSize(uint32_t value) {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

size_t EncodeVariableByteInteger(uint32_t value, std::string* out) {
  Appender a{out};
  Vbi(a, value);
  return VariableByteIntegerSize(value);
}

Result<size_t> EncodedSize(const Packet& packet, uint8_t version) {
  if (ReasonCode rc = ValidateForEncode(packet, version); rc != ReasonCode::kSuccess) return rc;
  const size_t body = BodySize(packet, version);
  if (body > kMaxRemainingLength) return ReasonCode::kPacketTooLarge;
  return 1 + VariableByteIntegerSize(static_cast<uint32_t>(body)) + body;
}

Result<size_t> Encode(const Packet& packet, uint8_t version, std::string* out) {
  if (ReasonCode rc = ValidateForEncode(packet, version); rc != ReasonCode::kSuccess) return rc;
  const size_t body = BodySize(packet, version);
  if (body > kMaxRemainingLength) return ReasonCode::kPacketTooLarge;
  const size_t before = out->size();
  Appender a{out};
  a.Byte(FirstByte(packet));
  Vbi(a, static_cast<uint32_t>(body));
  std::visit([&](const auto& p) { Body(a, p, version); }, packet);
  return out->size() - before;
}

Result<size_t> EncodeAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version,
                         std::string* out) {
  if (version != kMqtt311 && version != kMqtt5) return ReasonCode::kUnsupportedProtocolVersion;
  if (type != PacketType::kPuback && type != PacketType::kPubrec && type != PacketType::kPubrel &&
      type != PacketType::kPubcomp) {
    return ReasonCode::kProtocolError;
  }
  if (packet_id == 0) return ReasonCode::kProtocolError;
  // As Body(PublishResponse): the reason code only in v5, and omitted there when it is success
  // (no properties here) [3.4.2.1].
  const bool with_rc = version == kMqtt5 && rc != ReasonCode::kSuccess;
  const char bytes[5] = {
      static_cast<char>(static_cast<uint8_t>(type) << 4 | (type == PacketType::kPubrel ? 0x02 : 0)),
      static_cast<char>(with_rc ? 3 : 2), static_cast<char>(packet_id >> 8),
      static_cast<char>(packet_id & 0xFF), static_cast<char>(rc)};
  const size_t n = with_rc ? 5 : 4;
  out->append(bytes, n);
  return n;
}

Result<size_t> EncodePublishHeader(const Publish& publish, uint8_t version, std::string* out) {
  // Validate without copying the packet into a variant: the checks only read the fields.
  if (static_cast<uint8_t>(publish.qos) > 2 ||
      (publish.qos != QoS::kAtMostOnce) != (publish.packet_id != 0) ||
      (publish.qos == QoS::kAtMostOnce && publish.dup) || !StrOk(publish.topic) ||
      (publish.topic.empty() && !(version == kMqtt5 && publish.properties.topic_alias)) ||
      (version != kMqtt311 && version != kMqtt5) ||
      (version == kMqtt5 && !PropsValid(publish.properties, Bit(PacketType::kPublish)))) {
    return ReasonCode::kProtocolError;
  }
  Counter c;
  PublishHead(c, publish, version);
  const size_t body = c.n + publish.payload.size();
  if (body > kMaxRemainingLength) return ReasonCode::kPacketTooLarge;
  const size_t before = out->size();
  Appender a{out};
  a.Byte(static_cast<uint8_t>(static_cast<uint8_t>(PacketType::kPublish) << 4) |
         (publish.dup ? 0x08 : 0) | static_cast<uint8_t>(QosBits(publish.qos) << 1) |
         (publish.retain ? 0x01 : 0));
  Vbi(a, static_cast<uint32_t>(body));
  PublishHead(a, publish, version);
  return out->size() - before;
}

// ---- Decoding ----------------------------------------------------------------------------------

namespace {

// A failed decode: the reason code and a static description.
struct Failure {
  ReasonCode rc;
  const char* detail;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  size_t remaining() const { return s_.size() - pos_; }
  bool empty() const { return pos_ == s_.size(); }
  std::string_view Rest() {
    std::string_view r = s_.substr(pos_);
    pos_ = s_.size();
    return r;
  }

  bool Byte(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(s_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = static_cast<uint16_t>((static_cast<uint8_t>(s_[pos_]) << 8) |
                               static_cast<uint8_t>(s_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (remaining() < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r = (r << 8) | static_cast<uint8_t>(s_[pos_ + i]);
    pos_ += 4;
    *v = r;
    return true;
  }
  // A Variable Byte Integer: at most 4 bytes, minimally encoded [MQTT-1.5.5-1].
  bool Vbi(uint32_t* v) {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      uint8_t b;
      if (!Byte(&b)) return false;
      value |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) {
        if (i > 0 && b == 0) return false;  // non-minimal
        *v = value;
        return true;
      }
    }
    return false;
  }
  bool Binary(std::string_view* v) {
    uint16_t len;
    if (!U16(&len) || remaining() < len) return false;
    *v = s_.substr(pos_, len);
    pos_ += len;
    return true;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

#define AIOT_MQTT_FAIL(code, text) \
  return Failure { ReasonCode::code, text }
#define AIOT_MQTT_TRY(expr)          \
  do {                               \
    if (auto f_ = (expr)) return f_; \
  } while (0)

using MaybeFailure = std::optional<Failure>;

MaybeFailure ReadUtf8(Reader& r, std::string* out) {
  std::string_view v;
  if (!r.Binary(&v)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated UTF-8 string");
  if (!IsValidMqttUtf8(v)) AIOT_MQTT_FAIL(kMalformedPacket, "invalid UTF-8 string [MQTT-1.5.4-1]");
  out->assign(v);
  return std::nullopt;
}

MaybeFailure ReadBinary(Reader& r, std::string* out) {
  std::string_view v;
  if (!r.Binary(&v)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated binary data");
  out->assign(v);
  return std::nullopt;
}

// One property value as read off the wire, before it is stored in its field.
struct PropertyValue {
  uint8_t b = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  std::string s;
  std::string key;  // user property name
};

// The identifier of the next property: known, allowed in context `ctx`, not repeated unless it
// may be (`*seen` has a bit per identifier already read).
MaybeFailure ReadPropertyId(Reader& pr, uint32_t ctx, uint64_t* seen, PropertyId* out) {
  uint32_t id32;
  if (!pr.Vbi(&id32)) AIOT_MQTT_FAIL(kMalformedPacket, "bad property identifier");
  if (id32 > 0x7F) AIOT_MQTT_FAIL(kMalformedPacket, "unknown property identifier");
  const uint8_t id = static_cast<uint8_t>(id32);
  const PropertyInfo info = Info(id);
  if (!info.name) AIOT_MQTT_FAIL(kMalformedPacket, "unknown property identifier");
  if (!(info.allowed & ctx)) AIOT_MQTT_FAIL(kProtocolError, "property not allowed in this packet");
  const auto pid = static_cast<PropertyId>(id);
  const bool repeatable =
      pid == PropertyId::kUserProperty ||
      (pid == PropertyId::kSubscriptionIdentifier && ctx == Bit(PacketType::kPublish));
  if (!repeatable && (*seen & (uint64_t{1} << id))) {
    AIOT_MQTT_FAIL(kProtocolError, "property included more than once");
  }
  *seen |= uint64_t{1} << id;
  *out = pid;
  return std::nullopt;
}

// The value of a property of type `type`.
MaybeFailure ReadPropertyValue(Reader& pr, PropertyType type, PropertyValue* v) {
  switch (type) {
    case PropertyType::kByte:
      if (!pr.Byte(&v->b)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated property");
      if (v->b > 1) AIOT_MQTT_FAIL(kProtocolError, "property value must be 0 or 1");
      break;
    case PropertyType::kTwoByteInteger:
      if (!pr.U16(&v->u16)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated property");
      break;
    case PropertyType::kFourByteInteger:
      if (!pr.U32(&v->u32)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated property");
      break;
    case PropertyType::kVariableByteInteger:
      if (!pr.Vbi(&v->u32)) AIOT_MQTT_FAIL(kMalformedPacket, "bad variable byte integer property");
      break;
    case PropertyType::kUtf8String:
      AIOT_MQTT_TRY(ReadUtf8(pr, &v->s));
      break;
    case PropertyType::kBinaryData:
      AIOT_MQTT_TRY(ReadBinary(pr, &v->s));
      break;
    case PropertyType::kUtf8StringPair:
      AIOT_MQTT_TRY(ReadUtf8(pr, &v->key));
      AIOT_MQTT_TRY(ReadUtf8(pr, &v->s));
      break;
  }
  return std::nullopt;
}

// Stores a value in its field of `*p`, refusing the values the spec makes a Protocol Error.
// A flat switch with one case per property identifier: it keeps its length.
MaybeFailure StoreProperty(PropertyId pid, PropertyValue&& v, Properties* p) {
  switch (pid) {
    case PropertyId::kPayloadFormatIndicator:
      p->payload_format_indicator = v.b;
      break;
    case PropertyId::kMessageExpiryInterval:
      p->message_expiry_interval = v.u32;
      break;
    case PropertyId::kContentType:
      p->content_type = std::move(v.s);
      break;
    case PropertyId::kResponseTopic:
      p->response_topic = std::move(v.s);
      break;
    case PropertyId::kCorrelationData:
      p->correlation_data = std::move(v.s);
      break;
    case PropertyId::kSubscriptionIdentifier:
      if (v.u32 == 0) AIOT_MQTT_FAIL(kProtocolError, "Subscription Identifier 0");
      p->subscription_identifiers.push_back(v.u32);
      break;
    case PropertyId::kSessionExpiryInterval:
      p->session_expiry_interval = v.u32;
      break;
    case PropertyId::kAssignedClientIdentifier:
      p->assigned_client_identifier = std::move(v.s);
      break;
    case PropertyId::kServerKeepAlive:
      p->server_keep_alive = v.u16;
      break;
    case PropertyId::kAuthenticationMethod:
      p->authentication_method = std::move(v.s);
      break;
    case PropertyId::kAuthenticationData:
      p->authentication_data = std::move(v.s);
      break;
    case PropertyId::kRequestProblemInformation:
      p->request_problem_information = v.b;
      break;
    case PropertyId::kWillDelayInterval:
      p->will_delay_interval = v.u32;
      break;
    case PropertyId::kRequestResponseInformation:
      p->request_response_information = v.b;
      break;
    case PropertyId::kResponseInformation:
      p->response_information = std::move(v.s);
      break;
    case PropertyId::kServerReference:
      p->server_reference = std::move(v.s);
      break;
    case PropertyId::kReasonString:
      p->reason_string = std::move(v.s);
      break;
    case PropertyId::kReceiveMaximum:
      if (v.u16 == 0) AIOT_MQTT_FAIL(kProtocolError, "Receive Maximum 0");
      p->receive_maximum = v.u16;
      break;
    case PropertyId::kTopicAliasMaximum:
      p->topic_alias_maximum = v.u16;
      break;
    case PropertyId::kTopicAlias:
      if (v.u16 == 0) AIOT_MQTT_FAIL(kProtocolError, "Topic Alias 0 [MQTT-3.3.2-8]");
      p->topic_alias = v.u16;
      break;
    case PropertyId::kMaximumQos:
      p->maximum_qos = v.b;
      break;
    case PropertyId::kRetainAvailable:
      p->retain_available = v.b;
      break;
    case PropertyId::kUserProperty:
      p->user_properties.emplace_back(std::move(v.key), std::move(v.s));
      break;
    case PropertyId::kMaximumPacketSize:
      if (v.u32 == 0) AIOT_MQTT_FAIL(kProtocolError, "Maximum Packet Size 0");
      p->maximum_packet_size = v.u32;
      break;
    case PropertyId::kWildcardSubscriptionAvailable:
      p->wildcard_subscription_available = v.b;
      break;
    case PropertyId::kSubscriptionIdentifierAvailable:
      p->subscription_identifier_available = v.b;
      break;
    case PropertyId::kSharedSubscriptionAvailable:
      p->shared_subscription_available = v.b;
      break;
  }
  return std::nullopt;
}

// Reads a v5 property block (length + list) allowed in context `ctx`.
MaybeFailure ReadProperties(Reader& r, uint32_t ctx, Properties* p) {
  uint32_t len;
  if (!r.Vbi(&len)) AIOT_MQTT_FAIL(kMalformedPacket, "bad property length");
  if (len > r.remaining()) AIOT_MQTT_FAIL(kMalformedPacket, "property length exceeds packet");
  std::string_view block;
  {
    // Sub-reader over exactly the property bytes.
    std::string_view rest = r.Rest();
    block = rest.substr(0, len);
    r = Reader(rest.substr(len));
  }
  Reader pr(block);
  uint64_t seen = 0;
  while (!pr.empty()) {
    PropertyId pid;
    AIOT_MQTT_TRY(ReadPropertyId(pr, ctx, &seen, &pid));
    PropertyValue v;
    AIOT_MQTT_TRY(ReadPropertyValue(pr, Info(static_cast<uint8_t>(pid)).type, &v));
    AIOT_MQTT_TRY(StoreProperty(pid, std::move(v), p));
  }
  return std::nullopt;
}

MaybeFailure ReadPacketId(Reader& r, uint16_t* id) {
  if (!r.U16(id)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated packet identifier");
  if (*id == 0) AIOT_MQTT_FAIL(kProtocolError, "packet identifier 0 [MQTT-2.2.1-3]");
  return std::nullopt;
}

bool ReasonIn(uint8_t rc, std::initializer_list<uint8_t> allowed) {
  for (uint8_t a : allowed) {
    if (a == rc) return true;
  }
  return false;
}

MaybeFailure DecodeConnect(Reader& r, Connect* c) {
  std::string name;
  AIOT_MQTT_TRY(ReadUtf8(r, &name));
  uint8_t level;
  if (!r.Byte(&level)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated CONNECT");
  if (name == "MQIsdp") AIOT_MQTT_FAIL(kUnsupportedProtocolVersion, "MQTT 3.1 is not supported");
  if (name != "MQTT") AIOT_MQTT_FAIL(kMalformedPacket, "protocol name is not MQTT [MQTT-3.1.2-1]");
  if (level != kMqtt311 && level != kMqtt5) {
    AIOT_MQTT_FAIL(kUnsupportedProtocolVersion, "unsupported protocol level [MQTT-3.1.2-2]");
  }
  c->protocol_version = level;
  const bool v5 = level == kMqtt5;
  uint8_t flags;
  if (!r.Byte(&flags) || !r.U16(&c->keep_alive))
    AIOT_MQTT_FAIL(kMalformedPacket, "truncated CONNECT");
  if (flags & 0x01) AIOT_MQTT_FAIL(kMalformedPacket, "CONNECT reserved flag set [MQTT-3.1.2-3]");
  c->clean_start = flags & 0x02;
  const bool will = flags & 0x04;
  const uint8_t will_qos = (flags >> 3) & 3;
  const bool will_retain = flags & 0x20;
  const bool has_password = flags & 0x40;
  const bool has_username = flags & 0x80;
  if (!will && (will_qos != 0 || will_retain)) {
    AIOT_MQTT_FAIL(kMalformedPacket, "will QoS/retain set without will flag [MQTT-3.1.2-11]");
  }
  if (will_qos == 3) AIOT_MQTT_FAIL(kMalformedPacket, "will QoS 3 [MQTT-3.1.2-12]");
  if (!v5 && has_password && !has_username) {
    AIOT_MQTT_FAIL(kMalformedPacket, "password without user name [MQTT-3.1.2-22]");
  }
  if (v5) AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kConnect), &c->properties));
  AIOT_MQTT_TRY(ReadUtf8(r, &c->client_id));
  if (will) {
    Will w;
    w.qos = static_cast<QoS>(will_qos);
    w.retain = will_retain;
    if (v5) AIOT_MQTT_TRY(ReadProperties(r, kWillCtx, &w.properties));
    AIOT_MQTT_TRY(ReadUtf8(r, &w.topic));
    std::string payload;
    AIOT_MQTT_TRY(ReadBinary(r, &payload));
    w.payload = SharedBytes(std::move(payload));
    c->will = std::move(w);
  }
  if (has_username) {
    c->username.emplace();
    AIOT_MQTT_TRY(ReadUtf8(r, &*c->username));
  }
  if (has_password) {
    c->password.emplace();
    AIOT_MQTT_TRY(ReadBinary(r, &*c->password));
  }
  if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after CONNECT payload");
  return std::nullopt;
}

MaybeFailure DecodeConnack(Reader& r, bool v5, Connack* c) {
  uint8_t ack, code;
  if (!r.Byte(&ack) || !r.Byte(&code)) AIOT_MQTT_FAIL(kMalformedPacket, "truncated CONNACK");
  if (ack & 0xFE) AIOT_MQTT_FAIL(kMalformedPacket, "CONNACK reserved flags set [MQTT-3.2.2-1]");
  c->session_present = ack & 1;
  if (v5) {
    if (!ReasonIn(code, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                         0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F})) {
      AIOT_MQTT_FAIL(kMalformedPacket, "invalid CONNACK reason code");
    }
    c->reason_code = static_cast<ReasonCode>(code);
    AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kConnack), &c->properties));
  } else {
    if (code > 5) AIOT_MQTT_FAIL(kMalformedPacket, "invalid CONNACK return code");
    c->reason_code = FromV311ConnackCode(code);
  }
  if (c->session_present && c->reason_code != ReasonCode::kSuccess) {
    AIOT_MQTT_FAIL(kProtocolError, "session present with a failure code [MQTT-3.2.2-6]");
  }
  if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after CONNACK");
  return std::nullopt;
}

MaybeFailure DecodePublish(Reader& r, uint8_t flags, bool v5, Publish* p) {
  p->dup = flags & 0x08;
  const uint8_t qos = (flags >> 1) & 3;
  p->retain = flags & 0x01;
  if (qos == 3) AIOT_MQTT_FAIL(kMalformedPacket, "PUBLISH QoS 3 [MQTT-3.3.1-4]");
  if (qos == 0 && p->dup)
    AIOT_MQTT_FAIL(kMalformedPacket, "DUP set on QoS 0 PUBLISH [MQTT-3.3.1-2]");
  p->qos = static_cast<QoS>(qos);
  AIOT_MQTT_TRY(ReadUtf8(r, &p->topic));
  if (p->topic.find_first_of("+#") != std::string::npos) {
    AIOT_MQTT_FAIL(kTopicNameInvalid, "wildcard in PUBLISH topic [MQTT-3.3.2-2]");
  }
  if (qos > 0) AIOT_MQTT_TRY(ReadPacketId(r, &p->packet_id));
  if (v5) AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kPublish), &p->properties));
  if (p->topic.empty()) {
    if (!v5) AIOT_MQTT_FAIL(kMalformedPacket, "empty PUBLISH topic [MQTT-4.7.3-1]");
    if (!p->properties.topic_alias) {
      AIOT_MQTT_FAIL(kProtocolError, "empty PUBLISH topic without Topic Alias");
    }
  }
  p->payload = SharedBytes(std::string(r.Rest()));
  return std::nullopt;
}

template <PacketType kType>
MaybeFailure DecodeAck(Reader& r, bool v5, PublishResponse<kType>* a) {
  AIOT_MQTT_TRY(ReadPacketId(r, &a->packet_id));
  if (!v5) {
    if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after packet identifier");
    return std::nullopt;
  }
  if (r.empty()) return std::nullopt;
  uint8_t code;
  (void)r.Byte(&code);
  const bool ok = (kType == PacketType::kPuback || kType == PacketType::kPubrec)
                      ? ReasonIn(code, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
                      : ReasonIn(code, {0x00, 0x92});
  if (!ok) AIOT_MQTT_FAIL(kMalformedPacket, "invalid reason code");
  a->reason_code = static_cast<ReasonCode>(code);
  if (r.empty()) return std::nullopt;
  AIOT_MQTT_TRY(ReadProperties(r, Bit(kType), &a->properties));
  if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after properties");
  return std::nullopt;
}

MaybeFailure DecodeSubscribe(Reader& r, bool v5, Subscribe* s) {
  AIOT_MQTT_TRY(ReadPacketId(r, &s->packet_id));
  if (v5) AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kSubscribe), &s->properties));
  while (!r.empty()) {
    Subscription sub;
    AIOT_MQTT_TRY(ReadUtf8(r, &sub.filter));
    if (sub.filter.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "empty topic filter [MQTT-4.7.3-1]");
    uint8_t o;
    if (!r.Byte(&o)) AIOT_MQTT_FAIL(kMalformedPacket, "missing subscription options");
    if ((o & 3) == 3) AIOT_MQTT_FAIL(kMalformedPacket, "subscription QoS 3 [MQTT-3.8.3-4]");
    sub.options.qos = static_cast<QoS>(o & 3);
    if (v5) {
      if (o & 0xC0)
        AIOT_MQTT_FAIL(kMalformedPacket, "subscription options reserved bits [MQTT-3.8.3-5]");
      sub.options.no_local = o & 0x04;
      sub.options.retain_as_published = o & 0x08;
      const uint8_t rh = (o >> 4) & 3;
      if (rh == 3) AIOT_MQTT_FAIL(kProtocolError, "Retain Handling 3");
      sub.options.retain_handling = static_cast<RetainHandling>(rh);
      if (sub.options.no_local && IsSharedSubscription(sub.filter)) {
        AIOT_MQTT_FAIL(kProtocolError, "No Local on a shared subscription [MQTT-3.8.3-4]");
      }
    } else if (o & 0xFC) {
      AIOT_MQTT_FAIL(kMalformedPacket, "subscription options reserved bits [MQTT-3-8.3-4]");
    }
    s->subscriptions.push_back(std::move(sub));
  }
  if (s->subscriptions.empty()) {
    AIOT_MQTT_FAIL(kProtocolError, "SUBSCRIBE without topic filters [MQTT-3.8.3-2]");
  }
  return std::nullopt;
}

MaybeFailure DecodeSuback(Reader& r, bool v5, Suback* s) {
  AIOT_MQTT_TRY(ReadPacketId(r, &s->packet_id));
  if (v5) AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kSuback), &s->properties));
  while (!r.empty()) {
    uint8_t code;
    (void)r.Byte(&code);
    const bool ok = v5 ? ReasonIn(code, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E,
                                         0xA1, 0xA2})
                       : ReasonIn(code, {0x00, 0x01, 0x02, 0x80});
    if (!ok) AIOT_MQTT_FAIL(kMalformedPacket, "invalid SUBACK reason code");
    s->reason_codes.push_back(static_cast<ReasonCode>(code));
  }
  if (s->reason_codes.empty()) AIOT_MQTT_FAIL(kProtocolError, "SUBACK without reason codes");
  return std::nullopt;
}

MaybeFailure DecodeUnsubscribe(Reader& r, bool v5, Unsubscribe* u) {
  AIOT_MQTT_TRY(ReadPacketId(r, &u->packet_id));
  if (v5) AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kUnsubscribe), &u->properties));
  while (!r.empty()) {
    std::string f;
    AIOT_MQTT_TRY(ReadUtf8(r, &f));
    if (f.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "empty topic filter [MQTT-4.7.3-1]");
    u->filters.push_back(std::move(f));
  }
  if (u->filters.empty()) {
    AIOT_MQTT_FAIL(kProtocolError, "UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]");
  }
  return std::nullopt;
}

MaybeFailure DecodeUnsuback(Reader& r, bool v5, Unsuback* u) {
  AIOT_MQTT_TRY(ReadPacketId(r, &u->packet_id));
  if (!v5) {
    if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after UNSUBACK");
    return std::nullopt;
  }
  AIOT_MQTT_TRY(ReadProperties(r, Bit(PacketType::kUnsuback), &u->properties));
  while (!r.empty()) {
    uint8_t code;
    (void)r.Byte(&code);
    if (!ReasonIn(code, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})) {
      AIOT_MQTT_FAIL(kMalformedPacket, "invalid UNSUBACK reason code");
    }
    u->reason_codes.push_back(static_cast<ReasonCode>(code));
  }
  if (u->reason_codes.empty()) AIOT_MQTT_FAIL(kProtocolError, "UNSUBACK without reason codes");
  return std::nullopt;
}

template <class P>
MaybeFailure DecodeReasonAndProps(Reader& r, bool v5, PacketType type, P* d) {
  if (!v5) {
    if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "DISCONNECT with a body in 3.1.1");
    return std::nullopt;
  }
  if (r.empty()) return std::nullopt;
  uint8_t code;
  (void)r.Byte(&code);
  const bool ok = type == PacketType::kAuth
                      ? ReasonIn(code, {0x00, 0x18, 0x19})
                      : ReasonIn(code, {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                        0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                        0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
  if (!ok) AIOT_MQTT_FAIL(kMalformedPacket, "invalid reason code");
  d->reason_code = static_cast<ReasonCode>(code);
  if (r.empty()) return std::nullopt;
  AIOT_MQTT_TRY(ReadProperties(r, Bit(type), &d->properties));
  if (!r.empty()) AIOT_MQTT_FAIL(kMalformedPacket, "trailing bytes after properties");
  return std::nullopt;
}

Status Fail(const Failure& f) { return Status(make_error_code(f.rc), f.detail); }

}  // namespace

Status DecodePacketInto(uint8_t first_byte, std::string_view body, uint8_t version, Packet* out) {
  const uint8_t type = first_byte >> 4;
  const uint8_t flags = first_byte & 0x0F;
  const bool v5 = version == kMqtt5;
  Reader r(body);
  if (type == 0) {
    return Fail({ReasonCode::kMalformedPacket, "reserved packet type"});
  }
  const auto pt = static_cast<PacketType>(type);
  const uint8_t expected_flags =
      (pt == PacketType::kPubrel || pt == PacketType::kSubscribe || pt == PacketType::kUnsubscribe)
          ? 0x02
          : 0x00;
  if (pt != PacketType::kPublish && flags != expected_flags) {
    return Fail({ReasonCode::kMalformedPacket, "invalid fixed header flags [MQTT-2.1.3-1]"});
  }
  MaybeFailure f;
  switch (pt) {
    case PacketType::kConnect:
      f = DecodeConnect(r, &out->emplace<Connect>());
      break;
    case PacketType::kConnack:
      f = DecodeConnack(r, v5, &out->emplace<Connack>());
      break;
    case PacketType::kPublish:
      f = DecodePublish(r, flags, v5, &out->emplace<Publish>());
      break;
    case PacketType::kPuback:
      f = DecodeAck(r, v5, &out->emplace<Puback>());
      break;
    case PacketType::kPubrec:
      f = DecodeAck(r, v5, &out->emplace<Pubrec>());
      break;
    case PacketType::kPubrel:
      f = DecodeAck(r, v5, &out->emplace<Pubrel>());
      break;
    case PacketType::kPubcomp:
      f = DecodeAck(r, v5, &out->emplace<Pubcomp>());
      break;
    case PacketType::kSubscribe:
      f = DecodeSubscribe(r, v5, &out->emplace<Subscribe>());
      break;
    case PacketType::kSuback:
      f = DecodeSuback(r, v5, &out->emplace<Suback>());
      break;
    case PacketType::kUnsubscribe:
      f = DecodeUnsubscribe(r, v5, &out->emplace<Unsubscribe>());
      break;
    case PacketType::kUnsuback:
      f = DecodeUnsuback(r, v5, &out->emplace<Unsuback>());
      break;
    case PacketType::kPingreq:
      out->emplace<Pingreq>();
      if (!r.empty()) f = Failure{ReasonCode::kMalformedPacket, "PINGREQ with a body"};
      break;
    case PacketType::kPingresp:
      out->emplace<Pingresp>();
      if (!r.empty()) f = Failure{ReasonCode::kMalformedPacket, "PINGRESP with a body"};
      break;
    case PacketType::kDisconnect:
      f = DecodeReasonAndProps(r, v5, pt, &out->emplace<Disconnect>());
      break;
    case PacketType::kAuth:
      if (!v5) {
        f = Failure{ReasonCode::kMalformedPacket, "AUTH in MQTT 3.1.1"};
        break;
      }
      f = DecodeReasonAndProps(r, v5, pt, &out->emplace<Auth>());
      break;
  }
  if (f) return Fail(*f);
  return {};
}

Result<Packet> DecodePacket(uint8_t first_byte, std::string_view body, uint8_t version) {
  Packet packet;
  if (Status s = DecodePacketInto(first_byte, body, version, &packet); !s.ok()) return s;
  return packet;
}

// ---- Streaming decoder -------------------------------------------------------------------------

Decoder::Decoder(DecoderOptions options) : options_(options) {}

std::span<char> Decoder::Prepare(size_t n) {
  if (start_ > 0 && (start_ == end_ || buffer_.size() - end_ < n)) {
    // Compact: move the unconsumed bytes to the front.
    std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buffer_.size() - end_ < n) buffer_.resize(end_ + n);
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void Decoder::Commit(size_t n) {
  AIOT_CHECK(end_ + n <= buffer_.size(), "Commit(%zu) beyond Prepare()d space", n);
  end_ += n;
}

void Decoder::Feed(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<char> space = Prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  Commit(bytes.size());
}

Status Decoder::Fail(ReasonCode rc, const char* detail) {
  error_ = Status(make_error_code(rc), detail);
  return error_;
}

Result<bool> Decoder::NextInto(Packet* out) {
  if (!error_.ok()) return error_;
  const size_t avail = end_ - start_;
  if (avail < 2) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(buffer_.data() + start_);
  uint32_t remaining = 0;
  size_t header = 0;
  for (size_t i = 0;; ++i) {
    if (i == 4) return Fail(ReasonCode::kMalformedPacket, "remaining length longer than 4 bytes");
    if (1 + i >= avail) return false;  // need more header bytes
    const uint8_t b = p[1 + i];
    remaining |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      if (i > 0 && b == 0) {
        return Fail(ReasonCode::kMalformedPacket,
                    "remaining length not minimally encoded [MQTT-1.5.5-1]");
      }
      header = 2 + i;
      break;
    }
  }
  const uint64_t total = header + static_cast<uint64_t>(remaining);
  if (total > options_.max_packet_size)
    return Fail(ReasonCode::kPacketTooLarge, "packet exceeds the maximum packet size");
  const uint8_t type = p[0] >> 4;
  if (options_.protocol_version == 0 && type != static_cast<uint8_t>(PacketType::kConnect))
    return Fail(ReasonCode::kProtocolError, "first packet is not CONNECT [MQTT-3.1.0-1]");
  if (avail < total) return false;
  const std::string_view body(buffer_.data() + start_ + header, remaining);
  const uint8_t version = options_.protocol_version ? options_.protocol_version : kMqtt5;
  if (Status s = DecodePacketInto(p[0], body, version, out); !s.ok()) {
    error_ = std::move(s);
    return error_;
  }
  start_ += total;
  if (start_ == end_) start_ = end_ = 0;
  if (options_.protocol_version == 0) {
    if (const auto* c = std::get_if<Connect>(out)) options_.protocol_version = c->protocol_version;
  }
  return true;
}

Result<std::optional<Packet>> Decoder::Next() {
  Packet packet;
  Result<bool> r = NextInto(&packet);
  if (!r.ok()) return r.status();
  if (!*r) return std::optional<Packet>();
  return std::optional<Packet>(std::move(packet));
}

}  // namespace aiot::mqtt
