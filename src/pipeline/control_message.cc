#include "pipeline/control_message.h"

#include <cmath>
#include <cstdio>

#include "base/errc.h"
#include "base/json.h"

namespace aiot::pipeline {
namespace {

using Json = nlohmann::json;

bool ModelNameOk(const std::string& s) {
  if (s.empty() || s.size() > kMaxModelNameBytes) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ParamNameOk(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Status Bad(std::string what) { return Status(errc::invalid_argument, std::move(what)); }

// A parameter value as text: a string, a finite number (integers exactly) or a boolean.
Result<std::string> ParamValue(const std::string& name, const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxParamValueBytes) {
      return Bad("params." + name + ": longer than " + std::to_string(kMaxParamValueBytes) +
                 " bytes");
    }
    return s;
  }
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return Bad("params." + name + ": not a finite number");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return std::string(buf);
  }
  return Bad("params." + name + ": must be a string, a number or a boolean");
}

Status ReadParams(const Json& params, RunRequest& out) {
  if (!params.is_object()) return Bad("`params` must be an object of name: value");
  if (params.size() > kMaxParams) {
    return Bad("`params` has " + std::to_string(params.size()) + " members (at most " +
               std::to_string(kMaxParams) + ")");
  }
  for (const auto& [name, value] : params.items()) {
    if (!ParamNameOk(name)) return Bad("params: `" + name.substr(0, 64) + "` is not a name");
    auto text = ParamValue(name, value);
    if (!text.ok()) return text.status();
    out.params[name] = *text;
  }
  return Status::Ok();
}

}  // namespace

Result<RunRequest> ParseRunRequest(const Json& obj, bool strict) {
  if (!obj.is_object()) return Bad("the request must be a JSON object");
  RunRequest out;
  for (const auto& [key, value] : obj.items()) {
    if (key == "model") {
      auto m = json::String(obj, "model");
      if (!m || !ModelNameOk(*m)) {
        return Bad("`model` must be a model name ([A-Za-z0-9._-], 1 to 128 characters)");
      }
      out.model = *m;
    } else if (key == "params") {
      if (Status s = ReadParams(value, out); !s.ok()) return s;
    } else if (key == "id") {
      auto id = json::String(obj, "id");
      if (!id || id->size() > 128) return Bad("`id` must be a string of at most 128 bytes");
      out.request_id = *id;
    } else if (strict || (key != "command" && key != "payload")) {
      return Bad("unknown member `" + key.substr(0, 64) + "` (model, params, id)");
    }
  }
  return out;
}

Result<ControlMessage> ParseControlMessage(std::string_view payload, size_t max_bytes) {
  if (payload.size() > max_bytes) {
    return Status(errc::resource_exhausted, "payload of " + std::to_string(payload.size()) +
                                                " bytes exceeds max_control_bytes (" +
                                                std::to_string(max_bytes) + ")");
  }
  const Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(errc::parse_error, "not valid JSON");
  if (!j.is_object()) return Status(errc::parse_error, "not a JSON object");
  auto command = json::String(j, "command");
  if (!command) return Status(errc::parse_error, "no `command` string");
  ControlMessage m;
  m.name = *command;
  if (m.name == "train-model") {
    m.command = ControlMessage::Command::kTrainModel;
  } else if (m.name == "extract-data") {
    m.command = ControlMessage::Command::kExtractData;
  } else if (m.name == "download-model" || m.name == "set-actuator" || m.name == "rollback-model" ||
             m.name == "report-status") {
    m.command = ControlMessage::Command::kDeviceCommand;
    return m;
  } else {
    return Status(errc::unsupported,
                  "unknown command `" + m.name.substr(0, 64) + "` (train-model, extract-data)");
  }
  const Json* payload_obj = json::Find(j, "payload");
  if (payload_obj != nullptr && !payload_obj->is_null()) {
    if (!payload_obj->is_object()) return Bad("`payload` must be an object");
    if (json::Has(j, "model") || json::Has(j, "params")) {
      return Bad("`model`/`params` go either in `payload` or at the top level, not both");
    }
  }
  const Json& source = payload_obj != nullptr && payload_obj->is_object() ? *payload_obj : j;
  auto request =
      ParseRunRequest(source, /*strict=*/payload_obj != nullptr && payload_obj->is_object());
  if (!request.ok()) return request.status();
  m.request = std::move(*request);
  if (m.request.request_id.empty()) {
    if (auto id = json::String(j, "id"); id && id->size() <= 128) m.request.request_id = *id;
  }
  return m;
}

std::string_view ControlRejectLabel(const Status& s) {
  if (s.code() == errc::resource_exhausted) return "oversized";
  if (s.code() == errc::parse_error) return "malformed";
  if (s.code() == errc::unsupported) return "unknown_command";
  return "bad_field";
}

}  // namespace aiot::pipeline
