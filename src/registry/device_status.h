#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::registry {

// What a device reports on `fan/status/<deviceID>` (retained, with a will):
//   {"online":true,"model":"fan-mlp@3","actuator":...,
//    "ota":{"rollout":"r-1","state":"ok"|"failed"|"downloading","version":3,"error":"..."}}
// Every field is optional; unknown fields are ignored. See src/ota/README.md.
struct DeviceStatus {
  bool has_online = false;
  bool online = false;
  std::string model;  // "name@version", "" when not reported
  std::string ota_rollout;
  std::string ota_state;
  std::string ota_error;
  int64_t ota_version = 0;
};

// Parses a status payload; errc::parse_error when it is not a JSON object or a known field has
// the wrong type. Never throws.
Result<DeviceStatus> ParseDeviceStatus(std::string_view json);

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

// Parses a telemetry payload. deviceID (string or number) and timeStamp (RFC 3339) are
// required; missing sensor fields become NaN. errc::parse_error otherwise. Never throws.
Status ParseTelemetry(std::string_view json, TelemetryRow* row);

}  // namespace aiot::registry
