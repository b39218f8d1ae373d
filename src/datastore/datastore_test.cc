#include "datastore/datastore.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "base/config.h"
#include "base/errc.h"
#include "base/sqlite.h"
#include "datastore/maintenance_json.h"
#include "tests/support/temp_dir.h"

namespace aiot::datastore {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kDay = 86400 * kSec;
// 2026-01-01T00:00:00Z
constexpr int64_t kT0 = 1767225600 * kSec;

TelemetryRow Row(std::string device, int64_t ts, double rotation) {
  TelemetryRow r;
  r.device = std::move(device);
  r.ts = ts;
  r.values = {rotation, 40, 150, 50.5};
  return r;
}

using test_support::TempDir;

TEST(DatastoreTest, ExportLabelsRowsBeforeFailures) {
  TempDir dir;
  DatastoreConfig dc;
  dc.label_window_s = 3600;
  TrainingDatastore ds(dir.path(), dc);
  ASSERT_TRUE(ds.Open().ok());
  std::vector<TelemetryRow> rows = {
      Row("fan-1", kT0, 600),
      Row("fan-2", kT0 + 10 * kSec, 610),
      Row("fan-1", kT0 + 7200 * kSec, 620),  // 1 h before the failure -> faulty
      Row("fan-1", kT0 + 9000 * kSec, 630),  // 0.5 h before -> faulty
      Row("fan-1", kT0 + 20000 * kSec, 640),
  };
  ASSERT_TRUE(ds.Append(rows).ok());
  ASSERT_TRUE(ds.AddMaintenance({"fan-1", kT0 + 10800 * kSec, "bearing"}).ok());
  EXPECT_EQ(*ds.CountRows(), 5);
  // Rows at or after a time (the pipeline's "new labelled rows since the last run").
  EXPECT_EQ(*ds.CountRowsSince(kT0), 5);
  EXPECT_EQ(*ds.CountRowsSince(kT0 + 10 * kSec), 4);
  EXPECT_EQ(*ds.CountRowsSince(kT0 + 10 * kSec + 1), 3);
  EXPECT_EQ(*ds.CountRowsSince(kT0 + 20001 * kSec), 0);
  // Of them, the positives (the export's label): the two rows within the window before the
  // failure (the pipeline's drift trigger waits for these).
  EXPECT_EQ(*ds.CountPositivesSince(kT0), 2);
  EXPECT_EQ(*ds.CountPositivesSince(kT0 + 7200 * kSec + 1), 1);
  EXPECT_EQ(*ds.CountPositivesSince(kT0 + 9001 * kSec), 0);

  std::ostringstream out;
  auto n = ds.ExportCsv({}, out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5);
  EXPECT_EQ(out.str(),
            "DeviceID,Time,rotation,temperature,vibration,sound,faulty\n"
            "fan-1,2026-01-01 00:00:00,600,40,150,50.5,0\n"
            "fan-2,2026-01-01 00:00:10,610,40,150,50.5,0\n"
            "fan-1,2026-01-01 02:00:00,620,40,150,50.5,1\n"
            "fan-1,2026-01-01 02:30:00,630,40,150,50.5,1\n"
            "fan-1,2026-01-01 05:33:20,640,40,150,50.5,0\n");

  std::ostringstream some;
  ExportRequest req;
  req.from = kT0 + 5 * kSec;
  req.to = kT0 + 9000 * kSec;
  req.devices = {"fan-1"};
  EXPECT_EQ(*ds.ExportCsv(req, some), 1);
}

TEST(DatastoreTest, RetentionDropsOldRows) {
  TempDir dir;
  DatastoreConfig dc;
  dc.retention_days = 7;
  ManualClock clock(kT0 + 30 * kDay);
  TrainingDatastore ds(dir.path(), dc, clock);
  ASSERT_TRUE(ds.Open().ok());
  std::vector<TelemetryRow> rows = {Row("a", kT0, 1), Row("a", kT0 + 29 * kDay, 2)};
  ASSERT_TRUE(ds.Append(rows).ok());
  EXPECT_EQ(*ds.ApplyRetention(), 1);
  EXPECT_EQ(*ds.CountRows(), 1);
}

// Another field schema (a motor's): its columns and its label in the export, in its order; an
// absent value is an empty cell. A file made with the fan's schema gains the new columns.
TEST(DatastoreTest, StoresAndExportsTheConfiguredFields) {
  TempDir dir;
  {
    TrainingDatastore fan(dir.path(), DatastoreConfig{});
    ASSERT_TRUE(fan.Open().ok());
    ASSERT_TRUE(fan.Append(std::vector<TelemetryRow>{Row("fan-1", kT0, 600)}).ok());
  }
  DatastoreConfig dc;
  dc.fields = {"current", "voltage", "temperature"};
  dc.label = "broken";
  TrainingDatastore ds(dir.path(), dc);
  ASSERT_TRUE(ds.Open().ok());
  TelemetryRow r;
  r.device = "motor-1";
  r.ts = kT0 + kSec;
  r.values = {4.5, std::nan(""), 39.5};
  ASSERT_TRUE(ds.Append(std::vector<TelemetryRow>{r}).ok());
  std::ostringstream out;
  ExportRequest req;
  req.devices = {"motor-1"};
  ASSERT_EQ(*ds.ExportCsv(req, out), 1);
  EXPECT_EQ(out.str(),
            "DeviceID,Time,current,voltage,temperature,broken\n"
            "motor-1,2026-01-01 00:00:01,4.5,,39.5,0\n");

  dc.label.clear();  // no label column
  TrainingDatastore unlabelled(dir.path(), dc);
  ASSERT_TRUE(unlabelled.Open().ok());
  std::ostringstream plain;
  ASSERT_EQ(*unlabelled.ExportCsv(req, plain), 1);
  EXPECT_EQ(plain.str(),
            "DeviceID,Time,current,voltage,temperature\nmotor-1,2026-01-01 00:00:01,4.5,,39.5\n");

  dc.fields = {"device"};  // not a usable column
  TrainingDatastore bad(dir.path(), dc);
  Status st = bad.Open();
  EXPECT_EQ(st.code(), make_error_code(errc::invalid_argument));
  EXPECT_NE(st.message().find("`device` is reserved"), std::string::npos) << st.message();
}

// Predictive-maintenance labels: rows within the horizon before a failure are positive; a repair
// ends the window of the failure before it; inspections label nothing; a record added twice is
// one record.
TEST(DatastoreTest, RepairsEndTheFailureWindowAndRecordsAreIdempotent) {
  TempDir dir;
  DatastoreConfig dc;
  dc.label_window_s = 6 * 3600;
  TrainingDatastore ds(dir.path(), dc);
  ASSERT_TRUE(ds.Open().ok());
  const auto h = [](int64_t hours) { return kT0 + hours * 3600 * kSec; };
  std::vector<TelemetryRow> rows;
  for (int64_t hour = 0; hour <= 12; ++hour) rows.push_back(Row("fan-1", h(hour), 600));
  ASSERT_TRUE(ds.Append(rows).ok());
  using K = MaintenanceKind;
  // Failure at 4 h (the broken machine still reports), repaired at 6 h; failure again at 9 h; an
  // inspection at 11 h.
  ASSERT_TRUE(*ds.AddMaintenance({"fan-1", h(4), "bearing", K::kFailure}));
  ASSERT_TRUE(*ds.AddMaintenance({"fan-1", h(6), "bearing replaced", K::kRepair}));
  ASSERT_TRUE(*ds.AddMaintenance({"fan-1", h(9), "imbalance", K::kFailure}));
  ASSERT_TRUE(*ds.AddMaintenance({"fan-1", h(11), "", K::kInspection}));
  EXPECT_FALSE(*ds.AddMaintenance({"fan-1", h(9), "imbalance", K::kFailure}));  // redelivered

  std::ostringstream out;
  ASSERT_EQ(*ds.ExportCsv({}, out), 13);
  std::istringstream lines(out.str());
  std::string line, labels;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) labels += line.back();
  // 0..4 h: before the first failure. 5 h: within the second failure's horizon, but before the
  // repair, so not the second failure's. 6..9 h: from the repair on, before the second failure.
  // 10..12 h: after it, nothing recorded ahead.
  EXPECT_EQ(labels, "1111101111000");

