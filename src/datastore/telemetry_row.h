#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "telemetry/message.h"

namespace aiot::datastore {

// One telemetry sample, as the training datastore stores it: the device, the time and the value
// of each field of the schema (DatastoreConfig::fields), in the schema's order, NaN when absent.
// From the fan's
//   {"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z","rotation":601.2,
//    "temperature":40.1,"vibration":151.0,"sound":50.3}
// with the fan's schema: values {601.2, 40.1, 151.0, 50.3}.
struct TelemetryRow {
  int64_t ts = 0;  // unix nanos
  std::string device;
  std::vector<double> values;
};

// Parses telemetry payloads by the rules of src/telemetry (the predictor's and the store's) into
// rows of one field schema: the device is `deviceID` (else `chipID`), a string or an integer; the
// time is RFC 3339, the same without a zone (UTC) or epoch milliseconds, and `arrival_ns` when the
// message has none; the schema's fields must be numbers when present (missing or null: NaN);
// other fields are ignored. Not thread-safe (one per thread or strand).
class RowParser {
 public:
  explicit RowParser(std::vector<std::string> fields);

  // aiot::errc::parse_error with the reason in the message (and in `defect` when given) for a
  // message the rules reject. Never throws.
  Status Parse(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
               telemetry::Defect* defect = nullptr);
  const std::vector<std::string>& fields() const { return parser_.numeric_fields(); }

 private:
  telemetry::ReadingParser parser_;
  telemetry::Reading reading_;
};

}  // namespace aiot::datastore
