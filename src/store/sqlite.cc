#include "store/sqlite.h"

#include <cmath>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::store {
namespace {

std::error_code FromSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make_error_code(errc::unavailable);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return make_error_code(errc::corrupted);
    case SQLITE_FULL:
      return make_error_code(errc::resource_exhausted);
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return make_error_code(errc::permission_denied);
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
      return make_error_code(errc::invalid_argument);
    default:
      return make_error_code(errc::io_error);
  }
}

}  // namespace

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
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
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

bool Stmt::Step(Status* status) {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    if (status) *status = FromSqlite(rc);
    log::Get("store")->warn("sqlite step: {}", sqlite3_errmsg(sqlite3_db_handle(s_)));
  }
  sqlite3_reset(s_);
  return false;
}

Status Stmt::Exec() {
  int rc = sqlite3_step(s_);
  while (rc == SQLITE_ROW) rc = sqlite3_step(s_);
  Status st;
  if (rc != SQLITE_DONE) {
    log::Get("store")->warn("sqlite exec: {}", sqlite3_errmsg(sqlite3_db_handle(s_)));
    st = FromSqlite(rc);
  }
  sqlite3_reset(s_);
  return st;
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

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Result<Db> Db::Open(const std::string& path, bool read_only) {
  Db db;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    log::Get("store")->error("cannot open {}: {}", path, db.LastError());
    return FromSqlite(rc);
  }
  sqlite3_busy_timeout(db.db_, 5000);
  return db;
}

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    log::Get("store")->error("sqlite: {} in `{}`", err ? err : "?", sql);
    sqlite3_free(err);
    return FromSqlite(rc);
  }
  return {};
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    log::Get("store")->error("sqlite prepare: {} in `{}`", LastError(), sql);
    return FromSqlite(rc);
  }
  return Stmt(s);
}

}  // namespace aiot::store
