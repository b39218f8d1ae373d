#include "datastore/datastore.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "base/errc.h"
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

}  // namespace
}  // namespace aiot::datastore
