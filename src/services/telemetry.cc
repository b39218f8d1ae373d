#include "services/telemetry.h"

#include <fmt/format.h>

#include <charconv>

#include "base/check.h"

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

}  // namespace aiot::services
