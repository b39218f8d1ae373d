#pragma once

#include <limits>
#include <string>
#include <string_view>

#include "services/levels.h"

// JSON payloads the predictor publishes. Writers append to a caller-owned buffer so the hot path
// (one anomaly per reading) reuses its capacity and allocates nothing in steady state.
namespace aiot::services {

// Appends `s` as a JSON string literal (with quotes). Bytes that are not valid UTF-8 become
// U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);

// {"deviceID":..,"timeStamp":..,"fault":0|1,"score":0.93,"level":"ok|warning|critical","model":..}
// With a time-to-failure model's prediction (`ttf_h` not NaN) also
// "time_to_failure_h":12.34,"ttf_model":.. (hours, at least 0, two decimals).
void AppendAnomaly(std::string& out, std::string_view device_id, std::string_view timestamp,
                   int fault, float score, Level level, std::string_view model,
                   float ttf_h = std::numeric_limits<float>::quiet_NaN(),
                   std::string_view ttf_model = {});

// {"deviceID":..,"timeStamp":..,"level":..,"previous":..,"score":..,"model":..,"message":..}
// The message for critical is the reference's "activate safety protocols"; for warning
// "potential conditions for an imminent failure"; for a return to ok "condition cleared".
void AppendAlert(std::string& out, std::string_view device_id, std::string_view timestamp,
                 Level level, Level previous, float score, std::string_view model);
std::string_view AlertMessage(Level level);

// {"command":"set-actuator","payload":<payload_json>}; `payload_json` must be a JSON value.
void AppendCommand(std::string& out, std::string_view command, std::string_view payload_json);

// {"topic":..,"reason":..,"payload":"<original, truncated to max_chars bytes>","truncated":bool}
void AppendDeadLetter(std::string& out, std::string_view topic, std::string_view reason,
                      std::string_view payload, size_t max_chars);

}  // namespace aiot::services
