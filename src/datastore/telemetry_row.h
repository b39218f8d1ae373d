#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "telemetry/message.h"

namespace aiot::datastore {

// One telemetry sample from `fan/messages`, as the training datastore stores it:
//   {"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z","rotation":601.2,
//    "temperature":40.1,"vibration":151.0,"sound":50.3}
struct TelemetryRow {
  int64_t ts = 0;  // unix nanos
  std::string device;
  double rotation = 0, temperature = 0, vibration = 0, sound = 0;
};

// Parses a telemetry payload by the rules of src/telemetry (the predictor's and the store's):
// the device is `deviceID` (else `chipID`), a string or an integer; the time is RFC 3339, the same
// without a zone (UTC) or epoch milliseconds, and `arrival_ns` when the message has none; the
// four sensor fields must be numbers when present (missing or null: NaN). aiot::errc::parse_error
// otherwise, with the reason in the message and in `defect` when given. Never throws.
Status ParseTelemetry(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
                      telemetry::Defect* defect = nullptr);
// The same with the arrival time now (system clock).
Status ParseTelemetry(std::string_view json, TelemetryRow* row);

}  // namespace aiot::datastore
