#include "datastore/maintenance_json.h"

#include "base/clock.h"
#include "base/errc.h"
#include "base/json.h"
#include "base/maintenance.h"

namespace aiot::datastore {
namespace {

Status Bad(std::string what) { return {errc::invalid_argument, std::move(what)}; }

}  // namespace

Result<MaintenanceRecord> MaintenanceFromJson(const nlohmann::json& body) {
  MaintenanceFields f;  // device, kind, at: base/maintenance.h's rules, shared with the trainer
  if (Status st = ReadMaintenanceFields(body, &f); !st.ok()) return st;
  MaintenanceRecord r;
  r.device = std::move(f.device);
  r.kind = f.kind;
  r.at = f.at;
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
