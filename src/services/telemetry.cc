#include "services/telemetry.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace aiot::services {

namespace ondemand = simdjson::ondemand;

void Describe(config::Visitor& v, TelemetryConfig& c) {
  v.Field("fields", c.fields,
          "Model feature -> telemetry JSON field, for devices whose field names differ from the "
          "model's feature names (unlisted features use the field of the same name).");
  v.Field("default_features", c.default_features,
          "Features in model input order, used when the model's metadata names none.");
  v.Field("ranges", c.ranges,
          "Plausible range per feature as \"min..max\"; readings outside go to the dead-letter "
          "topic.");
  v.Field("device_id_field", c.device_id_field, "JSON field with the device id.");
  v.Field("timestamp_field", c.timestamp_field,
          "JSON field with the reading's timestamp (optional; passed through to results).");
  v.Field("max_payload_bytes", c.max_payload_bytes,
          "Larger payloads are dead-lettered without parsing.");
}

namespace {

bool ParseDouble(std::string_view s, double& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::vector<FeatureField> ResolveFeatures(const TelemetryConfig& config,
                                          const std::vector<std::string>& model_features) {
  const std::vector<std::string>& names =
      model_features.empty() ? config.default_features : model_features;
  if (names.empty())
    throw config::Error(
        "predictor: the model names no features and "
        "telemetry.default_features is empty");
  for (const auto& [feature, field] : config.fields) {
    (void)field;
    bool known = false;
    for (const auto& n : names) known = known || n == feature;
    if (!known) {
      throw config::Error(fmt::format(
          "predictor: telemetry.fields maps `{}`, which is not a feature of the model ({})",
          feature, fmt::join(names, ", ")));
    }
  }
  std::vector<FeatureField> out;
  for (const auto& name : names) {
    FeatureField f;
    f.feature = name;
    auto field = config.fields.find(name);
    f.field = field == config.fields.end() ? name : field->second;
    auto range = config.ranges.find(name);
    if (range != config.ranges.end()) {
      std::string_view text = range->second;
      size_t dots = text.find("..");
      if (dots == std::string_view::npos || !ParseDouble(text.substr(0, dots), f.min) ||
          !ParseDouble(text.substr(dots + 2), f.max) || !(f.min <= f.max)) {
        throw config::Error(fmt::format(
            "predictor: telemetry.ranges.{} is \"{}\"; write it as \"min..max\", e.g. \"0..500\"",
            name, text));
      }
    }
    for (const auto& other : out) {
      if (other.field == f.field) {
        throw config::Error(
            fmt::format("predictor: features `{}` and `{}` both read JSON field `{}`",
                        other.feature, name, f.field));
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

bool IsTopicSafeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '+' || c == '#') return false;
  }
  return true;
}

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
      return fmt::format("field `{}` {}", field, detail);
    case K::kNotFinite:
      return fmt::format("field `{}` is not a finite number", field);
    case K::kOutOfRange:
      return fmt::format("field `{}` = {} is outside the plausible range [{}, {}]", field, value,
                         min, max);
    case K::kBadDeviceId:
      return fmt::format("field `{}` {}", field, detail);
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
  }
  return "unknown";
}

TelemetryParser::TelemetryParser(const TelemetryConfig& config, std::vector<FeatureField> features)
    : features_(std::move(features)),
      device_id_field_(config.device_id_field),
      timestamp_field_(config.timestamp_field),
      max_payload_bytes_(config.max_payload_bytes) {
  AIOT_CHECK(features_.size() <= 64, "at most 64 features (got %zu)", features_.size());
  padded_.resize(max_payload_bytes_ + simdjson::SIMDJSON_PADDING);
  device_id_.reserve(128);
  timestamp_.reserve(64);
  // Let simdjson size its buffers once, for the largest payload accepted.
  auto err = parser_.allocate(max_payload_bytes_ + simdjson::SIMDJSON_PADDING);
  AIOT_CHECK(!err, "simdjson allocation failed: %s", simdjson::error_message(err));
}

bool TelemetryParser::Parse(std::string_view payload, float* row, Defect& defect) {
  defect = Defect{};
  if (payload.size() > max_payload_bytes_) {
    defect.kind = Defect::Kind::kOversized;
    defect.value = static_cast<double>(payload.size());
    defect.max = static_cast<double>(max_payload_bytes_);
    return false;
  }
  return ParseDocument(payload, row, defect);
}

namespace {

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

// NaN and Infinity are not JSON, but Python's json.dumps writes them: name them clearly.
bool IsNonFiniteToken(std::string_view tok) {
  if (!tok.empty() && (tok.front() == '-' || tok.front() == '+')) tok.remove_prefix(1);
  return tok.starts_with("NaN") || tok.starts_with("nan") || tok.starts_with("Infinity") ||
         tok.starts_with("inf") || tok.starts_with("Inf");
}

}  // namespace

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

bool TelemetryParser::ParseDocument(std::string_view payload, float* row, Defect& defect) {
  using K = Defect::Kind;
  std::memcpy(padded_.data(), payload.data(), payload.size());
  auto fail = [&](K kind, std::string_view field, const char* detail = "") {
    defect.kind = kind;
    defect.field = field;
    defect.detail = detail;
    return false;
  };
  auto not_json = [&](simdjson::error_code e) {
    return fail(K::kNotJson, {}, simdjson::error_message(e));
  };

  ondemand::document doc;
  auto err =
      parser_.iterate(simdjson::padded_string_view(padded_.data(), payload.size(), padded_.size()))
          .get(doc);
  if (err) return not_json(err);
  ondemand::json_type top;
  if ((err = doc.type().get(top))) return not_json(err);
  if (top != ondemand::json_type::object) {
    return IsValidNonObject(doc, top) ? fail(K::kNotObject, {})
                                      : fail(K::kNotJson, {}, "not a JSON value");
  }
  ondemand::object obj;
  if ((err = doc.get_object().get(obj))) return not_json(err);

  uint64_t seen = 0;
  bool have_device = false;
  bool have_timestamp = false;
  device_id_.clear();
  timestamp_.clear();
  const size_t n = features_.size();
  for (auto field_result : obj) {
    ondemand::field field;
    if ((err = std::move(field_result).get(field))) return not_json(err);
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) return not_json(err);
    ondemand::value value = field.value();

    size_t index = n;
    for (size_t i = 0; i < n; ++i) {
      if (key == features_[i].field) {
        index = i;
        break;
      }
    }
    if (index < n) {
      const FeatureField& f = features_[index];
      if (seen & (uint64_t{1} << index)) return fail(K::kDuplicateField, f.field);
      seen |= uint64_t{1} << index;
      double x;
      auto num_err = value.get_double().get(x);
      if (num_err) {
        if (IsNonFiniteToken(value.raw_json_token())) return fail(K::kNotFinite, f.field);
        if (num_err == simdjson::NUMBER_ERROR) {
          return fail(K::kNotFinite, f.field);
        }
        ondemand::json_type t;
        if (value.type().get(t)) return not_json(num_err);
        return fail(K::kMistyped, f.field, TypeDescription(t));
      }
      if (!std::isfinite(x) || !std::isfinite(static_cast<float>(x))) {
        return fail(K::kNotFinite, f.field);
      }
      if (x < f.min || x > f.max) {
        defect.value = x;
        defect.min = f.min;
        defect.max = f.max;
        return fail(K::kOutOfRange, f.field);
      }
      row[index] = static_cast<float>(x);
    } else if (key == device_id_field_) {
      if (have_device) return fail(K::kDuplicateField, device_id_field_);
      have_device = true;
      ondemand::json_type t;
      if ((err = value.type().get(t))) return not_json(err);
      std::string_view id;
      if (t == ondemand::json_type::string) {
        if ((err = value.get_string().get(id))) return not_json(err);
      } else if (t == ondemand::json_type::number) {
        int64_t i;
        if (value.get_int64().get(i)) {
          return fail(K::kBadDeviceId, device_id_field_, "is not a string or an integer");
        }
        id = value.raw_json_token();
        while (!id.empty() &&
               (id.back() == ' ' || id.back() == '\n' || id.back() == '\t' || id.back() == '\r')) {
          id.remove_suffix(1);
        }
      } else {
        return fail(K::kBadDeviceId, device_id_field_, "is not a string or an integer");
      }
      if (!IsTopicSafeId(id)) {
        return fail(K::kBadDeviceId, device_id_field_,
                    "must be 1-128 characters without '/', '+', '#' or control characters");
      }
      device_id_.assign(id);
    } else if (key == timestamp_field_) {
      if (have_timestamp) return fail(K::kDuplicateField, timestamp_field_);
      have_timestamp = true;
      std::string_view ts;
      if (value.get_string().get(ts)) {
        return fail(K::kMistyped, timestamp_field_, "is not a string");
      }
      if (ts.size() > 64) return fail(K::kMistyped, timestamp_field_, "is longer than 64 bytes");
      timestamp_.assign(ts);
    }
    // Other fields (e.g. a "spectrum" object) are skipped.
  }
  if (!doc.current_location().error())
    return fail(K::kNotJson, {}, "trailing content after the object");
  if (!have_device) return fail(K::kMissingField, device_id_field_);
  const uint64_t all = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
  if (seen != all) {
    for (size_t i = 0; i < n; ++i) {
      if (!(seen & (uint64_t{1} << i))) return fail(K::kMissingField, features_[i].field);
    }
  }
  return true;
}

}  // namespace aiot::services
