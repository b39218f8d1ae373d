#include "telemetry/message.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace aiot::telemetry {

namespace ondemand = simdjson::ondemand;

namespace {

constexpr size_t kMaxTimeText = 64;

// NaN and Infinity are not JSON, but Python's json.dumps writes them: name them clearly.
bool IsNonFiniteToken(std::string_view tok) {
  if (!tok.empty() && (tok.front() == '-' || tok.front() == '+')) tok.remove_prefix(1);
  return tok.starts_with("NaN") || tok.starts_with("nan") || tok.starts_with("Infinity") ||
         tok.starts_with("inf") || tok.starts_with("Inf");
}

const char* TypeDescription(ondemand::json_type t) {
  switch (t) {
    case ondemand::json_type::string:
      return "is a string, expected a number";
    case ondemand::json_type::boolean:
      return "is a boolean, expected a number";
    case ondemand::json_type::null:
      return "is null, expected a number";
    case ondemand::json_type::array:
      return "is an array, expected a number";
    case ondemand::json_type::object:
      return "is an object, expected a number";
    case ondemand::json_type::number:
      return "is a malformed number";
  }
  return "is not a number";
}

}  // namespace

std::string Defect::Reason() const {
  using K = Kind;
  switch (kind) {
    case K::kNone:
      return "ok";
    case K::kOversized:
      return fmt::format("payload of {} bytes exceeds max_payload_bytes ({})",
                         static_cast<uint64_t>(value), static_cast<uint64_t>(max));
    case K::kNotJson:
      return fmt::format("not valid JSON ({})", detail);
    case K::kNotObject:
      return "not a JSON object";
    case K::kMissingField:
      return fmt::format("missing field `{}`", field);
    case K::kDuplicateField:
      return fmt::format("duplicate field `{}`", field);
    case K::kMistyped:
    case K::kBadDeviceId:
    case K::kBadTime:
      return fmt::format("field `{}` {}", field, detail);
    case K::kNotFinite:
      return fmt::format("field `{}` is not a finite number", field);
    case K::kOutOfRange:
      return fmt::format("field `{}` = {} is outside the plausible range [{}, {}]", field, value,
                         min, max);
    case K::kTooDeep:
      return fmt::format("field `{}` nests objects deeper than {} levels", field, kMaxDepth);
  }
  return "unknown";
}

std::string_view Defect::Label() const {
  using K = Kind;
  switch (kind) {
    case K::kNone:
      return "none";
    case K::kOversized:
      return "oversized";
    case K::kNotJson:
      return "not_json";
    case K::kNotObject:
      return "not_object";
    case K::kMissingField:
      return "missing_field";
    case K::kDuplicateField:
      return "duplicate_field";
    case K::kMistyped:
      return "mistyped_field";
    case K::kNotFinite:
      return "not_finite";
    case K::kOutOfRange:
      return "out_of_range";
    case K::kBadDeviceId:
      return "bad_device_id";
    case K::kBadTime:
      return "bad_time";
    case K::kTooDeep:
      return "too_deep";
  }
  return "unknown";
}

bool Defect::Mistyped(std::string_view f, ondemand::json_type type) {
  kind = Kind::kMistyped;
  field = f;
  detail = TypeDescription(type);
  return false;
}

bool ParseTime(std::string_view text, int64_t* unix_nanos) {
  return ParseTimestamp(text, unix_nanos, MissingZone::kUtc);  // no zone: UTC (fan.py's form)
}

bool IsTopicSafeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '+' || c == '#') return false;
  }
  return true;
}

bool IsValidNonObject(ondemand::document& doc, ondemand::json_type type) {
  // On-Demand classifies a document by its first byte ("nope" looks like null); check the value.
  bool ok = false;
  switch (type) {
    case ondemand::json_type::array: {
      ondemand::array arr;
      ok = !doc.get_array().get(arr);
      if (ok) {
        for (auto e : arr) ok = ok && !e.error();
      }
      break;
    }
    case ondemand::json_type::number:
      ok = !doc.get_number().error();
      break;
    case ondemand::json_type::string:
      ok = !doc.get_string().error();
      break;
    case ondemand::json_type::boolean:
      ok = !doc.get_bool().error();
      break;
    case ondemand::json_type::null: {
      bool is_null = false;
      ok = !doc.is_null().get(is_null) && is_null;
      break;
    }
    case ondemand::json_type::object:
      ok = true;
      break;
  }
  return ok && doc.current_location().error();
}

