#include "telemetry/field_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/errc.h"

namespace aiot::telemetry {

void Describe(config::Visitor& v, FieldSchema& c) {
  v.Field("features", c.features,
          "Numeric telemetry fields, in model input order (letters, digits, _). Used by the store, "
          "the training datastore and its CSV export, the first-start training, the predictor's "
          "default features, the dashboard and `aiot simulate --replay`. The default is the "
          "reference fan's; `--simulate` needs it.");
  v.Field("label", c.label,
          "Label column of training data: the datastore's export writes it, the first-start "
          "training reads it (unless bootstrap.label says otherwise).");
}

bool IsValidFieldName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

bool IsReservedFieldName(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "ts", "device", "deviceid", "device_id", "time", "timestamp", "score", "fault", "level"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return std::find(std::begin(kReserved), std::end(kReserved), lower) != std::end(kReserved);
}

Status FieldSchema::Validate() const {
  if (features.empty() || features.size() > 64) {
    return {errc::invalid_argument,
            fmt::format("fields.features: 1 to 64 fields, not {}", features.size())};
  }
  for (size_t i = 0; i < features.size(); ++i) {
    const std::string& f = features[i];
    if (!IsValidFieldName(f)) {
      return {errc::invalid_argument,
              fmt::format("fields.features: `{}` is not a valid field name (1-64 letters, digits "
                          "and _, not starting with a digit)",
                          f.substr(0, 80))};
    }
    if (IsReservedFieldName(f)) {
      return {errc::invalid_argument,
              fmt::format("fields.features: `{}` is reserved (ts, device, deviceID, device_id, "
                          "time, timestamp, score, fault, level)",
                          f)};
    }
    if (std::find(features.begin(), features.begin() + static_cast<std::ptrdiff_t>(i), f) !=
        features.begin() + static_cast<std::ptrdiff_t>(i)) {
      return {errc::invalid_argument, fmt::format("fields.features: `{}` is listed twice", f)};
    }
  }
  if (!label.empty()) {
    if (!IsValidFieldName(label) || IsReservedFieldName(label)) {
      return {errc::invalid_argument,
              fmt::format("fields.label: `{}` is not a valid, unreserved column name",
                          label.substr(0, 80))};
    }
    if (std::find(features.begin(), features.end(), label) != features.end()) {
      return {errc::invalid_argument, fmt::format("fields.label: `{}` is also a feature", label)};
    }
  }
  return Status::Ok();
}

void Validate(config::Checks& checks, const FieldSchema& c) {
  Status s = c.Validate();
  if (s.ok()) return;
  // The message is "fields.<key>: what".
  const std::string message = s.message();
  std::string_view m = message;
  const size_t colon = m.find(": ");
  std::string_view key = colon == std::string_view::npos ? "" : m.substr(0, colon);
  if (key.rfind("fields.", 0) == 0) key.remove_prefix(7);
  checks.Fail(key, std::string(colon == std::string_view::npos ? m : m.substr(colon + 2)));
}

}  // namespace aiot::telemetry
