#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/result.h"

namespace aiot::telemetry {

// The platform's one field schema: the numeric features a device sends, in model input order, and
// the label column of training data. Every consumer takes its fields from here (the app resolves
// it from the top-level `fields` config section, app::ResolveFields): the telemetry store's
// columns, the training datastore's columns and CSV export, the first-start training, the
// predictor's default features, the dashboard and `aiot simulate --replay`. The default is the
// reference fan's.
struct FieldSchema {
  // Numeric telemetry fields, in model input order.
  std::vector<std::string> features = FanFeatures();
  // Label column of training data (the datastore's export writes it; training reads it).
  std::string label = "faulty";

  // rotation, temperature, vibration, sound: the reference fan's fields, which the built-in
  // simulator (`aiot up --simulate`, `aiot simulate`) produces.
  static std::vector<std::string> FanFeatures() {
    return {"rotation", "temperature", "vibration", "sound"};
  }
  // True when the features are the fan's, in the fan's order.
  bool IsFan() const { return features == FanFeatures(); }

  // invalid_argument, naming the field, unless: 1..64 features; each name 1-64 of letters, digits
  // and `_`, not starting with a digit (it becomes an SQL column and a CSV header); no duplicate;
  // none of the names the consumers reserve (IsReservedFieldName); the label (if any) a valid name
  // and not a feature.
  Status Validate() const;
};

void Describe(config::Visitor& v, FieldSchema& c);
// FieldSchema::Validate for the config loader: the problem is reported under its key with the
// file and line.
void Validate(config::Checks& checks, const FieldSchema& c);

// Letters, digits and `_`, 1..64, not starting with a digit.
bool IsValidFieldName(std::string_view name);
// Names the consumers use for something else, compared case-insensitively: the datastore's and
// CSV files' `ts`, `device`, `deviceID`, `device_id`, `time`, `timestamp`; the scores' `score`,
// `fault` and `level`.
bool IsReservedFieldName(std::string_view name);

}  // namespace aiot::telemetry