MessageReader::MessageReader(MessageConfig config) : config_(std::move(config)) {
  AIOT_CHECK(!config_.device_id_fields.empty() && config_.device_id_fields.size() <= 8,
             "1 to 8 device id fields (got %zu)", config_.device_id_fields.size());
  padded_.resize(config_.max_payload_bytes + simdjson::SIMDJSON_PADDING);
  device_id_.reserve(128);
  time_text_.reserve(kMaxTimeText);
  key_.reserve(256);
  defect_field_.reserve(256);
  // Let simdjson size its buffers once, for the largest payload accepted.
  auto err = parser_.allocate(config_.max_payload_bytes + simdjson::SIMDJSON_PADDING);
  AIOT_CHECK(!err, "simdjson allocation failed: %s", simdjson::error_message(err));
}

bool MessageReader::Fail(Defect& defect, Defect::Kind kind, std::string_view field,
                         const char* detail) {
  defect.kind = kind;
  defect.field = field;
  defect.detail = detail;
  return false;
}

bool MessageReader::Read(std::string_view payload, int64_t arrival_ns, LeafFn on_leaf,
                         Defect& defect, std::string_view topic_device) {
  defect = Defect{};
  device_id_.clear();
  time_text_.clear();
  time_ns_ = arrival_ns;
  has_time_ = false;
  if (payload.size() > config_.max_payload_bytes) {
    defect.kind = Defect::Kind::kOversized;
    defect.value = static_cast<double>(payload.size());
    defect.max = static_cast<double>(config_.max_payload_bytes);
    return false;
  }
  return ReadDocument(payload, on_leaf, defect, topic_device);
}

bool MessageReader::ReadValue(ondemand::value value, std::string_view key, int depth,
                              LeafFn on_leaf, Defect& defect) {
  using K = Defect::Kind;
  // The field a defect names must outlive this call: nested keys live in key_, which changes.
  auto field_name = [&]() -> std::string_view {
    if (depth == 0) return key;
    defect_field_.assign(key);
    return defect_field_;
  };
  Leaf leaf;
  leaf.key = key;
  // The common case first: a number (a failed attempt leaves the value unconsumed).
  if (!value.get_double().get(leaf.number)) {
    if (!std::isfinite(leaf.number)) return Fail(defect, K::kNotFinite, field_name());
    leaf.type = ondemand::json_type::number;
    return on_leaf(leaf, defect) || KeepField(defect, key, depth);
  }
  ondemand::json_type t;
  if (auto err = value.type().get(t)) {
    if (IsNonFiniteToken(value.raw_json_token())) return Fail(defect, K::kNotFinite, field_name());
    return NotJson(defect, err);
  }
  leaf.type = t;
  switch (t) {
    case ondemand::json_type::number: {
      if (value.get_double().get(leaf.number) || !std::isfinite(leaf.number)) {
        return Fail(defect, K::kNotFinite, field_name());
      }
      break;
    }
    case ondemand::json_type::object:
      if (depth + 1 > kMaxDepth) return Fail(defect, K::kTooDeep, field_name());
      return ReadObject(value, key, depth, on_leaf, defect);
    case ondemand::json_type::string:
      if (auto err = value.get_string().get(leaf.text)) return NotJson(defect, err);
      break;
    case ondemand::json_type::boolean:
      if (value.get_bool().get(leaf.boolean)) {
        if (IsNonFiniteToken(value.raw_json_token())) {
          return Fail(defect, K::kNotFinite, field_name());
        }
        return Fail(defect, K::kNotJson, {}, "not a JSON value");
      }
      break;
    case ondemand::json_type::null: {
      bool is_null = false;
      if (value.is_null().get(is_null) || !is_null) {
        if (IsNonFiniteToken(value.raw_json_token())) {
          return Fail(defect, K::kNotFinite, field_name());
        }
        return Fail(defect, K::kNotJson, {}, "not a JSON value");
      }
      break;
    }
    case ondemand::json_type::array: {
      ondemand::array arr;
      std::string_view raw;
      if (auto err = value.get_array().get(arr)) return NotJson(defect, err);
      if (auto err = arr.raw_json().get(raw)) return NotJson(defect, err);
      break;
    }
  }
  return on_leaf(leaf, defect) || KeepField(defect, key, depth);
}