  auto all = ds.Maintenance();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[1].kind, K::kRepair);
  EXPECT_EQ((*all)[1].mode, "bearing replaced");
  MaintenanceQuery q;
  q.kind = K::kFailure;
  EXPECT_EQ(ds.Maintenance(q)->size(), 2u);
  q.limit = 1;  // the newest
  ASSERT_EQ(ds.Maintenance(q)->size(), 1u);
  EXPECT_EQ(ds.Maintenance(q)->front().at, h(9));
  q = {};
  q.device = "../etc";
  EXPECT_EQ(ds.Maintenance(q).status().code(), make_error_code(errc::invalid_argument));
}

// A datastore.db from before maintenance kinds (failures in `failure_at`, duplicates possible)
// opens: its records become failures, duplicates collapse, labels stay the same.
TEST(DatastoreTest, OpensAFileWithTheOldMaintenanceTable) {
  TempDir dir;
  {
    auto db = sqlite::Db::Open(dir.path() + "/datastore.db", {.wal = true});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec(R"sql(
      CREATE TABLE telemetry (ts INTEGER NOT NULL, device TEXT NOT NULL);
      CREATE TABLE maintenance (device TEXT NOT NULL, failure_at INTEGER NOT NULL,
                                mode TEXT NOT NULL DEFAULT '', recorded_at INTEGER NOT NULL);
      CREATE INDEX maintenance_device ON maintenance(device, failure_at);
      INSERT INTO maintenance VALUES ('fan-1', 1767236400000000000, 'bearing', 1);
      INSERT INTO maintenance VALUES ('fan-1', 1767236400000000000, 'bearing', 2);
    )sql")
                    .ok());
  }
  DatastoreConfig dc;
  dc.label_window_s = 3600;
  TrainingDatastore ds(dir.path(), dc);
  Status opened = ds.Open();
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  auto records = ds.Maintenance();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().kind, MaintenanceKind::kFailure);
  EXPECT_EQ(records->front().at, kT0 + 10800 * kSec);
  ASSERT_TRUE(ds.Append(std::vector<TelemetryRow>{Row("fan-1", kT0 + 9000 * kSec, 630)}).ok());
  std::ostringstream out;
  ASSERT_EQ(*ds.ExportCsv({}, out), 1);
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_NE(out.str().find(",630,40,150,50.5,1\n"), std::string::npos) << out.str();
  TrainingDatastore again(dir.path(), dc);  // a second open migrates nothing
  ASSERT_TRUE(again.Open().ok());
  EXPECT_EQ(again.Maintenance()->size(), 1u);
}

