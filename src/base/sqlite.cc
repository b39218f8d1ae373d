#include "base/sqlite.h"

#include <cmath>
#include <string>

#include "base/errc.h"

namespace aiot::sqlite {

std::error_code ErrorFromSqlite(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return make_error_code(errc::already_exists);
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return make_error_code(errc::invalid_argument);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make_error_code(errc::unavailable);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return make_error_code(errc::corrupted);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return make_error_code(errc::resource_exhausted);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return make_error_code(errc::permission_denied);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return make_error_code(errc::io_error);
    default:
      return make_error_code(errc::internal);
  }
}

// ---- Stmt ----

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, double v) {
  if (std::isnan(v)) {
    sqlite3_bind_null(s_, i);
  } else {
    sqlite3_bind_double(s_, i, v);
  }
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view v) {
  // A default-constructed string_view has data() == nullptr, which SQLite would bind as NULL.
  sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

namespace {

// The error of the last call on `db`, with what SQLite said about it as the message.
Status LastStatus(sqlite3* db) {
  return Status(ErrorFromSqlite(sqlite3_extended_errcode(db)), sqlite3_errmsg(db));
}

}  // namespace

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  sqlite3_reset(s_);
  if (rc == SQLITE_DONE) return false;
  return LastStatus(sqlite3_db_handle(s_));
}

Status Stmt::Run() {
  int rc = sqlite3_step(s_);
  while (rc == SQLITE_ROW) rc = sqlite3_step(s_);
  Status status;
  if (rc != SQLITE_DONE) status = LastStatus(sqlite3_db_handle(s_));
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  return status;
}

void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string_view Stmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  if (!p) return {};
  return {p, static_cast<size_t>(sqlite3_column_bytes(s_, col))};
}

// ---- Db ----

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Result<Db> Db::Open(const std::string& path, const OpenOptions& options) {
  Db db;
  int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    // sqlite3_open_v2 may allocate a handle even on failure; Db's destructor closes it.
    return Status(ErrorFromSqlite(rc), path + ": " + sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(db.db_, 1);
  sqlite3_busy_timeout(db.db_, options.busy_timeout_ms);
  if (options.wal && !options.read_only) {
    std::string pragmas =
        "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
        "PRAGMA synchronous=";
    pragmas += options.synchronous;
    pragmas += ';';
    if (Status st = db.Exec(pragmas); !st.ok()) return st.Prefix(path);
  }
  return db;
}

Status Db::Exec(std::string_view sql) {
  const std::string s(sql);
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return LastStatus(db_);
  return Status::Ok();
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return LastStatus(db_);
  return Stmt(s);
}

// ---- Transaction ----

Transaction::Transaction(Db& db) : db_(db) { begin_ = db_.Exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (begin_.ok() && !done_) (void)db_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
  Status s = db_.Exec("COMMIT");
  if (s.ok()) done_ = true;
  return s;
}

}  // namespace aiot::sqlite
