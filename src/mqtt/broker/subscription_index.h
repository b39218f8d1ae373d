#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aiot::mqtt::broker {

// A session as the broker's routing layer sees it: a stable key, and the core (io_context index)
// that owns the session's state. Keys are never reused within one broker's lifetime.
using SessionKey = uint64_t;

// Options a client asked for in SUBSCRIBE (v5 "Subscription Options"; v3.1.1 uses qos only).
struct SubscriptionOptions {
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;   // 0 send, 1 send if new, 2 don't send
  uint32_t subscription_id = 0;  // 0: none
};

// One subscriber found by Match.
struct Subscriber {
  SessionKey session = 0;
  uint32_t core = 0;
  SubscriptionOptions options;
  bool shared = false;  // selected from a `$share/group/filter` group
};

// Splits `$share/group/filter` into (group, filter). Returns false if `filter` is not shared.
bool ParseSharedFilter(std::string_view filter, std::string_view* group, std::string_view* inner);

// The subscription trie, matched on every PUBLISH from every core.
//
// Thread-safety: all methods may be called from any thread. Matching takes a shared lock (many
// cores match at once); Add/Remove take the exclusive lock. Subscriptions change rarely compared
// with publishes, so the lock is read-mostly. Shared-subscription round-robin counters are atomics
// so Match never needs the exclusive lock.
class SubscriptionIndex {
 public:
  SubscriptionIndex();
  ~SubscriptionIndex();
  SubscriptionIndex(const SubscriptionIndex&) = delete;
  SubscriptionIndex& operator=(const SubscriptionIndex&) = delete;

  // Adds or replaces the subscription of `session` to `filter` (which may be `$share/g/f`).
  // Returns true if the subscription already existed (replaced).
  // REQUIRES: `filter` is a valid topic filter.
  bool Add(SessionKey session, uint32_t core, std::string_view filter,
           const SubscriptionOptions& options);
  // Removes it; returns false if there was no such subscription.
  bool Remove(SessionKey session, std::string_view filter);
  // Moves every subscription of `session` to another core (session taken over on another core).
  void Rehome(SessionKey session, const std::vector<std::string>& filters, uint32_t core);

  // Appends every subscriber whose filter matches `topic` to `out`: all non-shared subscriptions
  // (possibly several per session: overlapping filters), and one member per shared group.
  // `topic` must be a valid topic name (no wildcards).
  void Match(std::string_view topic, std::vector<Subscriber>* out) const;

  size_t size() const { return count_.load(std::memory_order_relaxed); }

 private:
  struct Node;
  struct SharedGroup;
  static void MatchNode(const Node* node, const std::vector<std::string_view>& levels, size_t depth,
                        std::vector<Subscriber>* out);

  mutable std::shared_mutex mu_;
  std::unique_ptr<Node> root_;  // guarded by mu_
  std::atomic<size_t> count_{0};
};

// Splits a topic or filter into its levels (no allocation of the strings; views into `topic`).
void SplitLevels(std::string_view topic, std::vector<std::string_view>* levels);

// True if `filter` matches `topic` (MQTT 4.7, including the `$` rule [MQTT-4.7.2-1]).
bool FilterMatches(std::string_view filter, std::string_view topic);

}  // namespace aiot::mqtt::broker
