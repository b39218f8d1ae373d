#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

// The one SQLite wrapper (target `aiot_sqlite`): RAII connection, prepared statements and
// transactions over the C API, with one mapping of SQLite's result codes onto `errc`. Errors are
// returned, never logged here: each carries what SQLite said as its message (Status::message()),
// and the caller that handles one decides whether it is worth a log line.
//
// Not thread-safe: a Db and its statements belong to one thread at a time (an owner serializes
// access with its own mutex, or keeps one connection per thread).
namespace aiot::sqlite {

// SQLite result code -> errc, one rule for every module:
//   UNIQUE / PRIMARY KEY constraint -> already_exists; other constraints (CHECK, NOT NULL,
//   FOREIGN KEY) and type mismatches -> invalid_argument; BUSY / LOCKED -> unavailable;
//   CORRUPT / NOTADB -> corrupted; FULL -> resource_exhausted; PERM / READONLY ->
//   permission_denied; IOERR / CANTOPEN -> io_error; anything else -> internal.
std::error_code ErrorFromSqlite(int extended_rc);

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  explicit operator bool() const { return s_ != nullptr; }
  sqlite3_stmt* get() const { return s_; }

  // Bind indexes are 1-based (as in SQLite).
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);            // NaN binds NULL
  Stmt& Bind(int i, std::string_view v);  // a null string_view binds '' (not NULL)
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i);

  // Steps once: true when a row is available, false when done (the statement is then reset and
  // can be stepped again with the same bindings). An error resets it too.
  Result<bool> Step();
  // Steps to completion, then resets and clears the bindings; for statements without rows.
  Status Run();
  // Steps through every row, calling `row(*this)` on each; the first error stops it and is
  // returned (the rows before it were seen: a caller that must see all of them checks the result).
  template <class F>
  Status ForEachRow(F&& row) {
    while (true) {
      auto r = Step();
      if (!r.ok()) return r.status();
      if (!*r) return Status::Ok();
      row(*this);
    }
  }
  // Resets for reuse and clears bindings.
  void Reset();

  // Column indexes are 0-based. Text() views SQLite's buffer: valid until the next Step/Reset.
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string_view Text(int col) const;
  std::string TextString(int col) const { return std::string(Text(col)); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

struct OpenOptions {
  bool read_only = false;  // else read-write, created when missing
  // journal_mode=WAL, foreign_keys=ON, temp_store=MEMORY and `synchronous` (when not read-only).
  bool wal = false;
  std::string_view synchronous = "NORMAL";  // with wal: OFF | NORMAL | FULL | EXTRA
  int busy_timeout_ms = 5000;
};

class Db {
 public:
  Db() = default;
  Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  Db& operator=(Db&& o) noexcept {
    std::swap(db_, o.db_);
    return *this;
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Opens `path` (":memory:" works for tests). Extended result codes are on, so constraint
  // violations map to their precise errc.
  static Result<Db> Open(const std::string& path, const OpenOptions& options = {});
  bool is_open() const { return db_ != nullptr; }

  // Runs one or more statements without results (schema, pragmas).
  Status Exec(std::string_view sql);
  // Prepares one (persistent) statement; it must not outlive the connection.
  Result<Stmt> Prepare(std::string_view sql);

  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  // What SQLite said about the last error on this connection, for the caller's log line.
  std::string LastError() const { return db_ ? sqlite3_errmsg(db_) : "not open"; }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin_status() const { return begin_; }
  Status Commit();

 private:
  Db& db_;
  Status begin_;
  bool done_ = false;
};

}  // namespace aiot::sqlite
