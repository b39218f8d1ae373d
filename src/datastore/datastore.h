#pragma once

#include <cstdint>
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "datastore/datastore_config.h"
#include "datastore/telemetry_row.h"

namespace aiot::datastore {

struct MaintenanceRecord {
  std::string device;
  int64_t failure_at = 0;  // unix nanos
  std::string mode;        // e.g. "bearing", "imbalance"
};

struct ExportRequest {
  int64_t from = 0;                  // unix nanos, inclusive
  int64_t to = INT64_MAX;            // unix nanos, exclusive
  std::vector<std::string> devices;  // empty = all
};

// The training datastore: telemetry rows appended in batches, maintenance records that label the
// rows after the fact, CSV export for `aiot train`, retention.
//
// Storage: <data_dir>/datastore.db (SQLite WAL). Thread-safe: a mutex serializes access.
class TrainingDatastore {
 public:
  // `data_dir` holds datastore.db (the registry's data_dir in `aiot up`); created on Open().
  // `config.fields` are the telemetry columns (rows' values in that order).
  TrainingDatastore(std::string data_dir, DatastoreConfig config,
                    const Clock& clock = SystemClock::Instance());

  // invalid_argument when config.fields or config.label are not a valid telemetry::FieldSchema.
  Status Open();

  // Appends rows in one transaction with one prepared statement.
  Status Append(std::span<const TelemetryRow> rows);
  // aiot::errc::invalid_argument, saying which, for a bad device id or a mode over 256 bytes.
  Status AddMaintenance(const MaintenanceRecord& record);
  Result<std::vector<MaintenanceRecord>> Maintenance(std::string_view device = {});

  // Writes CSV with the header DeviceID, Time, the schema's fields (config.fields) and its label
  // (config.label, when not empty); for the fan's schema
  //   DeviceID,Time,rotation,temperature,vibration,sound,faulty
  // Time as "YYYY-MM-DD HH:MM:SS" (UTC); an absent value is an empty cell. The label is 1 when the
  // device has a maintenance record with failure_at in [ts, ts + label_window_s], else 0. Ordered
  // by time. Returns the row count; aiot::errc::invalid_argument naming a bad device id in
  // `req.devices`.
  Result<int64_t> ExportCsv(const ExportRequest& req, std::ostream& out);

  // Deletes telemetry older than now - retention_days (no-op when 0). Returns rows deleted.
  Result<int64_t> ApplyRetention();
  Result<int64_t> CountRows();

 private:
  Status AddFieldColumns();

  std::string data_dir_;
  DatastoreConfig config_;
  const Clock& clock_;
  std::mutex mu_;
  sqlite::Db db_;
  sqlite::Stmt insert_;
};

}  // namespace aiot::datastore
