#pragma once

#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "mqtt/broker/message.h"

namespace aiot::mqtt::broker {

// Retained messages by topic, as a trie so that delivering retained messages on SUBSCRIBE walks
// only the matching branches (not every retained topic).
//
// Thread-safety: all methods may be called from any thread; one mutex guards the trie. Retained
// publishes and subscribes are rare next to ordinary publishes, which never touch this store.
class RetainedStore {
 public:
  RetainedStore();
  ~RetainedStore();

  // Stores `msg` for its topic, or clears the topic when the payload is empty [MQTT-3.3.1-6,7].
  void Put(MessagePtr msg);
  // Appends the retained messages whose topic matches `filter` (not expired at `now_ns`) to `out`.
  void Match(std::string_view filter, int64_t now_ns, std::vector<MessagePtr>* out) const;
  // Drops expired messages; returns how many.
  size_t Expire(int64_t now_ns);

  size_t size() const;
  size_t bytes() const;

 private:
  struct Node;
  mutable std::mutex mu_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
  size_t bytes_ = 0;
};

}  // namespace aiot::mqtt::broker
