#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/protocol/properties.h"
#include "mqtt/protocol/reason_code.h"

namespace aiot::mqtt {

// Protocol levels on the wire (CONNECT "Protocol Version" byte).
inline constexpr uint8_t kMqtt311 = 4;
inline constexpr uint8_t kMqtt5 = 5;

enum class QoS : uint8_t { kAtMostOnce = 0, kAtLeastOnce = 1, kExactlyOnce = 2 };

// Control packet types (fixed header, bits 7-4).
enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};
const char* PacketTypeName(PacketType t);

// Immutable bytes shared between packets: the broker fans one PUBLISH payload out to many
// subscribers without copying it. Cheap to copy (one shared_ptr). Thread-safe to share.
class SharedBytes {
 public:
  SharedBytes() = default;
  SharedBytes(std::string bytes)  // NOLINT: implicit, so `publish.payload = "..."` reads well.
      : p_(std::make_shared<const std::string>(std::move(bytes))) {}
  SharedBytes(std::string_view bytes) : SharedBytes(std::string(bytes)) {}  // NOLINT
  SharedBytes(const char* bytes) : SharedBytes(std::string(bytes)) {}       // NOLINT
  SharedBytes(std::shared_ptr<const std::string> p) : p_(std::move(p)) {}   // NOLINT

  std::string_view view() const { return p_ ? std::string_view(*p_) : std::string_view(); }
  const char* data() const { return view().data(); }
  size_t size() const { return p_ ? p_->size() : 0; }
  bool empty() const { return size() == 0; }
  const std::shared_ptr<const std::string>& shared() const { return p_; }
  bool operator==(const SharedBytes& o) const { return view() == o.view(); }

 private:
  std::shared_ptr<const std::string> p_;
};

struct Will {
  std::string topic;
  SharedBytes payload;
  QoS qos = QoS::kAtMostOnce;
  bool retain = false;
  Properties properties;  // v5 will properties (Will Delay Interval, Message Expiry, ...)
  bool operator==(const Will&) const = default;
};

struct Connect {
  uint8_t protocol_version = kMqtt5;  // kMqtt311 or kMqtt5
  std::string client_id;
  bool clean_start = true;   // "Clean Session" in 3.1.1
  uint16_t keep_alive = 60;  // seconds, 0 = off
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // v5 reason code; for 3.1.1 mapped to/from the return code (ToV311ConnackCode).
  ReasonCode reason_code = ReasonCode::kSuccess;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;  // may be empty in v5 when properties.topic_alias is set
  SharedBytes payload;
  QoS qos = QoS::kAtMostOnce;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // non-zero iff qos > 0
  Properties properties;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape.
template <PacketType kType>
struct PublishResponse {
  static constexpr PacketType kPacketType = kType;
  uint16_t packet_id = 0;
  ReasonCode reason_code = ReasonCode::kSuccess;  // v5 only on the wire
  Properties properties;
  bool operator==(const PublishResponse&) const = default;
};
using Puback = PublishResponse<PacketType::kPuback>;
using Pubrec = PublishResponse<PacketType::kPubrec>;
using Pubrel = PublishResponse<PacketType::kPubrel>;
using Pubcomp = PublishResponse<PacketType::kPubcomp>;

enum class RetainHandling : uint8_t {
  kSendAtSubscribe = 0,
  kSendAtSubscribeIfNew = 1,
  kDoNotSend = 2,
};

struct SubscribeOptions {
  QoS qos = QoS::kAtMostOnce;                                         // maximum QoS
  bool no_local = false;                                              // v5
  bool retain_as_published = false;                                   // v5
  RetainHandling retain_handling = RetainHandling::kSendAtSubscribe;  // v5
  bool operator==(const SubscribeOptions&) const = default;
};

struct Subscription {
  std::string filter;  // may be "$share/<group>/<filter>"
  SubscribeOptions options;
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  Properties properties;  // Subscription Identifier (at most one), User Properties
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  uint16_t packet_id = 0;
  // One per subscription: kGrantedQos0/1/2 or a failure (>= 0x80; 3.1.1 has only 0x80).
  std::vector<ReasonCode> reason_codes;
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packet_id = 0;
  std::vector<ReasonCode> reason_codes;  // v5 only (3.1.1 UNSUBACK has no payload)
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason_code = ReasonCode::kSuccess;  // v5 only on the wire
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {  // v5 only
  ReasonCode reason_code = ReasonCode::kSuccess;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

// One decoded control packet. The variant index + 1 is the packet type.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

inline PacketType TypeOf(const Packet& p) { return static_cast<PacketType>(p.index() + 1); }

}  // namespace aiot::mqtt
