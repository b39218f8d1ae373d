#include "services/telemetry.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "base/check.h"
#include "base/errc.h"

namespace aiot::services {

void Describe(config::Visitor& v, TelemetryConfig& c) {
  v.Field("fields", c.fields,
          "Model feature -> telemetry JSON field, for devices whose field names differ from the "
          "model's feature names (unlisted features use the field of the same name).");
  v.Field("default_features", c.default_features,
          "Features in model input order, used when the model's metadata names none.");
  v.Field("ranges", c.ranges,
          "Plausible range per feature as \"min..max\"; readings outside go to the dead-letter "
          "topic.");
  v.Field("device_id_fields", c.device_id_fields,
          "JSON fields that may carry the device id, in order of preference (the reference fan "
          "sends deviceID, the motor sensor deviceID or chipID).");
  v.Field("timestamp_field", c.timestamp_field,
          "JSON field with the reading's time: RFC 3339, \"YYYY-MM-DD HH:MM:SS\" (UTC) or epoch "
          "milliseconds; optional (the arrival time); passed through to results.");
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

// "min..max" with min <= max.
bool ParseRange(std::string_view text, double& min, double& max) {
  size_t dots = text.find("..");
  return dots != std::string_view::npos && ParseDouble(text.substr(0, dots), min) &&
         ParseDouble(text.substr(dots + 2), max) && min <= max;
}

// The JSON field feature `name` is read from.
const std::string& FieldOf(const TelemetryConfig& config, const std::string& name) {
  auto field = config.fields.find(name);
  return field == config.fields.end() ? name : field->second;
}

}  // namespace

void Validate(config::Checks& checks, const TelemetryConfig& c) {
  for (const auto& [feature, text] : c.ranges) {
    double min = 0, max = 0;
    if (!ParseRange(text, min, max)) {
      checks.Fail(
          "ranges." + feature,
          fmt::format("is \"{}\"; write it as \"min..max\" with min <= max, e.g. \"0..500\"",
                      text));
    }
  }
  std::map<std::string_view, std::string_view> reader;  // JSON field -> first feature reading it
  for (const auto& [feature, field] : c.fields) {
    if (field.empty()) {
      checks.Fail("fields." + feature, "is empty; name the JSON field of this feature");
      continue;
    }
    auto [first, inserted] = reader.emplace(field, feature);
    if (!inserted) {
      checks.Fail("fields." + feature,
                  fmt::format("reads JSON field `{}`, as does `{}`", field, first->second));
    }
  }
}

Result<std::vector<FeatureField>> ResolveFeatures(const TelemetryConfig& config,
                                                  const std::vector<std::string>& model_features) {
  const std::vector<std::string>& names =
      model_features.empty() ? config.default_features : model_features;
  if (names.empty()) {
    return Status(errc::invalid_argument,
                  "the model names no features and telemetry.default_features is empty");
  }
  for (const auto& [feature, field] : config.fields) {
    (void)field;
    if (std::find(names.begin(), names.end(), feature) == names.end()) {
      return Status(
          errc::invalid_argument,
          fmt::format("telemetry.fields maps `{}`, which is not a feature of the model ({})",
                      feature, fmt::join(names, ", ")));
    }
  }
  std::vector<FeatureField> out;
  for (const auto& name : names) {
    FeatureField f;
    f.feature = name;
    f.field = FieldOf(config, name);
    auto range = config.ranges.find(name);
    if (range != config.ranges.end() && !ParseRange(range->second, f.min, f.max)) {
      return Status(errc::invalid_argument,
                    fmt::format("telemetry.ranges.{} is \"{}\"; write it as \"min..max\"", name,
                                range->second));
    }
    for (const auto& other : out) {
      if (other.field == f.field) {
        return Status(errc::invalid_argument,
                      fmt::format("features `{}` and `{}` both read JSON field `{}`", other.feature,
                                  name, f.field));
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace aiot::services
