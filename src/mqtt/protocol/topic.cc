#include "mqtt/protocol/topic.h"

#include "mqtt/protocol/utf8.h"

namespace aiot::mqtt {

bool TopicMatches(std::string_view filter, std::string_view topic) {
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with '$'.
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#')) {
    return false;
  }
  size_t f = 0, t = 0;
  const size_t fn = filter.size(), tn = topic.size();
  for (;;) {
    // At the start of a level in both.
    if (f < fn && filter[f] == '#') return true;  // matches this level and everything below
    size_t fe = filter.find('/', f);
    if (fe == std::string_view::npos) fe = fn;
    size_t te = topic.find('/', t);
    if (te == std::string_view::npos) te = tn;
    const std::string_view flevel = filter.substr(f, fe - f);
    if (t > tn) {
      return false;
    }
    const std::string_view tlevel = topic.substr(t, te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    const bool f_last = fe == fn, t_last = te == tn;
    if (f_last && t_last) return true;
    if (t_last) {
      // Topic ended; the filter matches only if what remains is "/#" ("a/#" matches "a").
      return filter.substr(fe) == "/#";
    }
    if (f_last) return false;
    f = fe + 1;
    t = te + 1;
  }
}

ReasonCode ValidateTopicName(std::string_view topic) {
  if (topic.empty() || topic.size() > 65535) return ReasonCode::kTopicNameInvalid;
  // One pass (find_first_of("+#") called memchr once per character of the topic).
  for (const char c : topic) {
    if (c == '+' || c == '#') return ReasonCode::kTopicNameInvalid;
  }
  if (!IsValidMqttUtf8(topic)) return ReasonCode::kTopicNameInvalid;
  return ReasonCode::kSuccess;
}

namespace {

bool ValidFilterLevels(std::string_view filter) {
  if (filter.empty()) return false;
  size_t start = 0;
  for (;;) {
    size_t end = filter.find('/', start);
    const bool last = end == std::string_view::npos;
    if (last) end = filter.size();
    const std::string_view level = filter.substr(start, end - start);
    if (level.find('#') != std::string_view::npos && (level != "#" || !last)) return false;
    if (level.find('+') != std::string_view::npos && level != "+") return false;
    if (last) return true;
    start = end + 1;
  }
}

}  // namespace

std::optional<SharedSubscription> ParseSharedSubscription(std::string_view filter) {
  if (!IsSharedSubscription(filter)) return std::nullopt;
  const std::string_view rest = filter.substr(7);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view name = rest.substr(0, slash);
  if (name.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  return SharedSubscription{name, rest.substr(slash + 1)};
}

std::string_view MatchingFilter(std::string_view filter) {
  if (auto shared = ParseSharedSubscription(filter)) return shared->filter;
  return filter;
}

ReasonCode ValidateTopicFilter(std::string_view filter) {
  if (filter.empty() || filter.size() > 65535 || !IsValidMqttUtf8(filter)) {
    return ReasonCode::kTopicFilterInvalid;
  }
  if (IsSharedSubscription(filter)) {
    auto shared = ParseSharedSubscription(filter);
    if (!shared || shared->filter.empty()) return ReasonCode::kTopicFilterInvalid;
    return ValidFilterLevels(shared->filter) ? ReasonCode::kSuccess
                                             : ReasonCode::kTopicFilterInvalid;
  }
  return ValidFilterLevels(filter) ? ReasonCode::kSuccess : ReasonCode::kTopicFilterInvalid;
}

}  // namespace aiot::mqtt
