#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/result.h"
#include "telemetry/features.h"
#include "telemetry/message.h"

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
  // JSON fields that may carry the device id (a string or an integer); the first present wins.
  std::vector<std::string> device_id_fields = {"deviceID", "chipID"};
  // JSON field carrying the reading's timestamp (optional in the payload; passed through).
  std::string timestamp_field = "timeStamp";
  // Payloads larger than this are dead-lettered unparsed.
  uint32_t max_payload_bytes = 16384;

  telemetry::MessageConfig Message() const {
    return {device_id_fields, timestamp_field, max_payload_bytes};
  }
};

void Describe(config::Visitor& v, TelemetryConfig& c);
// Each range is "min..max" with min <= max, and no two features read the same JSON field.
void Validate(config::Checks& checks, const TelemetryConfig& c);

// The parser and its types live in src/telemetry (one set of message rules for the predictor, the
// store and the registry ingest); these names keep the predictor's code short.
using telemetry::Defect;
using telemetry::FeatureField;
using telemetry::IsTopicSafeId;
using telemetry::IsValidNonObject;
using TelemetryParser = telemetry::FeatureParser;

// The resolved mapping for one model: its features in input order with their JSON fields and
// ranges. errc::invalid_argument, saying what to change, when the model and the configuration do
// not fit: no features at all, a mapped feature the model does not have, two features on one JSON
// field (the ranges were checked when the configuration was loaded, see Validate).
Result<std::vector<FeatureField>> ResolveFeatures(const TelemetryConfig& config,
                                                  const std::vector<std::string>& model_features);

}  // namespace aiot::services
