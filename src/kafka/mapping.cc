#include "kafka/mapping.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "base/errc.h"
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

// Level `n` (0-based) of an MQTT topic, nullopt when it has fewer levels.
std::optional<std::string_view> TopicLevel(std::string_view topic, int n) {
  size_t start = 0;
  for (int i = 0; i < n; ++i) {
    const size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
  }
  const size_t end = topic.find('/', start);
  return topic.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// The key fields of a JSON payload without building the document (nlohmann's SAX interface: the
// lexer's strings are reused, so nothing is allocated per member): for each wanted name, the text
// of the last top-level member of that name if it is a string or an integer (its decimal text),
// "" if it is anything else, as json::Find on the parsed document gives it.
class KeyFieldScanner {
 public:
  explicit KeyFieldScanner(const std::vector<std::string>& fields)
      : fields_(fields), found_(fields.size()) {}
  // False when the payload is not valid JSON or not an object.
  bool Scan(std::string_view payload) {
    return nlohmann::json::sax_parse(payload, this) && is_object_;
  }
  // The first wanted field present with a usable (non-empty) text.
  std::optional<std::string> Key() {
    for (auto& f : found_) {
      if (f && !f->empty()) return std::move(*f);
    }
    return std::nullopt;
  }

  bool null() { return Value({}); }
  bool boolean(bool) { return Value({}); }
  bool number_integer(int64_t v) { return Value(fmt::format_int(v).str()); }
  bool number_unsigned(uint64_t v) { return Value(fmt::format_int(v).str()); }
  bool number_float(double, const std::string&) { return Value({}); }
  bool string(std::string& v) { return Value(v); }
  bool binary(nlohmann::json::binary_t&) { return Value({}); }
  bool start_object(size_t) {
    if (depth_ == 0) is_object_ = true;
    Value({});
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(size_t) {
    Value({});
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(std::string& k) {
    if (depth_ == 1) {
      wanted_ = -1;
      for (size_t i = 0; i < fields_.size(); ++i) {
        if (fields_[i] == k) {
          wanted_ = static_cast<int>(i);
          break;
        }
      }
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::json::exception&) { return false; }

 private:
  // A member's value at the top level (a nested object or array counts as "not a key").
  bool Value(std::string_view text) {
    if (depth_ == 1 && wanted_ >= 0) found_[wanted_] = std::string(text);
    if (depth_ == 1) wanted_ = -1;
    return true;
  }

  const std::vector<std::string>& fields_;
  std::vector<std::optional<std::string>> found_;
  int depth_ = 0;
  int wanted_ = -1;
  bool is_object_ = false;
};

}  // namespace

bool IsValidKafkaTopic(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    if (!IsTopicChar(c)) return false;
  }
  return true;
}

std::optional<std::string> TopicTemplate::Render(std::string_view mqtt_topic) const {
  std::string out;
  for (const auto& p : parts) {
    if (const auto* s = std::get_if<std::string>(&p)) {
      out += *s;
    } else {
      const auto level = TopicLevel(mqtt_topic, std::get<int>(p));
      if (!level) return std::nullopt;
      out += *level;
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

struct Mapper::Resolved {
  int mapping = -1;
  std::string_view dead_letter_reason;  // empty: routed to `topic` with `key`
  std::string detail;
  std::string topic;
  std::optional<std::string_view> key;  // a view of the MQTT topic, or of key_text
  std::string key_text;
};

void Mapper::Resolve(const MqttIn& in, Resolved* r, int matched) const {
  r->mapping = matched >= 0 ? matched : Match(in.topic);
  if (r->mapping < 0) {
    r->dead_letter_reason = kReasonUnknownTopic;
    r->detail = "no mapping matches the topic";
    return;
  }
  const Mapping& m = mappings_[r->mapping];
  if (in.payload.size() > max_message_bytes_) {
    r->dead_letter_reason = kReasonOversized;
    r->detail =
        fmt::format("{} bytes, above max_message_bytes {}", in.payload.size(), max_message_bytes_);
    return;
  }
  auto topic = m.topic.Render(in.topic);
  if (!topic || !IsValidKafkaTopic(*topic)) {
    r->dead_letter_reason = kReasonBadTopic;
    r->detail = fmt::format("the topic template gives \"{}\"", topic.value_or(""));
    return;
  }
  r->topic = std::move(*topic);
  switch (m.key.kind) {
    case KeySpec::Kind::kNone:
      break;
    case KeySpec::Kind::kLevel:
      r->key = TopicLevel(in.topic, m.key.level);
      break;
    case KeySpec::Kind::kField: {
      KeyFieldScanner scan(m.key.fields);
      if (!scan.Scan(in.payload)) {
        r->dead_letter_reason = kReasonMalformed;
        r->detail = "not a JSON object";
        return;
      }
      auto key = scan.Key();
      if (!key) {
        r->dead_letter_reason = kReasonNoKey;
        r->detail = fmt::format("no string or integer field {}", fmt::join(m.key.fields, ", "));
        return;
      }
      r->key_text = std::move(*key);
      r->key = r->key_text;
      break;
    }
  }
}

Routed Mapper::Route(const MqttIn& in) const {
  Resolved d;
  Resolve(in, &d);
  if (!d.dead_letter_reason.empty()) {
    return DeadLetter(in, d.mapping, d.dead_letter_reason, std::move(d.detail));
  }
  Routed r;
  r.mapping = d.mapping;
  if (d.key) r.record.key = std::string(*d.key);
  r.record.topic = std::move(d.topic);
  r.record.value = std::string(in.payload);
  r.record.timestamp_ms = in.time_ms;
  r.record.headers = Headers(in);
  return r;
}

RouteInfo Mapper::RouteEncoded(const MqttIn& in, std::string* out, int matched) const {
  out->clear();
  Resolved d;
  Resolve(in, &d, matched);
  if (!d.dead_letter_reason.empty()) {
    Routed r = DeadLetter(in, d.mapping, d.dead_letter_reason, std::move(d.detail));
    *out = EncodeRecord(r.record);
    return {r.mapping, r.dead_letter_reason};
  }
  // Headers() as views: the fixed ones on the stack, user properties' names built only if any.
  static constexpr std::string_view kDigits[] = {"0", "1", "2"};
  char time_text[24];
  const auto time_end = fmt::format_to_n(time_text, sizeof time_text, "{}", in.time_ms).out;
  std::string qos_text;
  std::string_view qos = in.qos >= 0 && in.qos <= 2 ? kDigits[in.qos] : std::string_view();
  if (qos.empty()) {
    qos_text = std::to_string(in.qos);
    qos = qos_text;
  }
  const size_t n_user = in.user_properties ? in.user_properties->size() : 0;
  std::vector<std::string> user_names;
  HeaderView fixed[8];
  std::vector<HeaderView> more;
  std::span<HeaderView> headers(fixed, 5 + n_user);
  if (5 + n_user > std::size(fixed)) {
    more.resize(5 + n_user);
    headers = more;
  }
  size_t i = 0;
  headers[i++] = {kHeaderMqttTopic, in.topic};
  headers[i++] = {kHeaderMqttQos, qos};
  headers[i++] = {kHeaderMqttRetain, kDigits[in.retain ? 1 : 0]};
  headers[i++] = {kHeaderMqttTimestamp,
                  std::string_view(time_text, static_cast<size_t>(time_end - time_text))};
  if (n_user > 0) {
    user_names.reserve(n_user);
    for (const auto& [name, value] : *in.user_properties) {
      user_names.push_back(std::string(kHeaderUserPrefix) + name);
      headers[i++] = {user_names.back(), value};
    }
  }
  headers[i++] = {kOriginHeader, origin_};
  EncodeRecordTo(d.topic, d.key, in.payload, in.time_ms, headers, out);
  return {d.mapping, {}};
}

}  // namespace aiot::kafka
