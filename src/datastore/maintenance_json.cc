#include "datastore/maintenance_json.h"

#include "base/clock.h"
#include "base/errc.h"
#include "base/json.h"

namespace aiot::datastore {
namespace {

Status Bad(std::string what) { return {errc::invalid_argument, std::move(what)}; }

}  // namespace

Result<MaintenanceRecord> MaintenanceFromJson(const nlohmann::json& body) {
  if (!body.is_object()) return Bad("a maintenance record must be a JSON object");
  MaintenanceRecord r;
  auto device = json::String(body, "device");
  if (!device) device = json::String(body, "deviceID");
  if (!device) return Bad("`device` must be a string");
  r.device = std::move(*device);
  if (json::Has(body, "kind")) {
    auto kind = json::String(body, "kind");
    if (!kind || !ParseMaintenanceKind(*kind, &r.kind)) {
      return Bad("`kind` must be failure, repair or inspection");
    }
  }
  std::string_view at_key = json::Has(body, "at") ? "at" : "failure_at";
  if (at_key == "failure_at" && r.kind != MaintenanceKind::kFailure) at_key = "at";
  auto at = json::String(body, at_key);
  if (!at || !ParseTimestamp(*at, &r.at)) {
    return Bad("`" + std::string(at_key) + "` must be an RFC 3339 time");
  }
  for (auto [key, out] : {std::pair{"mode", &r.mode}, std::pair{"note", &r.note}}) {
    if (!json::Has(body, key)) continue;
    auto v = json::String(body, key);
    if (!v) return Bad("`" + std::string(key) + "` must be a string");
    *out = std::move(*v);
  }
  return r;
}

Result<MaintenanceRecord> ParseMaintenanceJson(std::string_view text) {
  auto body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Bad("a maintenance record must be JSON");
  return MaintenanceFromJson(body);
}

nlohmann::json ToJson(const MaintenanceRecord& r) {
  nlohmann::json j = {{"device", r.device},
                      {"kind", MaintenanceKindName(r.kind)},
                      {"at", FormatTimestamp(r.at)},
                      {"mode", r.mode}};
  if (!r.note.empty()) j["note"] = r.note;
  if (!r.source.empty()) j["source"] = r.source;
  if (r.recorded_at != 0) j["recorded_at"] = FormatTimestamp(r.recorded_at);
  return j;
}

}  // namespace aiot::datastore
