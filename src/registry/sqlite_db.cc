#include "registry/sqlite_db.h"

#include "base/errc.h"
#include "base/log.h"

namespace aiot::registry {
namespace {

std::error_code FromSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return make_error_code(errc::already_exists);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make_error_code(errc::unavailable);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return make_error_code(errc::corrupted);
    case SQLITE_FULL:
      return make_error_code(errc::resource_exhausted);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return make_error_code(errc::io_error);
    default:
      return make_error_code(errc::internal);
  }
}

}  // namespace

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Status Database::Open(const std::string& path) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    log::Get("registry")->error("sqlite open {}: {}", path, db_ ? sqlite3_errmsg(db_) : "?");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return FromSqlite(rc);
  }
  sqlite3_busy_timeout(db_, 5000);
  return Exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
      "PRAGMA temp_store=MEMORY;");
}

Status Database::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    log::Get("registry")->error("sqlite exec failed: {}", err ? err : "?");
    sqlite3_free(err);
    return FromSqlite(rc);
  }
  return Status::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    log::Get("registry")->error("sqlite prepare failed: {} in {}", sqlite3_errmsg(db_), sql);
    return FromSqlite(rc);
  }
  return Statement(stmt);
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, std::string_view v) {
  // A default-constructed string_view has data() == nullptr, which SQLite would bind as NULL.
  sqlite3_bind_text(stmt_, i, v.data() ? v.data() : "", static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  log::Get("registry")->debug("sqlite step: {}", sqlite3_errmsg(sqlite3_db_handle(stmt_)));
  std::error_code ec = FromSqlite(rc);
  sqlite3_reset(stmt_);
  return ec;
}

Status Statement::Run() {
  auto r = Step();
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (!r.ok()) return r.error();
  return Status::Ok();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Transaction::Transaction(Database& db) : db_(db) { begin_ = db_.Exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (begin_.ok() && !done_) (void)db_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
  Status s = db_.Exec("COMMIT");
  if (s.ok()) done_ = true;
  return s;
}

}  // namespace aiot::registry
