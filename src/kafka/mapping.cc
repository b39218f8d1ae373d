#include "kafka/mapping.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/json.h"
#include "mqtt/protocol/reason_code.h"
#include "mqtt/protocol/topic.h"

namespace aiot::kafka {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

Status Bad(std::string_view spec, std::string what) {
  return Status(errc::invalid_argument, fmt::format("\"{}\": {}", spec, what));
}

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::optional<int> ParseLevel(std::string_view s) {  // "{N}" -> N
  if (s.size() < 3 || s.front() != '{' || s.back() != '}') return std::nullopt;
  int n = -1;
  auto [p, ec] = std::from_chars(s.data() + 1, s.data() + s.size() - 1, n);
  if (ec != std::errc() || p != s.data() + s.size() - 1 || n < 0 || n > 255) return std::nullopt;
  return n;
}

// The level the filter has at `n`: "+" or a literal is usable; "#" or none is not.
bool FilterHasLevel(std::string_view filter, int n) {
  const auto levels = Split(mqtt::MatchingFilter(filter), '/');
  for (int i = 0; i < static_cast<int>(levels.size()); ++i) {
    if (levels[i] == "#") return false;
    if (i == n) return true;
  }
  return false;
}

Result<TopicTemplate> ParseTemplate(std::string_view spec, std::string_view text,
                                    std::string_view filter) {
  TopicTemplate t;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i);
      const auto level = close == std::string_view::npos
                             ? std::nullopt
                             : ParseLevel(text.substr(i, close - i + 1));
      if (!level) return Bad(spec, fmt::format("bad placeholder in \"{}\" (use {{N}})", text));
      if (!FilterHasLevel(filter, *level)) {
        return Bad(spec, fmt::format("{{{}}}: the filter {} has no single level {}", *level, filter,
                                     *level));
      }
      t.parts.emplace_back(*level);
      i = close + 1;
      continue;
    }
    if (!IsTopicChar(text[i])) {
      return Bad(spec, fmt::format("'{}' cannot be in a Kafka topic name", text[i]));
    }
    if (t.parts.empty() || !std::holds_alternative<std::string>(t.parts.back())) {
      t.parts.emplace_back(std::string());
    }
    std::get<std::string>(t.parts.back()).push_back(text[i]);
    ++i;
  }
  if (t.parts.empty()) return Bad(spec, "empty Kafka topic");
  return t;
}

Result<KeySpec> ParseKey(std::string_view spec, std::string_view text, std::string_view filter) {
  KeySpec k;
  if (text == "none") {
    k.kind = KeySpec::Kind::kNone;
  } else if (auto level = ParseLevel(text)) {
    if (!FilterHasLevel(filter, *level)) {
      return Bad(spec,
                 fmt::format("key={}: the filter {} has no single level {}", text, filter, *level));
    }
    k.kind = KeySpec::Kind::kLevel;
    k.level = *level;
  } else if (text.starts_with("field:")) {
    k.fields.clear();
    for (auto f : Split(text.substr(6), ',')) {
      if (f.empty()) return Bad(spec, "key=field: needs field names");
      k.fields.emplace_back(f);
    }
  } else {
    return Bad(spec, fmt::format("key={}: use {{N}}, field:NAME[,NAME] or none", text));
  }
  return k;
}

std::string KeyText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  return {};
}

}  // namespace

bool IsValidKafkaTopic(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    if (!IsTopicChar(c)) return false;
  }
  return true;
}

std::optional<std::string> TopicTemplate::Render(
    const std::vector<std::string_view>& levels) const {
  std::string out;
  for (const auto& p : parts) {
    if (const auto* s = std::get_if<std::string>(&p)) {
      out += *s;
    } else {
      const int n = std::get<int>(p);
      if (n >= static_cast<int>(levels.size())) return std::nullopt;
      out += levels[n];
    }
  }
  return out;
}

Result<Mapping> ParseMapping(std::string_view spec) {
  const size_t arrow = spec.find("->");
  if (arrow == std::string_view::npos) {
    return Bad(spec, "expected \"<mqtt filter> -> <kafka topic> [key=...]\"");
  }
  Mapping m;
  m.spec = std::string(spec);
  m.filter = std::string(Trim(spec.substr(0, arrow)));
  if (m.filter.empty() || mqtt::ValidateTopicFilter(m.filter) != mqtt::ReasonCode::kSuccess) {
    return Bad(spec, fmt::format("\"{}\" is not a valid MQTT topic filter", m.filter));
  }
  std::string_view rest = Trim(spec.substr(arrow + 2));
  std::string_view topic = rest, key;
  if (const size_t sp = rest.find(' '); sp != std::string_view::npos) {
    topic = rest.substr(0, sp);
    key = Trim(rest.substr(sp + 1));
    if (!key.starts_with("key=")) return Bad(spec, fmt::format("unexpected \"{}\"", key));
    key.remove_prefix(4);
  }
  auto t = ParseTemplate(spec, topic, m.filter);
  if (!t.ok()) return t.status();
  m.topic = std::move(*t);
  if (!key.empty()) {
    auto k = ParseKey(spec, key, m.filter);
    if (!k.ok()) return k.status();
    m.key = std::move(*k);
  }
  return m;
}

