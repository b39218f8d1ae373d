#pragma once

// The platform's control commands on the control topic (default `control-message`, the seed
// system's): a pipeline run or an extract, and the body of POST /api/v1/pipelines/{name}/runs.
// One parser for both, strict: a message that is not exactly right is refused with the reason (the
// caller dead-letters it or answers 400), never half-understood. Device commands
// (`download-model`, `set-actuator`, ...) are the devices' (src/sim/control.h, on
// `fan/control/<id>`); seen on the control topic they are recognised and left alone.
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::pipeline {

// What a run request may carry.
struct RunRequest {
  std::string model;                          // empty = the configured model
  std::map<std::string, std::string> params;  // parameter overrides (values as text)
  std::string request_id;                     // optional `id` for correlation in logs
};

struct ControlMessage {
  enum class Command {
    kTrainModel,     // "train-model": a run of the pipeline
    kExtractData,    // "extract-data": the extract step alone, into a run directory
    kDeviceCommand,  // "download-model", "set-actuator", "rollback-model", "report-status"
  };
  Command command = Command::kTrainModel;
  std::string name;  // the command as sent
  RunRequest request;
};

// Limits of a request.
inline constexpr size_t kMaxParams = 64;
inline constexpr size_t kMaxParamValueBytes = 1024;
inline constexpr size_t kMaxModelNameBytes = 128;

// A run request from a JSON object: optional `model` (a string of [A-Za-z0-9._-], 1..128),
// `params` (an object of at most 64 members, names [a-z][a-z0-9_]*, values a string (≤ 1 KiB),
// a finite number or a boolean, kept as text), `id` (a string ≤ 128). Other members are refused
// when `strict` (HTTP bodies); control messages may carry `command`/`payload`. Errors:
// errc::invalid_argument naming the member.
Result<RunRequest> ParseRunRequest(const nlohmann::json& obj, bool strict);

// A control message: a JSON object (at most `max_bytes`) with a string `command`; the request's
// members at the top level or in a `payload` object. Errors (the status code is the kind, the
// message the reason; ControlRejectLabel names it for metrics):
//  - errc::resource_exhausted: larger than `max_bytes` ("oversized");
//  - errc::parse_error: not JSON, not an object, no `command` string ("malformed");
//  - errc::unsupported: a command nobody handles ("unknown_command");
//  - errc::invalid_argument: a member of the wrong type or value ("bad_field").
Result<ControlMessage> ParseControlMessage(std::string_view payload, size_t max_bytes);

// The metric label of a ParseControlMessage error (also "bad_field" for a refused run).
std::string_view ControlRejectLabel(const Status& s);

}  // namespace aiot::pipeline