bool MessageReader::ReadObject(ondemand::value value, std::string_view key, int depth,
                               LeafFn on_leaf, Defect& defect) {
  ondemand::object obj;
  if (auto err = value.get_object().get(obj)) return NotJson(defect, err);
  const size_t mark = key_.size();
  if (depth == 0) key_.assign(key);
  const size_t base = key_.size();
  for (auto field_result : obj) {
    ondemand::field field;
    if (auto err = std::move(field_result).get(field)) return NotJson(defect, err);
    std::string_view sub;
    if (auto err = field.unescaped_key().get(sub)) return NotJson(defect, err);
    key_.resize(base);
    key_ += '_';
    key_.append(sub);
    if (!ReadValue(field.value(), key_, depth + 1, on_leaf, defect)) return false;
  }
  key_.resize(depth == 0 ? 0 : mark);
  return true;
}

bool MessageReader::KeepField(Defect& defect, std::string_view key, int depth) {
  // A callback's defect may name a nested leaf's key, which lives in key_: keep a stable copy.
  if (depth > 0 && defect.field.data() == key.data()) {
    defect_field_.assign(key);
    defect.field = defect_field_;
  }
  return false;
}

bool MessageReader::ReadDocument(std::string_view payload, LeafFn on_leaf, Defect& defect,
                                 std::string_view topic_device) {
  using K = Defect::Kind;
  std::memcpy(padded_.data(), payload.data(), payload.size());
  ondemand::document doc;
  auto err =
      parser_.iterate(simdjson::padded_string_view(padded_.data(), payload.size(), padded_.size()))
          .get(doc);
  if (err) return NotJson(defect, err);
  ondemand::json_type top;
  if ((err = doc.type().get(top))) return NotJson(defect, err);
  if (top != ondemand::json_type::object) {
    return IsValidNonObject(doc, top) ? Fail(defect, K::kNotObject, {})
                                      : Fail(defect, K::kNotJson, {}, "not a JSON value");
  }
  ondemand::object obj;
  if ((err = doc.get_object().get(obj))) return NotJson(defect, err);

  const std::vector<std::string>& id_fields = config_.device_id_fields;
  size_t id_rank = id_fields.size();  // rank of the field device_id_ came from
  uint32_t ids_seen = 0;
  bool time_seen = false;
  key_.clear();
  for (auto field_result : obj) {
    ondemand::field field;
    if ((err = std::move(field_result).get(field))) return NotJson(defect, err);
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) return NotJson(defect, err);
    ondemand::value value = field.value();

    size_t rank = id_fields.size();
    for (size_t i = 0; i < id_fields.size(); ++i) {
      if (key == id_fields[i]) {
        rank = i;
        break;
      }
    }
    if (rank < id_fields.size()) {
      if (!ReadDeviceId(value, rank, &ids_seen, &id_rank, defect)) return false;
    } else if (key == config_.timestamp_field) {
      if (time_seen) return Fail(defect, K::kDuplicateField, config_.timestamp_field);
      time_seen = true;
      if (!ReadTime(value, defect)) return false;
    } else {
      // The common case inline: a top-level number (a failed attempt leaves the value as it was).
      Leaf leaf;
      if (!value.get_double().get(leaf.number) && std::isfinite(leaf.number)) {
        leaf.key = key;
        leaf.type = ondemand::json_type::number;
        if (!on_leaf(leaf, defect)) return false;
      } else if (!ReadValue(value, key, 0, on_leaf, defect)) {
        return false;
      }
    }
  }
  if (!doc.current_location().error()) {
    return Fail(defect, K::kNotJson, {}, "trailing content after the object");
  }
  return ResolveDeviceId(topic_device, defect);
}

