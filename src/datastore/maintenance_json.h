#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/result.h"
#include "datastore/datastore.h"

// Maintenance records as JSON, one format for the HTTP API (POST /api/v1/data/maintenance) and
// the maintenance topic (datastore.maintenance_topic):
//   {"device":"fan-0001","kind":"failure","at":"2026-01-01T06:00:00Z","mode":"bearing",
//    "note":"replaced bearing 6204"}
// `device` may be `deviceID` (the telemetry's key); `kind` is failure (the default), repair or
// inspection; `at` is RFC 3339 (a time without a zone is UTC). `failure_at` is the older form of a
// failure's `at`. Those rules are base/maintenance.h's (`ReadMaintenanceFields`), which the
// trainer's reader of this JSON (ml/data/ttf.h) uses too. Sans-I/O; the input is hostile: never
// throws.
namespace aiot::datastore {

// invalid_argument saying what is wrong (the datastore checks the device id and sizes).
Result<MaintenanceRecord> ParseMaintenanceJson(std::string_view text);
Result<MaintenanceRecord> MaintenanceFromJson(const nlohmann::json& body);

// {"device","kind","at","mode","note","source","recorded_at"} with RFC 3339 times.
nlohmann::json ToJson(const MaintenanceRecord& r);

}  // namespace aiot::datastore
