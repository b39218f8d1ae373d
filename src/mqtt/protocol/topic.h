#pragma once

#include <optional>
#include <string_view>

#include "mqtt/protocol/reason_code.h"

namespace aiot::mqtt {

// Whether `topic` (a valid topic name) matches `filter` (a valid topic filter, without any
// "$share/<group>/" prefix). '+' matches one level, '#' the rest including the parent level
// ("a/#" matches "a"). Topics starting with '$' are not matched by a filter starting with a
// wildcard [MQTT-4.7.2-1].
bool TopicMatches(std::string_view filter, std::string_view topic);

// kSuccess, or kTopicNameInvalid: empty, longer than 65535 bytes, contains '+' or '#'
// [MQTT-3.3.2-2], or is not valid MQTT UTF-8.
ReasonCode ValidateTopicName(std::string_view topic);

// kSuccess, or kTopicFilterInvalid: empty [MQTT-4.7.3-1], longer than 65535 bytes, '#' not alone
// in the last level [MQTT-4.7.1-1], '+' not alone in its level [MQTT-4.7.1-2], not valid UTF-8,
// or a malformed "$share/<ShareName>/<filter>" [MQTT-4.8.2-1] [MQTT-4.8.2-2].
ReasonCode ValidateTopicFilter(std::string_view filter);

struct SharedSubscription {
  std::string_view share_name;
  std::string_view filter;
};

// For "$share/<ShareName>/<filter>": the share name and the filter (views into the argument).
// nullopt when `filter` does not start with "$share/" or the share name is empty or contains
// '/', '+' or '#'.
std::optional<SharedSubscription> ParseSharedSubscription(std::string_view filter);

inline bool IsSharedSubscription(std::string_view filter) {
  return filter.substr(0, 7) == "$share/";
}

// The filter a subscription matches topics with: the part after "$share/<group>/" for a shared
// subscription, else the filter itself.
std::string_view MatchingFilter(std::string_view filter);

}  // namespace aiot::mqtt
