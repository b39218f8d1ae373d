#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mqtt/broker/message.h"
#include "mqtt/broker/subscription_index.h"

namespace aiot::mqtt::broker {

// A message waiting for (or in) delivery to one session: the shared message plus what this
// subscriber gets (granted QoS, RETAIN flag after Retain As Published, subscription identifiers).
struct Delivery {
  MessagePtr msg;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
};

// The FIFO of deliveries waiting for a session. Unlike std::deque (which allocates ~600 bytes
// even when empty) it holds no memory while empty: most sessions' queues are empty most of the
// time, and an idle connection should cost little.
class DeliveryQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  Delivery& front() { return items_[head_]; }
  void push_back(Delivery&& d) { items_.push_back(std::move(d)); }
  void pop_front() {
    items_[head_] = Delivery{};  // the message is released now, not at the next compaction
    if (++head_ == items_.size()) {
      std::vector<Delivery>().swap(items_);
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {  // amortized O(1)
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }

 private:
  std::vector<Delivery> items_;
  size_t head_ = 0;
};

// An outgoing QoS 1/2 message the client has not finished acknowledging.
struct InflightOut {
  enum class Stage : uint8_t {
    kAwaitPuback,   // QoS 1: PUBLISH sent
    kAwaitPubrec,   // QoS 2: PUBLISH sent
    kAwaitPubcomp,  // QoS 2: PUBREC received, PUBREL sent
  };
  Delivery delivery;
  uint64_t msg_id = 0;  // the message's persistence id (the delivery's msg is gone after PUBREC)
  Stage stage = Stage::kAwaitPuback;
};

// The will of a connection: a message the broker publishes when the connection ends abnormally,
// after `delay_s` seconds (v5 Will Delay Interval) unless the session resumes first.
struct WillState {
  MessagePtr msg;
  uint32_t delay_s = 0;
};

// The parts of a session state that an idle session without subscriptions does not need.
struct SessionContents {
  std::map<std::string, SubscriptionOptions> subscriptions;  // filter (incl. $share/...) -> options
  DeliveryQueue queue;                                       // not yet sent (window full / offline)
  size_t queued_bytes = 0;
  std::map<uint16_t, InflightOut> inflight_out;  // packet id -> state
  std::set<uint16_t> inflight_in;         // QoS 2 PUBLISH received, PUBREC sent, awaiting PUBREL
  std::optional<WillState> pending_will;  // delayed will of the last connection
  int64_t will_due_ns = 0;                // monotonic time to publish pending_will
};

// Everything the MQTT standard calls "Session State" on the server (section 4.1), as plain data
// (persistence.h logs its changes and restores it at start). Owned by exactly one core at a time.
struct SessionState {
  std::string client_id;
  int64_t expires_at_ns = 0;       // monotonic time the offline session ends; 0 = online
  uint32_t expiry_interval_s = 0;  // 0xFFFFFFFF: never expires
  uint16_t next_packet_id = 1;
  uint8_t protocol_version = 5;
  // Subscriptions, messages and the delayed will: allocated on first use and kept until the
  // session ends (so traffic allocates nothing more), absent while none was ever needed, which
  // keeps an idle connection small.
  std::unique_ptr<SessionContents> contents;

  SessionContents& Contents() {
    if (!contents) contents = std::make_unique<SessionContents>();
    return *contents;
  }
  // For reading only: the contents, or an empty one if none were allocated.
  const SessionContents& View() const {
    static const SessionContents kEmpty;
    return contents ? *contents : kEmpty;
  }
};

}  // namespace aiot::mqtt::broker
