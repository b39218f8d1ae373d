// TelemetryStore's schema: the config it needs, creating and migrating the tables (a column per
// configured field), the writer's prepared statements, and the field catalogue (name -> id, kind).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "base/errc.h"
#include "store/telemetry_store.h"
#include "store/telemetry_store_internal.h"

namespace aiot::store {
namespace {

using internal::ColumnName;
using internal::IsAnomalyField;
using internal::SqlError;

bool ValidFieldName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Pragmas and tables (README.md, "Schema").
constexpr const char* kSchemaSql = R"(
    PRAGMA journal_mode=WAL;
    PRAGMA synchronous={};
    PRAGMA cache_size=-{};
    PRAGMA temp_store=MEMORY;
    PRAGMA wal_autocheckpoint=4096;
    CREATE TABLE IF NOT EXISTS devices(
      id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, first_seen INTEGER, last_seen INTEGER,
      online INTEGER, model TEXT, status TEXT, status_ts INTEGER);
    CREATE TABLE IF NOT EXISTS fields(
      id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS telemetry(
      device INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(device, ts)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS telemetry_extra(
      device INTEGER NOT NULL, field INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL,
      PRIMARY KEY(device, field, ts)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS anomaly(
      device INTEGER NOT NULL, ts INTEGER NOT NULL, fault INTEGER, score REAL, level INTEGER,
      model TEXT, PRIMARY KEY(device, ts)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS anomaly_alerting ON anomaly(ts) WHERE level > 0;
    CREATE TABLE IF NOT EXISTS rollup_1m(
      device INTEGER NOT NULL, field INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER,
      sum REAL, min REAL, max REAL, last REAL, PRIMARY KEY(device, field, bucket)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS events(
      id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, device TEXT,
      level INTEGER, payload TEXT);
    CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
  )";

// Inserts a telemetry row, merging with an existing one of the same (device, ts): a field the new
// row lacks keeps its old value.
std::string TelemetryUpsertSql(const std::vector<std::string>& columns) {
  if (columns.empty()) return "INSERT OR IGNORE INTO telemetry(device,ts) VALUES(?,?)";
  std::string cols, marks, updates;
  for (const auto& c : columns) {
    cols += "," + ColumnName(c);
    marks += ",?";
    if (!updates.empty()) updates += ',';
    updates += fmt::format("{0}=coalesce(excluded.{0},{0})", ColumnName(c));
  }
  return fmt::format(
      "INSERT INTO telemetry(device,ts{}) VALUES(?,?{}) ON CONFLICT(device,ts) DO UPDATE SET {}",
      cols, marks, updates);
}

std::string TelemetryRowsSql(const std::vector<std::string>& columns) {
  std::string cols;
  for (const auto& c : columns) cols += "," + ColumnName(c);
  return fmt::format("SELECT ts{} FROM telemetry WHERE device=? AND ts>=? AND ts<? ORDER BY ts",
                     cols);
}

}  // namespace

Status TelemetryStore::Init() {
  if (Status st = CheckConfig(); !st) return st;
  auto db = sqlite::Db::Open(config_.path);
  if (!db) return Status(db.error(), fmt::format("cannot open {}", config_.path));
  writer_ = std::make_unique<Writer>();
  writer_->db = std::move(*db);
  if (Status st = CreateTables(writer_->db); !st) return st;
  auto columns = MigrateColumns(writer_->db);
  if (!columns) return columns.status();
  schema_ = FieldSchema(*columns);
  if (Status st = PrepareWriterStatements(*columns); !st) return st;
  if (Status st = LoadFieldCatalogue(*columns); !st) return st;
  writer_->last_rollup = writer_->last_retention = std::chrono::steady_clock::now();
  return {};
}

Status TelemetryStore::CheckConfig() const {
  if (config_.path.empty() || config_.path == ":memory:") {
    return {errc::invalid_argument, "store.path must name a file (WAL needs one)"};
  }
  for (const auto& f : config_.fields) {
    if (!ValidFieldName(f) || IsAnomalyField(f)) {
      return {errc::invalid_argument,
              fmt::format("store.fields: `{}` is not a valid field name (letters, digits, _; not "
                          "score/fault/level)",
                          f)};
    }
  }
  return {};
}

Status TelemetryStore::CreateTables(sqlite::Db& db) {
  if (Status st = db.Exec(fmt::format(kSchemaSql, NameOf(kSynchronousNames, config_.synchronous),
                                      config_.cache_kib));
      !st) {
    return SqlError(db, st, fmt::format("create the tables of {}", config_.path));
  }
  return {};
}

// Columns: those already in the file (in file order), then configured ones not yet there, added.
Result<std::vector<std::string>> TelemetryStore::MigrateColumns(sqlite::Db& db) {
  std::vector<std::string> columns;
  auto info = db.Prepare("PRAGMA table_info(telemetry)");
  if (!info) return SqlError(db, info.status(), "read the telemetry columns");
  for (;;) {
    auto row = info->Step();
    if (!row) return SqlError(db, row.status(), "read the telemetry columns");
    if (!*row) break;
    std::string_view name = info->Text(1);
    if (name.substr(0, 2) == "f_") columns.emplace_back(name.substr(2));
  }
  for (const auto& f : config_.fields) {
    if (std::find(columns.begin(), columns.end(), f) != columns.end()) continue;
    if (Status st = db.Exec(fmt::format("ALTER TABLE telemetry ADD COLUMN {} REAL", ColumnName(f)));
        !st) {
      return SqlError(db, st, fmt::format("add the column of field `{}`", f));
    }
    columns.push_back(f);
  }
  if (columns.size() > kMaxColumns) {
    return Status(errc::invalid_argument,
                  fmt::format("store.fields: at most {} column fields (the file has {})",
                              kMaxColumns, columns.size()));
  }
  return columns;
}

Status TelemetryStore::PrepareWriterStatements(const std::vector<std::string>& columns) {
  Writer& wr = *writer_;
  // A flat table of statement -> SQL.
  for (auto [stmt, sql] : std::initializer_list<std::pair<sqlite::Stmt*, std::string>>{
           {&wr.begin, "BEGIN"},
           {&wr.commit, "COMMIT"},
           {&wr.rollback, "ROLLBACK"},
           {&wr.insert_telemetry, TelemetryUpsertSql(columns)},
           {&wr.insert_extra,
            "INSERT OR REPLACE INTO telemetry_extra(device,field,ts,value) VALUES(?,?,?,?)"},
           {&wr.insert_anomaly,
            "INSERT OR REPLACE INTO anomaly(device,ts,fault,score,level,model) "
            "VALUES(?,?,?,?,?,?)"},
           {&wr.insert_event, "INSERT INTO events(ts,kind,device,level,payload) VALUES(?,?,?,?,?)"},
           {&wr.update_status,
            "UPDATE devices SET online=?,model=?,status=?,status_ts=? WHERE id=?"},
           {&wr.touch_device,
            "UPDATE devices SET last_seen=max(coalesce(last_seen,?1),?1) WHERE id=?2"},
           {&wr.insert_device,
            "INSERT INTO devices(name,first_seen) VALUES(?,?) ON CONFLICT(name) DO NOTHING"},
           {&wr.select_device, "SELECT id FROM devices WHERE name=?"},
           {&wr.insert_field,
            "INSERT INTO fields(name,kind) VALUES(?,?) ON CONFLICT(name) DO NOTHING"},
           {&wr.select_field, "SELECT id, kind FROM fields WHERE name=?"},
           {&wr.select_rows, TelemetryRowsSql(columns)},
           {&wr.select_anomaly_rows,
            "SELECT ts,score,fault,level FROM anomaly WHERE device=? AND ts>=? AND ts<? "
            "ORDER BY ts"},
           {&wr.select_extra_rows,
            "SELECT ts,value FROM telemetry_extra WHERE device=? AND field=? AND ts>=? AND ts<? "
            "ORDER BY ts"},
           {&wr.insert_rollup,
            "INSERT OR REPLACE INTO rollup_1m(device,field,bucket,n,sum,min,max,last) "
            "VALUES(?,?,?,?,?,?,?,?)"},
       }) {
    auto r = wr.db.Prepare(sql);
    if (!r) return SqlError(wr.db, r.status(), fmt::format("prepare `{}`", sql));
    *stmt = std::move(*r);
  }
  return {};
}

// Ids of the column and anomaly fields (registered when new), then every field in the file.
Status TelemetryStore::LoadFieldCatalogue(const std::vector<std::string>& columns) {
  Writer& wr = *writer_;
  for (const auto& c : columns) {
    auto id = FieldId(c, "column");
    if (!id) return id.status();
    wr.column_field_ids.push_back(*id);
  }
  for (const char* f : internal::kAnomalyFields) {
    auto id = FieldId(f, "anomaly");
    if (!id) return id.status();
    wr.anomaly_field_ids.push_back(*id);
  }
  auto all = wr.db.Prepare("SELECT id, name, kind FROM fields");
  if (!all) return SqlError(wr.db, all.status(), "read the fields");
  std::lock_guard lk(fields_mu_);
  for (;;) {
    auto row = all->Step();
    if (!row) return SqlError(wr.db, row.status(), "read the fields");
    if (!*row) break;
    fields_[std::string(all->Text(1))] = {all->Int(0), std::string(all->Text(2))};
  }
  return {};
}

// The id of field `name`, registered as `kind` when new. Writer thread (and Init).
Result<int64_t> TelemetryStore::FieldId(std::string_view name, std::string_view kind) {
  {
    std::lock_guard lk(fields_mu_);
    auto it = fields_.find(name);
    if (it != fields_.end()) return it->second.first;
  }
  Writer& wr = *writer_;
  wr.insert_field.Bind(1, name).Bind(2, kind);
  if (Status st = wr.insert_field.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("register field `{}`", name));
  }
  wr.select_field.Bind(1, name);
  auto row = wr.select_field.Step();
  if (!row) return SqlError(wr.db, row.status(), fmt::format("read the id of field `{}`", name));
  if (!*row) return Status(errc::internal, fmt::format("field `{}` vanished", name));
  int64_t id = wr.select_field.Int(0);
  std::string stored_kind(wr.select_field.Text(1));
  wr.select_field.Reset();
  std::lock_guard lk(fields_mu_);
  fields_[std::string(name)] = {id, stored_kind};
  return id;
}

}  // namespace aiot::store
