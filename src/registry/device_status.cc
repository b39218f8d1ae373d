#include "registry/device_status.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/errc.h"

namespace aiot::registry {
namespace {

using Json = nlohmann::json;

bool GetString(const Json& obj, const char* key, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get_ref<const std::string&>();
  return true;
}

}  // namespace

Result<DeviceStatus> ParseDeviceStatus(std::string_view json) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return errc::parse_error;
  DeviceStatus s;
  if (auto it = j.find("online"); it != j.end()) {
    if (!it->is_boolean()) return errc::parse_error;
    s.has_online = true;
    s.online = it->get<bool>();
  }
  if (!GetString(j, "model", &s.model)) return errc::parse_error;
  if (auto it = j.find("ota"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return errc::parse_error;
    if (!GetString(*it, "rollout", &s.ota_rollout) || !GetString(*it, "state", &s.ota_state) ||
        !GetString(*it, "error", &s.ota_error)) {
      return errc::parse_error;
    }
    if (auto v = it->find("version"); v != it->end() && !v->is_null()) {
      if (!v->is_number_integer()) return errc::parse_error;
      s.ota_version = v->get<int64_t>();
    }
  }
  return s;
}

bool SplitModelRef(std::string_view ref, std::string* name, int64_t* version) {
  size_t at = ref.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= ref.size()) return false;
  int64_t v = 0;
  for (char c : ref.substr(at + 1)) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *name = std::string(ref.substr(0, at));
  *version = v;
  return true;
}

Status ParseTelemetry(std::string_view json, TelemetryRow* row) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return errc::parse_error;
  auto id = j.find("deviceID");
  if (id == j.end()) return errc::parse_error;
  if (id->is_string()) {
    row->device = id->get_ref<const std::string&>();
  } else if (id->is_number_integer()) {
    row->device = std::to_string(id->get<int64_t>());
  } else {
    return errc::parse_error;
  }
  if (row->device.empty()) return errc::parse_error;
  auto ts = j.find("timeStamp");
  if (ts == j.end() || !ts->is_string()) return errc::parse_error;
  const std::string& text = ts->get_ref<const std::string&>();
  // The reference data set writes naive "YYYY-MM-DD HH:MM:SS" times; they are UTC.
  bool naive = text.size() == 19 || (text.size() > 19 && text[19] == '.' &&
                                     text.find_first_of("Z+", 19) == std::string::npos &&
                                     text.find('-', 19) == std::string::npos);
  if (!ParseTimestamp(naive ? text + "Z" : text, &row->ts)) return errc::parse_error;
  auto num = [&](const char* key, double* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      *out = std::nan("");
      return true;
    }
    if (!it->is_number()) return false;
    *out = it->get<double>();
    return true;
  };
  if (!num("rotation", &row->rotation) || !num("temperature", &row->temperature) ||
      !num("vibration", &row->vibration) || !num("sound", &row->sound)) {
    return errc::parse_error;
  }
  return Status::Ok();
}

}  // namespace aiot::registry
