#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mqtt/protocol/packet.h"

namespace aiot::mqtt::broker {

// An application message as the broker routes it: immutable once published, shared by every
// session it is delivered to (one allocation per PUBLISH whatever the fan-out; the payload is the
// PUBLISH's own SharedBytes, never copied). Plain data, so a later persistence layer can
// serialize it.
struct Message {
  std::string topic;
  SharedBytes payload;
  uint8_t qos = 0;      // QoS the publisher used
  bool retain = false;  // RETAIN flag the publisher set
  // v5 properties forwarded unaltered to subscribers [MQTT-3.3.2-4] .. [MQTT-3.3.2-20]: payload
  // format, message expiry (as received), content type, response topic, correlation data, user
  // properties. Nothing else is set here.
  Properties properties;
  int64_t received_at_ns = 0;  // monotonic time the broker accepted the message
  uint64_t publisher = 0;      // SessionKey of the publisher (No Local), 0 for the broker itself
  // The publishing connection (core and Shard connection id; 0 = none): whom a congested
  // subscriber holds back. Not session state: meaningless after a restart.
  uint32_t publisher_core = 0;
  uint64_t publisher_conn = 0;
  // Identity in the persistence log (persistence.h); 0 when persistence is off or for QoS 0.
  uint64_t persist_id = 0;

  // Absolute monotonic deadline, or INT64_MAX when the message never expires.
  int64_t ExpiresAtNs() const {
    if (!properties.message_expiry_interval) return INT64_MAX;
    return received_at_ns +
           static_cast<int64_t>(*properties.message_expiry_interval) * 1'000'000'000;
  }
  bool Expired(int64_t now_ns) const { return now_ns >= ExpiresAtNs(); }
  // Remaining expiry interval to send to a subscriber [MQTT-3.3.2-6].
  std::optional<uint32_t> RemainingExpiry(int64_t now_ns) const {
    if (!properties.message_expiry_interval) return std::nullopt;
    int64_t left = (ExpiresAtNs() - now_ns + 999'999'999) / 1'000'000'000;
    return static_cast<uint32_t>(left < 0 ? 0 : left);
  }
  // Approximate bytes held, for queue limits and metrics.
  size_t Bytes() const { return sizeof(Message) + topic.size() + payload.size(); }
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace aiot::mqtt::broker
