#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::sim {

// A command on `fan/control/<id>` (src/ota/README.md):
//   {"command":"download-model","payload":{"name":..,"version":..,"url":..,"sha256":..,
//    "signature":..,"size":..,"rollout":..}}
//   {"command":"set-actuator","payload":{"load":0.5}}   (or {"angle":90}, a servo in degrees)
//   {"command":"rollback-model","payload":{"rollout":..}}
//   {"command":"report-status"}
struct ControlCommand {
  enum class Kind { kDownloadModel, kSetActuator, kRollbackModel, kReportStatus, kUnknown };
  Kind kind = Kind::kUnknown;
  std::string command;  // as sent
  // set-actuator: the load fraction, if given (angle / 180 for a servo angle). -1 = not given.
  double load = -1;
  // download-model / rollback-model.
  std::string model_name;
  int64_t version = 0;
  std::string url;
  std::string sha256;
  std::string signature;
  int64_t size = -1;
  std::string rollout;
};

// Parses a control message. errc::parse_error for anything that is not a JSON object with a string
// "command"; fields of the wrong type are ignored (treated as absent). Never throws.
Result<ControlCommand> ParseControlCommand(std::string_view payload);

}  // namespace aiot::sim
