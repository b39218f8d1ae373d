#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "telemetry/message.h"

namespace aiot::registry {

// What a device reports on `fan/status/<deviceID>` (retained, with a will):
//   {"online":true,"model":"fan-mlp@3","actuator":...,
//    "ota":{"rollout":"r-1","state":"ok"|"failed"|"downloading","version":3,"error":"..."}}
// Every field is optional; unknown fields are ignored. See src/ota/README.md. Parsed by
// src/telemetry, the one parser of device messages.
using DeviceStatus = telemetry::DeviceStatus;

// Parses a status payload; errc::parse_error when it is not a JSON object or a known field has
// the wrong type (telemetry::ParseDeviceStatus says which). `device` is the id the status is
// for, when known (DeviceStatus::device). Never throws.
Result<DeviceStatus> ParseDeviceStatus(std::string_view json, std::string_view device = {});

// "fan-mlp@3" -> ("fan-mlp", 3). False when malformed.
bool SplitModelRef(std::string_view ref, std::string* name, int64_t* version);

// One telemetry sample from `fan/messages`:
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
// four sensor fields must be numbers when present (missing or null: NaN). errc::parse_error
// otherwise, with the reason in `defect` when given. Never throws.
Status ParseTelemetry(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
                      telemetry::Defect* defect = nullptr);
// The same with the arrival time now (system clock).
Status ParseTelemetry(std::string_view json, TelemetryRow* row);

}  // namespace aiot::registry
