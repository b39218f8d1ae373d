#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace aiot::store {

// Thin RAII wrappers over the SQLite C API. Neither class is thread-safe: a Db and its statements
// belong to one thread at a time (the store's writer thread, or a reader borrowed from the pool).
class Stmt {
 public:
  Stmt() = default;
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  explicit operator bool() const { return s_ != nullptr; }
  sqlite3_stmt* get() const { return s_; }

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, double v);  // NaN binds NULL.
  Stmt& Bind(int i, std::string_view v);
  Stmt& BindNull(int i);

  // SQLITE_ROW -> true; SQLITE_DONE -> false (and resets); an error -> false with *status set.
  bool Step(Status* status = nullptr);
  // Runs to completion and resets; for INSERT/UPDATE/DELETE.
  Status Exec();
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string_view Text(int col) const;

 private:
  friend class Db;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  Db() = default;
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept {
    std::swap(db_, o.db_);
    return *this;
  }
  Db(const Db&) = delete;
  ~Db();

  static Result<Db> Open(const std::string& path, bool read_only);

  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(std::string_view sql);
  sqlite3* get() const { return db_; }
  std::string LastError() const { return db_ ? sqlite3_errmsg(db_) : "closed"; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace aiot::store
