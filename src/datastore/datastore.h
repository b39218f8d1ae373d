#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/maintenance.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "datastore/datastore_config.h"
#include "datastore/telemetry_row.h"

namespace aiot::datastore {

// What a maintenance record says happened to a device (failure, repair, inspection): the kinds
// and their names are base/maintenance.h's, shared with the trainer's record reader.
using aiot::MaintenanceKind;
using aiot::MaintenanceKindName;  // "failure", "repair", "inspection"
using aiot::ParseMaintenanceKind;

// One maintenance record (a CMMS work order, an operator's note, the simulator's report). A
// record is identified by (device, kind, at): adding the same one again changes nothing, so a
// source may redeliver (MQTT QoS 1, a retried POST).
struct MaintenanceRecord {
  std::string device;
  int64_t at = 0;    // when it happened, unix nanos
  std::string mode;  // failure mode or work done, e.g. "bearing", "imbalance"; may be empty
  MaintenanceKind kind = MaintenanceKind::kFailure;
  std::string note{};       // free text, up to 1024 bytes
  std::string source{};     // who reported it ("api:<principal>", "mqtt", "sim"), up to 256 bytes
  int64_t recorded_at = 0;  // set by the datastore
};

struct MaintenanceQuery {
  std::string device;  // empty = all
  std::optional<MaintenanceKind> kind;
  int64_t from = INT64_MIN;  // unix nanos, inclusive
  int64_t to = INT64_MAX;    // unix nanos, exclusive
  int64_t limit = 1000;      // newest first when limited
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
  // Adds a record; true when it is new, false when the same (device, kind, at) is already there.
  // aiot::errc::invalid_argument, saying which, for a bad device id, a mode or source over 256
  // bytes or a note over 1024.
  Result<bool> AddMaintenance(const MaintenanceRecord& record);
  // Records matching `query`, ordered by time (the newest `limit` of them).
  Result<std::vector<MaintenanceRecord>> Maintenance(const MaintenanceQuery& query = {});

  // Writes CSV with the header DeviceID, Time, the schema's fields (config.fields) and its label
  // (config.label, when not empty); for the fan's schema
  //   DeviceID,Time,rotation,temperature,vibration,sound,faulty
  // Time as "YYYY-MM-DD HH:MM:SS" (UTC); an absent value is an empty cell. The label follows
  // predictive maintenance practice: 1 when the device has a failure record at f with
  // ts <= f <= ts + label_window_s and no repair record in (ts, f): a repair ends the window of
  // the failure before it, so readings from a repair on are healthy unless the next failure's
  // horizon reaches them, and readings before a repair never count toward a later failure.
  // Else 0. Inspection records do not label. Ordered by time. Returns the row count;
  // aiot::errc::invalid_argument naming a bad device id in `req.devices`.
  Result<int64_t> ExportCsv(const ExportRequest& req, std::ostream& out);

  // Deletes telemetry older than now - retention_days (no-op when 0). Returns rows deleted.
  Result<int64_t> ApplyRetention();
  Result<int64_t> CountRows();
  // Labelled rows with a time at or after `from_ns` (unix nanos): every stored row is a labelled
  // row for training (its label comes from the maintenance records at export). The pipeline's
  // "N new labelled rows since the last run" trigger counts with it.
  Result<int64_t> CountRowsSince(int64_t from_ns);
  // Of those, the rows labelled positive now (ExportCsv's label: a failure recorded within
  // label_window_s after the row). A positive is final (its failure is recorded); a younger row of
  // a machine about to fail counts once its failure arrives. The pipeline's drift trigger waits
  // for them (triggers.drift.min_new_positives).
  Result<int64_t> CountPositivesSince(int64_t from_ns);

 private:
  Status AddFieldColumns();
  Status MigrateMaintenance();

  std::string data_dir_;
  DatastoreConfig config_;
  const Clock& clock_;
  std::mutex mu_;
  sqlite::Db db_;
  sqlite::Stmt insert_;
};

}  // namespace aiot::datastore