bool MessageReader::ReadDeviceId(ondemand::value value, size_t rank, uint32_t* ids_seen,
                                 size_t* id_rank, Defect& defect) {
  using K = Defect::Kind;
  const std::string& name = config_.device_id_fields[rank];
  if (*ids_seen & (1u << rank)) return Fail(defect, K::kDuplicateField, name);
  *ids_seen |= 1u << rank;
  ondemand::json_type t;
  if (auto err = value.type().get(t)) return NotJson(defect, err);
  std::string_view id;
  char digits[24];
  if (t == ondemand::json_type::string) {
    if (auto err = value.get_string().get(id)) return NotJson(defect, err);
  } else if (t == ondemand::json_type::number) {
    int64_t n;
    if (value.get_int64().get(n)) {
      return Fail(defect, K::kBadDeviceId, name, "is not a string or an integer");
    }
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    id = std::string_view(digits, static_cast<size_t>(end - digits));
  } else {
    return Fail(defect, K::kBadDeviceId, name, "is not a string or an integer");
  }
  if (!IsTopicSafeId(id)) {
    return Fail(defect, K::kBadDeviceId, name,
                "must be 1-128 characters without '/', '+', '#' or control characters");
  }
  if (rank < *id_rank) {
    *id_rank = rank;
    device_id_.assign(id);
  }
  return true;
}

bool MessageReader::ReadTime(ondemand::value value, Defect& defect) {
  using K = Defect::Kind;
  const std::string& name = config_.timestamp_field;
  ondemand::json_type t;
  if (auto err = value.type().get(t)) return NotJson(defect, err);
  if (t == ondemand::json_type::string) {
    std::string_view ts;
    if (auto err = value.get_string().get(ts)) return NotJson(defect, err);
    if (ts.size() > kMaxTimeText || !ParseTime(ts, &time_ns_)) {
      return Fail(defect, K::kBadTime, name,
                  "is not a time (RFC 3339, or \"YYYY-MM-DD HH:MM:SS[.fff]\" in UTC)");
    }
    time_text_.assign(ts);
    has_time_ = true;
  } else if (t == ondemand::json_type::number) {
    // Milliseconds since the epoch, within what int64 nanoseconds hold.
    double ms;
    if (value.get_double().get(ms) || !std::isfinite(ms) || std::fabs(ms) > 9.2e12) {
      return Fail(defect, K::kBadTime, name,
                  "is not a number of milliseconds since the epoch (1678-2261)");
    }
    time_ns_ = static_cast<int64_t>(ms) * 1000000;
    char buf[kTimestampBytes];
    time_text_.assign(buf, FormatTimestamp(time_ns_, buf));
    has_time_ = true;
  } else if (t == ondemand::json_type::null) {
    bool is_null = false;
    if (value.is_null().get(is_null) || !is_null) {
      return Fail(defect, K::kNotJson, {}, "not a JSON value");
    }
    // null: no time, as if absent.
  } else {
    return Fail(defect, K::kMistyped, name,
                "is not a time string or a number of milliseconds since the epoch");
  }
  return true;
}

bool MessageReader::ResolveDeviceId(std::string_view topic_device, Defect& defect) {
  using K = Defect::Kind;
  if (!device_id_.empty()) return true;
  if (topic_device.empty()) return Fail(defect, K::kMissingField, config_.device_id_fields.front());
  if (!IsTopicSafeId(topic_device)) {
    return Fail(defect, K::kBadDeviceId, "topic",
                "level must be 1-128 characters without '/', '+', '#' or control characters");
  }
  device_id_.assign(topic_device);
  return true;
}

// ---- ReadingParser ----

ReadingParser::ReadingParser(std::vector<std::string> numeric_fields, MessageConfig config,
                             size_t max_fields)
    : reader_(std::move(config)),
      numeric_fields_(std::move(numeric_fields)),
      max_fields_(max_fields) {
  AIOT_CHECK(numeric_fields_.size() <= 64, "at most 64 numeric fields (got %zu)",
             numeric_fields_.size());
}

