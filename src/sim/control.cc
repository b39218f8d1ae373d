#include "sim/control.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/json.h"

namespace aiot::sim {
namespace {

using Json = nlohmann::json;

// A finite number (NaN and infinities cannot come from JSON, but the check keeps the contract
// local).
bool FiniteNumber(const Json& o, const char* key, double* out) {
  std::optional<double> v = json::Number(o, key);
  if (!v || !std::isfinite(*v)) return false;
  *out = *v;
  return true;
}

}  // namespace

Result<ControlCommand> ParseControlCommand(std::string_view payload) {
  Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return {errc::parse_error, "control message is not a JSON object"};
  ControlCommand c;
  c.command = json::StringOr(j, "command", "");
  if (c.command.empty()) return {errc::parse_error, "control message has no \"command\" string"};
  static const Json kEmpty = Json::object();
  auto pit = j.find("payload");
  const Json& p = pit != j.end() && pit->is_object() ? *pit : kEmpty;

  if (c.command == "download-model") {
    c.kind = ControlCommand::Kind::kDownloadModel;
  } else if (c.command == "set-actuator") {
    c.kind = ControlCommand::Kind::kSetActuator;
  } else if (c.command == "rollback-model") {
    c.kind = ControlCommand::Kind::kRollbackModel;
  } else if (c.command == "report-status") {
    c.kind = ControlCommand::Kind::kReportStatus;
  }
  double v = 0;
  if (FiniteNumber(p, "load", &v)) {
    c.load = v;
  } else if (FiniteNumber(p, "angle", &v)) {
    c.load = v / 180.0;
  }
  c.model_name = json::StringOr(p, "name", "");
  c.version = json::Int(p, "version").value_or(0);
  c.url = json::StringOr(p, "url", "");
  c.sha256 = json::StringOr(p, "sha256", "");
  c.signature = json::StringOr(p, "signature", "");
  c.size = json::Int(p, "size").value_or(-1);
  c.rollout = json::StringOr(p, "rollout", "");
  return c;
}

}  // namespace aiot::sim
