#include "base/sqlite.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "base/errc.h"

namespace aiot::sqlite {
namespace {

Db Memory() {
  auto db = Db::Open(":memory:");
  EXPECT_TRUE(db.ok());
  return std::move(*db);
}

TEST(Sqlite, BindStepAndColumns) {
  Db db = Memory();
  ASSERT_TRUE(db.Exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT)").ok());
  auto ins = db.Prepare("INSERT INTO t VALUES (?, ?, ?)");
  ASSERT_TRUE(ins.ok());
  ASSERT_TRUE(ins->Bind(1, 7).Bind(2, 2.5).Bind(3, std::string_view("a\0b", 3)).Run().ok());
  ASSERT_TRUE(
      ins->Bind(1, int64_t{1} << 40).Bind(2, std::nan("")).Bind(3, std::string_view()).Run().ok());
  EXPECT_EQ(db.LastInsertRowId(), 2);
  auto sel = db.Prepare("SELECT i, d, s FROM t ORDER BY rowid");
  ASSERT_TRUE(sel.ok());
  auto r = sel->Step();
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(sel->Int(0), 7);
  EXPECT_EQ(sel->Double(1), 2.5);
  EXPECT_EQ(sel->Text(2), std::string_view("a\0b", 3));
  r = sel->Step();
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(sel->Int(0), int64_t{1} << 40);
  EXPECT_TRUE(sel->IsNull(1));   // NaN binds NULL
  EXPECT_FALSE(sel->IsNull(2));  // a null string_view binds '', not NULL
  EXPECT_EQ(sel->TextString(2), "");
  r = sel->Step();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  // Done resets the statement: it can be stepped again.
  r = sel->Step();
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(sel->Int(0), 7);
}

TEST(Sqlite, OneMappingOfConstraintErrors) {
  Db db = Memory();
  ASSERT_TRUE(db.Exec("PRAGMA foreign_keys=ON;"
                      "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
                      " n INTEGER CHECK (n >= 0));"
                      "CREATE TABLE c (p INTEGER REFERENCES p(id));")
                  .ok());
  ASSERT_TRUE(db.Exec("INSERT INTO p VALUES (1, 'a', 0)").ok());
  auto ins = db.Prepare("INSERT INTO p VALUES (?, ?, ?)");
  ASSERT_TRUE(ins.ok());
  EXPECT_EQ(ins->Bind(1, 2).Bind(2, "a").Bind(3, 0).Run().error(), errc::already_exists);
  EXPECT_EQ(ins->Bind(1, 1).Bind(2, "b").Bind(3, 0).Run().error(), errc::already_exists);
  EXPECT_EQ(ins->Bind(1, 3).BindNull(2).Bind(3, 0).Run().error(), errc::invalid_argument);
  EXPECT_EQ(ins->Bind(1, 4).Bind(2, "c").Bind(3, -1).Run().error(), errc::invalid_argument);
  EXPECT_EQ(db.Exec("INSERT INTO c VALUES (99)").error(), errc::invalid_argument);
  EXPECT_EQ(db.Prepare("SELEC 1").error(), errc::internal);
  EXPECT_NE(db.LastError(), "");
  // Each error carries what SQLite said.
  EXPECT_NE(db.Prepare("SELEC 1").status().message().find("syntax error"), std::string::npos);
  EXPECT_NE(ins->Bind(1, 9).Bind(2, "a").Bind(3, 0).Run().message().find("UNIQUE constraint"),
            std::string::npos);
}

TEST(Sqlite, TransactionRollsBackUnlessCommitted) {
  Db db = Memory();
  ASSERT_TRUE(db.Exec("CREATE TABLE t (i INTEGER)").ok());
  {
    Transaction tx(db);
    ASSERT_TRUE(tx.begin_status().ok());
    ASSERT_TRUE(db.Exec("INSERT INTO t VALUES (1)").ok());
  }
  {
    Transaction tx(db);
    ASSERT_TRUE(db.Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  auto sel = db.Prepare("SELECT group_concat(i) FROM t");
  ASSERT_TRUE(sel.ok());
  ASSERT_TRUE(*sel->Step());
  EXPECT_EQ(sel->Text(0), "2");
}

TEST(Sqlite, OpenErrorsAndWal) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aiot-sqlite-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EXPECT_EQ(Db::Open((dir / "missing" / "x.db").string()).error(), errc::io_error);
  std::filesystem::create_directories(dir);
  EXPECT_EQ(Db::Open((dir / "absent.db").string(), {.read_only = true}).error(), errc::io_error);
  {
    auto db = Db::Open((dir / "w.db").string(), {.wal = true, .synchronous = "FULL"});
    ASSERT_TRUE(db.ok());
    auto mode = db->Prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok() && *mode->Step());
    EXPECT_EQ(mode->Text(0), "wal");
  }
  {
    FILE* f = std::fopen((dir / "junk.db").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    for (int i = 0; i < 256; ++i) std::fputs("not a database ", f);
    std::fclose(f);
    auto db = Db::Open((dir / "junk.db").string(), {.wal = true});
    EXPECT_FALSE(db.ok());
    EXPECT_EQ(db.error(), errc::corrupted);
    EXPECT_NE(db.status().message().find("junk.db"), std::string::npos) << db.status().message();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiot::sqlite