bool ReadingParser::Parse(std::string_view payload, int64_t arrival_ns, Reading* out,
                          Defect& defect) {
  out->fields.clear();
  out->numeric_index.clear();
  uint64_t seen = 0;
  auto on_leaf = [&](const Leaf& leaf, Defect& d) {
    size_t index = numeric_fields_.size();
    for (size_t i = 0; i < numeric_fields_.size(); ++i) {
      if (leaf.key == numeric_fields_[i]) {
        index = i;
        break;
      }
    }
    const bool known = index < numeric_fields_.size();
    if (known) {
      if (seen & (uint64_t{1} << index)) {
        d.kind = Defect::Kind::kDuplicateField;
        d.field = numeric_fields_[index];
        return false;
      }
      seen |= uint64_t{1} << index;
    }
    if (leaf.type == simdjson::ondemand::json_type::number) {
      if (known || out->fields.size() < max_fields_) {
        out->fields.emplace_back(leaf.key, leaf.number);
        out->numeric_index.push_back(known ? static_cast<int>(index) : -1);
      }
      return true;
    }
    if (known && leaf.type != simdjson::ondemand::json_type::null) {
      return d.Mistyped(numeric_fields_[index], leaf.type);
    }
    return true;  // null = absent; other strings, booleans and arrays are not readings
  };
  if (!reader_.Read(payload, arrival_ns, on_leaf, defect)) return false;
  out->device.assign(reader_.device_id());
  out->time_ns = reader_.time_ns();
  out->has_time = reader_.has_time();
  return true;
}

// ---- Device status ----

bool ParseDeviceStatus(std::string_view payload, std::string_view topic_device, int64_t arrival_ns,
                       DeviceStatus* out, Defect& defect) {
  thread_local MessageReader reader;
  *out = DeviceStatus();
  auto text = [&](const Leaf& leaf, Defect& d, std::string* dst) {
    if (leaf.type == simdjson::ondemand::json_type::null) return true;
    if (leaf.type != simdjson::ondemand::json_type::string) {
      d.kind = Defect::Kind::kMistyped;
      d.field = leaf.key;
      d.detail = "is not a string";
      return false;
    }
    dst->assign(leaf.text.substr(0, 256));
    return true;
  };
  auto on_leaf = [&](const Leaf& leaf, Defect& d) {
    using T = simdjson::ondemand::json_type;
    if (leaf.key == "online") {
      if (leaf.type == T::null) return true;
      if (leaf.type != T::boolean) {
        d.kind = Defect::Kind::kMistyped;
        d.field = leaf.key;
        d.detail = "is not a boolean";
        return false;
      }
      out->has_online = true;
      out->online = leaf.boolean;
    } else if (leaf.key == "model") {
      return text(leaf, d, &out->model);
    } else if (leaf.key == "ota_rollout") {
      return text(leaf, d, &out->ota_rollout);
    } else if (leaf.key == "ota_state") {
      return text(leaf, d, &out->ota_state);
    } else if (leaf.key == "ota_error") {
      return text(leaf, d, &out->ota_error);
    } else if (leaf.key == "ota_version") {
      if (leaf.type == T::null) return true;
      if (leaf.type != T::number || leaf.number != std::floor(leaf.number) ||
          std::fabs(leaf.number) > 9e15) {
        d.kind = Defect::Kind::kMistyped;
        d.field = leaf.key;
        d.detail = "is not an integer";
        return false;
      }
      out->ota_version = static_cast<int64_t>(leaf.number);
    } else if (leaf.key == "ota" && leaf.type != T::null) {
      // "ota" itself is an object (flattened above); anything else there is wrong.
      d.kind = Defect::Kind::kMistyped;
      d.field = leaf.key;
      d.detail = "is not an object";
      return false;
    }
    return true;
  };
  if (!reader.Read(payload, arrival_ns, on_leaf, defect, topic_device)) return false;
  out->device.assign(topic_device.empty() ? reader.device_id() : topic_device);
  out->time_ns = reader.time_ns();
  out->has_time = reader.has_time();
  return true;
}

}  // namespace aiot::telemetry
