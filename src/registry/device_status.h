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

// Parses a status payload; registry::errc::invalid_status with the message rules' reason
// ("field `online` is not a boolean") when it is not a JSON object or a known field has the
// wrong type. `device` is the id the status is for, when known (DeviceStatus::device). Never
// throws.
Result<DeviceStatus> ParseDeviceStatus(std::string_view json, std::string_view device = {});

// "fan-mlp@3" -> ("fan-mlp", 3). False when malformed.
bool SplitModelRef(std::string_view ref, std::string* name, int64_t* version);

}  // namespace aiot::registry
