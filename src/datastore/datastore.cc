#include "datastore/datastore.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iterator>

#include "base/artifact.h"
#include "base/csv.h"
#include "base/errc.h"
#include "base/log.h"

namespace aiot::datastore {
namespace {

// The telemetry table's field columns (REAL, one per schema field) are added by Open().
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS telemetry (
  ts INTEGER NOT NULL,
  device TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_ts ON telemetry(ts);
CREATE TABLE IF NOT EXISTS maintenance (
  device TEXT NOT NULL,
  at INTEGER NOT NULL,
  mode TEXT NOT NULL DEFAULT '',
  recorded_at INTEGER NOT NULL,
  kind TEXT NOT NULL DEFAULT 'failure',
  note TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT ''
);
)sql";

// After MigrateMaintenance: one record per (device, kind, at), so redelivery changes nothing.
constexpr const char* kMaintenanceIndexes = R"sql(
CREATE INDEX IF NOT EXISTS maintenance_device ON maintenance(device, at);
CREATE UNIQUE INDEX IF NOT EXISTS maintenance_key ON maintenance(device, kind, at);
)sql";

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) return;  // empty cell
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.6g", v);
  out.append(buf, static_cast<size_t>(n));
}

void AppendTime(std::string& out, int64_t nanos) {
  time_t secs = static_cast<time_t>(nanos / 1'000'000'000);
  if (nanos < 0 && nanos % 1'000'000'000 != 0) --secs;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  out.append(buf, n);
}

// A field's column, quoted (the names are telemetry::FieldSchema's: letters, digits, _).
std::string Column(std::string_view field) { return "\"" + std::string(field) + "\""; }

Status CheckFields(const DatastoreConfig& c) {
  telemetry::FieldSchema schema{c.fields, c.label};
  if (Status s = schema.Validate(); !s.ok()) {
    return {errc::invalid_argument, "training datastore: " + s.message()};
  }
  return Status::Ok();
}

Status CheckDevice(std::string_view id) {
  if (IsValidModelName(id)) return Status::Ok();
  return {errc::invalid_argument, "device id `" + std::string(id.substr(0, 80)) +
                                      "` must be 1..64 of [A-Za-z0-9._-], start with a letter or "
                                      "digit, no `..`"};
}

}  // namespace

TrainingDatastore::TrainingDatastore(std::string data_dir, DatastoreConfig config,
                                     const Clock& clock)
    : data_dir_(std::move(data_dir)), config_(std::move(config)), clock_(clock) {}

Status TrainingDatastore::Open() {
  if (Status s = CheckFields(config_); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  std::lock_guard lock(mu_);
  if (auto db = sqlite::Db::Open(data_dir_ + "/datastore.db", {.wal = true}); db.ok()) {
    db_ = std::move(*db);
  } else {
    return db.status();
  }
  if (Status s = db_.Exec(kSchema); !s.ok()) return s;
  if (Status s = MigrateMaintenance(); !s.ok()) return s;
  if (Status s = db_.Exec(kMaintenanceIndexes); !s.ok()) return s;
  if (Status s = AddFieldColumns(); !s.ok()) return s;
  std::string sql = "INSERT INTO telemetry (ts, device";
  for (const auto& f : config_.fields) sql += ", " + Column(f);
  sql += ") VALUES (?,?";
  for (size_t i = 0; i < config_.fields.size(); ++i) sql += ",?";
  auto st = db_.Prepare(sql + ")");
  if (!st.ok()) return st.status();
  insert_ = std::move(*st);
  return Status::Ok();
}

// A column per schema field; a field the file lacks (a new schema) is added, columns of fields
// no longer in the schema are kept (and not exported).
Status TrainingDatastore::AddFieldColumns() {
  auto info = db_.Prepare("SELECT name FROM pragma_table_info('telemetry')");
  if (!info.ok()) return info.status();
  std::vector<std::string> have;
  Status listed =
      info->ForEachRow([&have](const sqlite::Stmt& row) { have.push_back(row.TextString(0)); });
  if (!listed.ok()) return listed;
  for (const auto& f : config_.fields) {
    if (std::find(have.begin(), have.end(), f) != have.end()) continue;
    if (Status s = db_.Exec("ALTER TABLE telemetry ADD COLUMN " + Column(f) + " REAL"); !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

// A file from before maintenance kinds had failures only, in `failure_at`: the column becomes
// `at`, the others are added with the defaults an old record means (a failure, no note), and
// duplicates (possible then) are dropped so the unique key can be built.
Status TrainingDatastore::MigrateMaintenance() {
  auto info = db_.Prepare("SELECT name FROM pragma_table_info('maintenance')");
  if (!info.ok()) return info.status();
  std::vector<std::string> have;
  Status listed =
      info->ForEachRow([&have](const sqlite::Stmt& row) { have.push_back(row.TextString(0)); });
  if (!listed.ok()) return listed;
  auto has = [&have](std::string_view c) {
    return std::find(have.begin(), have.end(), c) != have.end();
  };
  if (has("kind")) return Status::Ok();
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  std::string sql;
  if (has("failure_at")) {
    sql +=
        "DROP INDEX IF EXISTS maintenance_device;"
        "ALTER TABLE maintenance RENAME COLUMN failure_at TO at;";
  }
  sql +=
      "ALTER TABLE maintenance ADD COLUMN kind TEXT NOT NULL DEFAULT 'failure';"
      "ALTER TABLE maintenance ADD COLUMN note TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE maintenance ADD COLUMN source TEXT NOT NULL DEFAULT '';"
      "DELETE FROM maintenance WHERE rowid NOT IN "
      "(SELECT MIN(rowid) FROM maintenance GROUP BY device, kind, at);";
  if (Status s = db_.Exec(sql); !s.ok()) return s;
  log::Get("datastore")->info("maintenance records migrated: kinds (failure, repair, inspection)");
  return tx.Commit();
}

Status TrainingDatastore::Append(std::span<const TelemetryRow> rows) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  for (const TelemetryRow& r : rows) {
    insert_.Bind(1, r.ts).Bind(2, r.device);
    for (size_t i = 0; i < config_.fields.size(); ++i) {
      const int param = static_cast<int>(3 + i);
      if (i >= r.values.size() || std::isnan(r.values[i])) {
        insert_.BindNull(param);
      } else {
        insert_.Bind(param, r.values[i]);
      }
    }
    if (Status s = insert_.Run(); !s.ok()) return s;
  }
  return tx.Commit();
}

Result<bool> TrainingDatastore::AddMaintenance(const MaintenanceRecord& record) {
  if (Status s = CheckDevice(record.device); !s.ok()) return s;
  if (record.mode.size() > 256) return Status(errc::invalid_argument, "mode is over 256 bytes");
  if (record.source.size() > 256) {
    return Status(errc::invalid_argument, "source is over 256 bytes");
  }
  if (record.note.size() > 1024) return Status(errc::invalid_argument, "note is over 1024 bytes");
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "INSERT OR IGNORE INTO maintenance (device, at, mode, recorded_at, kind, note, source) "
      "VALUES (?,?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->Bind(1, record.device)
      .Bind(2, record.at)
      .Bind(3, record.mode)
      .Bind(4, clock_.NowNanos())
      .Bind(5, std::string_view(MaintenanceKindName(record.kind)))
      .Bind(6, record.note)
      .Bind(7, record.source);
  if (Status s = st->Run(); !s.ok()) return s;
  return db_.Changes() > 0;
}

Result<std::vector<MaintenanceRecord>> TrainingDatastore::Maintenance(const MaintenanceQuery& q) {
  if (!q.device.empty()) {
    if (Status s = CheckDevice(q.device); !s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "SELECT * FROM (SELECT device, at, mode, kind, note, source, recorded_at FROM maintenance "
      "WHERE (?1 = '' OR device = ?1) AND (?2 = '' OR kind = ?2) AND at >= ?3 AND at < ?4 "
      "ORDER BY at DESC LIMIT ?5) ORDER BY at");
  if (!st.ok()) return st.status();
  st->Bind(1, q.device)
      .Bind(2, std::string_view(q.kind ? MaintenanceKindName(*q.kind) : ""))
      .Bind(3, q.from)
      .Bind(4, q.to)
      .Bind(5, std::max<int64_t>(0, q.limit));
  std::vector<MaintenanceRecord> out;
  Status s = st->ForEachRow([&out](const sqlite::Stmt& row) {
    MaintenanceRecord r{row.TextString(0), row.Int(1), row.TextString(2)};
    ParseMaintenanceKind(row.TextString(3), &r.kind);
    r.note = row.TextString(4);
    r.source = row.TextString(5);
    r.recorded_at = row.Int(6);
    out.push_back(std::move(r));
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// The label of telemetry row `t` (ExportCsv's policy), with ?3 the label window in nanos: one
// expression for the export and for CountPositivesSince.
constexpr const char* kLabelSql =
    "EXISTS (SELECT 1 FROM maintenance f WHERE f.device = t.device AND f.kind = 'failure' "
    "AND f.at >= t.ts AND f.at <= t.ts + ?3 AND NOT EXISTS (SELECT 1 FROM maintenance r "
    "WHERE r.device = t.device AND r.kind = 'repair' AND r.at > t.ts AND r.at < f.at))";

}  // namespace

Result<int64_t> TrainingDatastore::ExportCsv(const ExportRequest& req, std::ostream& out) {
  std::string sql = "SELECT t.device, t.ts, ";
  for (const auto& f : config_.fields) sql += "t." + Column(f) + ", ";
  sql += kLabelSql;
  sql += " FROM telemetry t WHERE t.ts >= ?1 AND t.ts < ?2";
  if (!req.devices.empty()) {
    sql += " AND t.device IN (";
    for (size_t i = 0; i < req.devices.size(); ++i) {
      sql += (i ? ",?" : "?") + std::to_string(4 + i);
    }
    sql += ")";
  }
  sql += " ORDER BY t.ts";
  for (const auto& d : req.devices) {
    if (Status s = CheckDevice(d); !s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(sql);
  if (!st.ok()) return st.status();
  st->Bind(1, req.from).Bind(2, req.to).Bind(3, config_.label_window_s * 1'000'000'000);
  for (size_t i = 0; i < req.devices.size(); ++i) {
    st->Bind(static_cast<int>(4 + i), req.devices[i]);
  }
  std::string buf = "DeviceID,Time";
  for (const auto& f : config_.fields) {
    buf += ',';
    AppendCsvCell(buf, f);
  }
  if (!config_.label.empty()) {
    buf += ',';
    AppendCsvCell(buf, config_.label);
  }
  buf += '\n';
  const int label_column = static_cast<int>(2 + config_.fields.size());
  int64_t rows = 0;
  Status read = st->ForEachRow([&](const sqlite::Stmt& row) {
    AppendCsvCell(buf, row.Text(0));
    buf += ',';
    AppendTime(buf, row.Int(1));
    for (int c = 2; c < label_column; ++c) {
      buf += ',';
      if (!row.IsNull(c)) AppendNumber(buf, row.Double(c));
    }
    if (!config_.label.empty()) buf += row.Int(label_column) ? ",1" : ",0";
    buf += '\n';
    ++rows;
    if (buf.size() > 1 << 16) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  });
  if (!read.ok()) return read;
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!out) return errc::io_error;
  return rows;
}

Result<int64_t> TrainingDatastore::ApplyRetention() {
  if (config_.retention_days <= 0) return int64_t{0};
  int64_t cutoff =
      clock_.NowNanos() - static_cast<int64_t>(config_.retention_days) * 86400 * 1'000'000'000;
  std::lock_guard lock(mu_);
  auto st = db_.Prepare("DELETE FROM telemetry WHERE ts < ?");
  if (!st.ok()) return st.status();
  st->Bind(1, cutoff);
  if (Status s = st->Run(); !s.ok()) return s;
  int64_t n = db_.Changes();
  if (n > 0) log::Get("datastore")->info("retention deleted {} telemetry rows", n);
  return n;
}

Result<int64_t> TrainingDatastore::CountRows() {
  std::lock_guard lock(mu_);
  auto st = db_.Prepare("SELECT COUNT(*) FROM telemetry");
  if (!st.ok()) return st.status();
  auto r = st->Step();
  if (!r.ok()) return r.status();
  return st->Int(0);
}

Result<int64_t> TrainingDatastore::CountRowsSince(int64_t from_ns) {
  std::lock_guard lock(mu_);
  auto st = db_.Prepare("SELECT COUNT(*) FROM telemetry WHERE ts >= ?");
  if (!st.ok()) return st.status();
  st->Bind(1, from_ns);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  return st->Int(0);
}

Result<int64_t> TrainingDatastore::CountPositivesSince(int64_t from_ns) {
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(std::string("SELECT COUNT(*) FROM telemetry t WHERE t.ts >= ?1 AND ") +
                        kLabelSql);
  if (!st.ok()) return st.status();
  st->Bind(1, from_ns).Bind(3, config_.label_window_s * 1'000'000'000);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  return st->Int(0);
}

}  // namespace aiot::datastore