TEST(DatastoreTest, MaintenanceJson) {
  auto r = ParseMaintenanceJson(
      R"({"device":"fan-1","kind":"repair","at":"2026-01-01T03:00:00Z","mode":"bearing",)"
      R"("note":"replaced"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, MaintenanceKind::kRepair);
  EXPECT_EQ(r->at, kT0 + 10800 * kSec);
  EXPECT_EQ(r->note, "replaced");
  EXPECT_EQ(ToJson(*r)["at"], "2026-01-01T03:00:00.000Z");
  auto legacy = ParseMaintenanceJson(R"({"deviceID":"fan-2","failure_at":"2026-01-01T00:00:00Z"})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->kind, MaintenanceKind::kFailure);
  EXPECT_EQ(legacy->device, "fan-2");
  // base/maintenance.h's rules (shared with the trainer's reader): a time without a zone is UTC.
  auto no_zone = ParseMaintenanceJson(R"({"device":"fan-3","at":"2026-01-01 03:00:00"})");
  ASSERT_TRUE(no_zone.ok()) << no_zone.status().ToString();
  EXPECT_EQ(no_zone->at, kT0 + 10800 * kSec);
  for (const char* bad :
       {"", "[]", "{}", R"({"device":1,"at":"2026-01-01T00:00:00Z"})",
        R"({"device":"a","kind":"broken","at":"2026-01-01T00:00:00Z"})",
        R"({"device":"a","kind":"repair","failure_at":"2026-01-01T00:00:00Z"})",
        R"({"device":"a","at":"yesterday"})", R"({"device":"","at":"2026-01-01T00:00:00Z"})",
        R"({"device":"a","at":"2026-01-01T00:00:00Z","mode":5})"}) {
    auto p = ParseMaintenanceJson(bad);
    EXPECT_EQ(p.status().code(), make_error_code(errc::invalid_argument)) << bad;
  }
}

// The labelling horizon is checked when the configuration loads, naming the file and line.
TEST(DatastoreTest, ConfigRejectsAnEmptyHorizonWithItsLine) {
  DatastoreConfig dc;
  try {
    config::LoadYaml("batch_rows: 100\nlabel_window_s: 0\n", "aiot.yaml", config::DescriberFor(dc));
    FAIL() << "label_window_s: 0 accepted";
  } catch (const config::Error& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    EXPECT_EQ(e.problems()[0].key, "label_window_s");
    EXPECT_EQ(e.problems()[0].where, "aiot.yaml:2");
  }
}

}  // namespace
}  // namespace aiot::datastore
