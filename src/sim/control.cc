#include "sim/control.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/errc.h"

namespace aiot::sim {
namespace {

using nlohmann::json;

std::string String(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool Number(const json& o, const char* key, double* out) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return false;
  *out = it->get<double>();
  return std::isfinite(*out);
}

int64_t Integer(const json& o, const char* key, int64_t fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? fallback : static_cast<int64_t>(u);
  }
  return fallback;
}

}  // namespace

Result<ControlCommand> ParseControlCommand(std::string_view payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return errc::parse_error;
  ControlCommand c;
  c.command = String(j, "command");
  if (c.command.empty()) return errc::parse_error;
  static const json kEmpty = json::object();
  auto pit = j.find("payload");
  const json& p = pit != j.end() && pit->is_object() ? *pit : kEmpty;

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
  if (Number(p, "load", &v)) {
    c.load = v;
  } else if (Number(p, "angle", &v)) {
    c.load = v / 180.0;
  }
  c.model_name = String(p, "name");
  c.version = Integer(p, "version", 0);
  c.url = String(p, "url");
  c.sha256 = String(p, "sha256");
  c.signature = String(p, "signature");
  c.size = Integer(p, "size", -1);
  c.rollout = String(p, "rollout");
  return c;
}

}  // namespace aiot::sim
