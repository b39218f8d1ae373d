#pragma once

// Maintenance records' shared rules: the kinds and the fields of one JSON record, as the datastore
// reads them (POST /api/v1/data/maintenance, the maintenance topic: datastore/maintenance_json.h)
// and as `aiot train --task time_to_failure` reads the datastore's JSON (ml/data/ttf.h).
// Header-only and without SQLite, so the ml library (and its fuzz targets) use the same rules as
// the datastore.
//
// One record: {"device":"fan-0001","kind":"failure","at":"2026-01-01T06:00:00Z",...}
//   `device`  a non-empty string; `deviceID` (the telemetry's key) is read when `device` is absent
//   `kind`    failure, repair or inspection; absent or null = failure
//   `at`      RFC 3339 (a time without a zone is UTC); `failure_at` is the older form of a
//             failure's `at` (read when `at` is absent and the kind is failure)
// Other members are the caller's (the datastore reads `mode` and `note`; the trainer ignores them).
// The input is hostile: nothing here throws.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/errc.h"
#include "base/json.h"
#include "base/result.h"

namespace aiot {

// What a maintenance record says happened to a device: it failed, it was repaired (or replaced),
// or it was inspected (documentation only: no effect on labels or times to failure).
enum class MaintenanceKind { kFailure, kRepair, kInspection };

inline constexpr const char* kMaintenanceKindNames[] = {"failure", "repair", "inspection"};

inline const char* MaintenanceKindName(MaintenanceKind kind) {
  return kMaintenanceKindNames[static_cast<size_t>(kind)];
}

inline bool ParseMaintenanceKind(std::string_view name, MaintenanceKind* out) {
  for (size_t i = 0; i < std::size(kMaintenanceKindNames); ++i) {
    if (name == kMaintenanceKindNames[i]) {
      *out = static_cast<MaintenanceKind>(i);
      return true;
    }
  }
  return false;
}

// The fields every reader of a record takes.
struct MaintenanceFields {
  std::string device;
  MaintenanceKind kind = MaintenanceKind::kFailure;
  int64_t at = 0;  // unix nanos
};

// Reads `device`, `kind` and `at` of one record under the rules above. errc::invalid_argument
// naming the field ("`kind` must be failure, repair or inspection"); callers add where (the
// datastore answers 400, the trainer prefixes the record's number).
inline Status ReadMaintenanceFields(const nlohmann::json& r, MaintenanceFields* out) {
  auto bad = [](std::string what) { return Status(errc::invalid_argument, std::move(what)); };
  if (!r.is_object()) return bad("a maintenance record must be a JSON object");
  auto device = json::String(r, "device");
  if (!device) device = json::String(r, "deviceID");
  if (!device) return bad("`device` must be a string");
  if (device->empty()) return bad("empty device id");
  out->device = std::move(*device);
  out->kind = MaintenanceKind::kFailure;
  if (json::Has(r, "kind")) {
    const auto kind = json::String(r, "kind");
    if (!kind || !ParseMaintenanceKind(*kind, &out->kind)) {
      return bad("`kind` must be failure, repair or inspection");
    }
  }
  const std::string at_key =
      !json::Has(r, "at") && json::Has(r, "failure_at") && out->kind == MaintenanceKind::kFailure
          ? "failure_at"
          : "at";
  const auto at = json::String(r, at_key);
  if (!at) return bad("`" + at_key + "` must be a string (an RFC 3339 time)");
  if (!ParseTimestamp(*at, &out->at, MissingZone::kUtc)) {
    return bad("`" + at_key + "`: `" + at->substr(0, 64) + "` is not a time");
  }
  return Status::Ok();
}

}  // namespace aiot