Result<ReverseMapping> ParseReverseMapping(std::string_view spec) {
  const size_t arrow = spec.find("->");
  if (arrow == std::string_view::npos) {
    return Bad(spec, "expected \"<kafka topic> -> <mqtt topic template>\"");
  }
  ReverseMapping r;
  r.spec = std::string(spec);
  r.kafka_topic = std::string(Trim(spec.substr(0, arrow)));
  if (!IsValidKafkaTopic(r.kafka_topic)) {
    return Bad(spec, fmt::format("\"{}\" is not a valid Kafka topic name", r.kafka_topic));
  }
  const std::string_view tmpl = Trim(spec.substr(arrow + 2));
  const size_t at = tmpl.find("{key}");
  r.uses_key = at != std::string_view::npos;
  r.prefix = std::string(r.uses_key ? tmpl.substr(0, at) : tmpl);
  r.suffix = r.uses_key ? std::string(tmpl.substr(at + 5)) : std::string();
  const std::string sample = r.prefix + (r.uses_key ? "k" : "") + r.suffix;
  if (sample.empty() || mqtt::ValidateTopicName(sample) != mqtt::ReasonCode::kSuccess ||
      sample.find('{') != std::string::npos) {
    return Bad(spec, fmt::format("\"{}\" is not a valid MQTT topic template", tmpl));
  }
  return r;
}

Mapper::Mapper(std::vector<Mapping> mappings, std::string dead_letter_topic, std::string origin,
               uint32_t max_message_bytes)
    : mappings_(std::move(mappings)),
      dead_letter_topic_(std::move(dead_letter_topic)),
      origin_(std::move(origin)),
      max_message_bytes_(max_message_bytes) {}

std::vector<Header> Mapper::Headers(const MqttIn& in) const {
  std::vector<Header> h;
  h.reserve(5 + (in.user_properties ? in.user_properties->size() : 0));
  h.push_back({std::string(kHeaderMqttTopic), std::string(in.topic)});
  h.push_back({std::string(kHeaderMqttQos), std::to_string(in.qos)});
  h.push_back({std::string(kHeaderMqttRetain), in.retain ? "1" : "0"});
  h.push_back({std::string(kHeaderMqttTimestamp), std::to_string(in.time_ms)});
  if (in.user_properties) {
    for (const auto& [name, value] : *in.user_properties) {
      h.push_back({std::string(kHeaderUserPrefix) + name, value});
    }
  }
  h.push_back({std::string(kOriginHeader), origin_});
  return h;
}

Routed Mapper::DeadLetter(const MqttIn& in, int mapping, std::string_view reason,
                          std::string detail) const {
  Routed r;
  r.mapping = mapping;
  r.dead_letter_reason = reason;
  r.record.topic = dead_letter_topic_;
  if (reason != kReasonOversized) r.record.value = std::string(in.payload);
  r.record.timestamp_ms = in.time_ms;
  r.record.headers = Headers(in);
  r.record.headers.push_back({std::string(kHeaderError), std::string(reason)});
  r.record.headers.push_back({std::string(kHeaderErrorDetail), std::move(detail)});
  return r;
}

int Mapper::Match(std::string_view topic) const {
  for (size_t i = 0; i < mappings_.size(); ++i) {
    if (mqtt::TopicMatches(mqtt::MatchingFilter(mappings_[i].filter), topic)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

Routed Mapper::Route(const MqttIn& in) const {
  const int index = Match(in.topic);
  if (index < 0) return DeadLetter(in, -1, kReasonUnknownTopic, "no mapping matches the topic");
  const Mapping& m = mappings_[index];
  if (in.payload.size() > max_message_bytes_) {
    return DeadLetter(
        in, index, kReasonOversized,
        fmt::format("{} bytes, above max_message_bytes {}", in.payload.size(), max_message_bytes_));
  }
  const auto levels = Split(in.topic, '/');
  auto topic = m.topic.Render(levels);
  if (!topic || !IsValidKafkaTopic(*topic)) {
    return DeadLetter(in, index, kReasonBadTopic,
                      fmt::format("the topic template gives \"{}\"", topic.value_or("")));
  }
  Routed r;
  r.mapping = index;
  switch (m.key.kind) {
    case KeySpec::Kind::kNone:
      break;
    case KeySpec::Kind::kLevel:
      if (m.key.level < static_cast<int>(levels.size()))
        r.record.key = std::string(levels[m.key.level]);
      break;
    case KeySpec::Kind::kField: {
      const auto doc = nlohmann::json::parse(in.payload, nullptr, /*allow_exceptions=*/false);
      if (!doc.is_object()) return DeadLetter(in, index, kReasonMalformed, "not a JSON object");
      for (const auto& f : m.key.fields) {
        if (const nlohmann::json* v = json::Find(doc, f)) {
          std::string k = KeyText(*v);
          if (!k.empty()) {
            r.record.key = std::move(k);
            break;
          }
        }
      }
      if (!r.record.key) {
        return DeadLetter(
            in, index, kReasonNoKey,
            fmt::format("no string or integer field {}", fmt::join(m.key.fields, ", ")));
      }
      break;
    }
  }
  r.record.topic = std::move(*topic);
  r.record.value = std::string(in.payload);
  r.record.timestamp_ms = in.time_ms;
  r.record.headers = Headers(in);
  return r;
}

}  // namespace aiot::kafka
