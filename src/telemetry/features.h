#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/message.h"

namespace aiot::telemetry {

// One model feature as the predictor reads it from a message.
struct FeatureField {
  std::string feature;  // model feature name
  std::string field;    // JSON field name (a flattened key for nested objects)
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

// Reads the features of a model, in input order, into a float row: every feature must be present
// and a finite number inside its plausible range. The message rules are MessageReader's. After
// warm-up it allocates nothing per message (the predictor's hot path). Not thread-safe.
class FeatureParser {
 public:
  FeatureParser(MessageConfig config, std::vector<FeatureField> features);

  // Parses `payload`, writing feature_count() floats to `row`. On failure returns false and fills
  // `defect`; `row` is then unspecified. `arrival_ns`: the time of a message without one.
  bool Parse(std::string_view payload, int64_t arrival_ns, float* row, Defect& defect);

  // Valid after a successful Parse until the next call.
  std::string_view device_id() const { return reader_.device_id(); }
  // The time as sent (RFC 3339 for epoch numbers); empty when the payload carried none.
  std::string_view timestamp() const { return reader_.time_text(); }
  int64_t time_ns() const { return reader_.time_ns(); }

  const std::vector<FeatureField>& features() const { return features_; }
  size_t feature_count() const { return features_.size(); }

 private:
  MessageReader reader_;
  std::vector<FeatureField> features_;
};

}  // namespace aiot::telemetry
