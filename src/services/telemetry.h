#pragma once

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"

namespace aiot::services {

// How telemetry JSON maps onto model features, and what counts as plausible.
struct TelemetryConfig {
  // Model feature name -> telemetry JSON field; a feature not listed is read from the field of
  // the same name. E.g. {temperature: temp_c} for devices that send "temp_c".
  std::map<std::string, std::string> fields;
  // Features (in model input order) used when the model's metadata names none.
  std::vector<std::string> default_features = {"rotation", "temperature", "vibration", "sound"};
  // Plausible range per feature as "min..max"; readings outside go to the dead-letter topic.
  std::map<std::string, std::string> ranges = {{"rotation", "0..100000"},
                                               {"temperature", "-100..500"},
                                               {"vibration", "0..100000"},
                                               {"sound", "0..300"}};
  // JSON field carrying the device id (a string or an integer).
  std::string device_id_field = "deviceID";
  // JSON field carrying the reading's timestamp (optional in the payload; passed through).
  std::string timestamp_field = "timeStamp";
  // Payloads larger than this are dead-lettered unparsed.
  uint32_t max_payload_bytes = 16384;
};

void Describe(config::Visitor& v, TelemetryConfig& c);

// One feature as the parser reads it.
struct FeatureField {
  std::string feature;  // model feature name
  std::string field;    // JSON field name
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

// The resolved mapping for one model: its features in input order with their JSON fields and
// ranges. Throws config::Error when a range is malformed (start-up / model load only).
std::vector<FeatureField> ResolveFeatures(const TelemetryConfig& config,
                                          const std::vector<std::string>& model_features);

// Why a payload was rejected. `field` points into the parser's schema (stable while it lives).
struct Defect {
  enum class Kind : uint8_t {
    kNone,
    kOversized,
    kNotJson,
    kNotObject,
    kMissingField,
    kDuplicateField,
    kMistyped,
    kNotFinite,
    kOutOfRange,
    kBadDeviceId,
  };
  Kind kind = Kind::kNone;
  std::string_view field;
  double value = 0;         // kOutOfRange: the value; kOversized: the size
  double min = 0, max = 0;  // kOutOfRange: the range; kOversized: max = the limit
  const char* detail = "";  // kNotJson / kMistyped / kBadDeviceId: what was wrong

  // A short human-readable reason: "missing field `sound`". Allocates: dead-letter path only.
  std::string Reason() const;
  // A stable label for metrics: "missing_field", "not_json", ...
  std::string_view Label() const;
};

// Parses telemetry payloads into feature rows with simdjson's On-Demand API. One parser per
// worker; after warm-up it allocates nothing per message (the padded copy buffer, simdjson's
// buffers and the id/timestamp strings keep their capacity).
// Not thread-safe.
class TelemetryParser {
 public:
  TelemetryParser(const TelemetryConfig& config, std::vector<FeatureField> features);

  // Parses `payload`, writing features() floats to `row`. On failure returns false and fills
  // `defect`; `row` is then unspecified.
  bool Parse(std::string_view payload, float* row, Defect& defect);

  // Valid after a successful Parse until the next call.
  std::string_view device_id() const { return device_id_; }
  // Empty when the payload carried no timestamp.
  std::string_view timestamp() const { return timestamp_; }

  const std::vector<FeatureField>& features() const { return features_; }
  size_t feature_count() const { return features_.size(); }

 private:
  bool ParseDocument(std::string_view payload, float* row, Defect& defect);

  std::vector<FeatureField> features_;
  std::string device_id_field_;
  std::string timestamp_field_;
  size_t max_payload_bytes_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::string device_id_;
  std::string timestamp_;
};

// True when `doc` (whose first byte says `type`) is one complete, valid JSON value.
bool IsValidNonObject(simdjson::ondemand::document& doc, simdjson::ondemand::json_type type);

// True when `id` can be used as one MQTT topic level (`fan/control/<id>`): 1..128 bytes, no
// '/', '+', '#', NUL or control characters.
bool IsTopicSafeId(std::string_view id);

}  // namespace aiot::services
