// TelemetryStore's queries, on pooled read connections: series (raw, or bucketed from rollups and
// raw rows), the fleet overview (Devices) and the anomaly/alert/event timeline.
#include <fmt/format.h>

#include <algorithm>

#include "base/errc.h"
#include "store/telemetry_store.h"
#include "store/telemetry_store_internal.h"

namespace aiot::store {
namespace {

using internal::Acc;
using internal::CeilTo;
using internal::ColumnName;
using internal::FloorTo;
using internal::IsAnomalyField;
using internal::kMinute;
using internal::kSrcAnomaly;
using internal::kSrcColumns;
using internal::SqlError;

// Buckets of one series, appended in time order.
class Bucketer {
 public:
  explicit Bucketer(int64_t bucket_ms) : bucket_ms_(bucket_ms) {}
  Acc& At(int64_t ts) {
    int64_t b = FloorTo(ts, bucket_ms_);
    if (buckets_.empty() || buckets_.back().first != b) buckets_.emplace_back(b, Acc{});
    return buckets_.back().second;
  }
  void Emit(Aggregate a, Series* s) const {
    s->times_ms.reserve(buckets_.size());
    s->values.reserve(buckets_.size());
    for (const auto& [b, acc] : buckets_) {
      if (acc.n == 0) continue;
      s->times_ms.push_back(b);
      s->values.push_back(acc.Value(a));
    }
  }

 private:
  int64_t bucket_ms_;
  std::vector<std::pair<int64_t, Acc>> buckets_;
};

// A read transaction: BEGIN now, COMMIT when it goes out of scope.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite::Db& db) : db_(db), begin_(db.Exec("BEGIN")) {}
  ~ReadTransaction() {
    if (begin_) (void)db_.Exec("COMMIT");
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  Status status() const { return begin_ ? begin_ : SqlError(db_, begin_, "begin a read"); }

 private:
  sqlite::Db& db_;
  Status begin_;
};

// Where a requested field is stored.
struct FieldRef {
  std::string name;
  int64_t src;  // kSrcColumns, kSrcAnomaly, or an extra field id; INT64_MIN = unknown
  int index;    // column index, or index into anomaly columns
  int64_t fid;  // field id (rollups)
};

// The raw rows of the fields `members` of one source (one table) of a device, `?1` the device and
// [?2, ?3) the time range.
std::string RawRowsSql(int64_t src, const std::vector<FieldRef>& refs,
                       const std::vector<size_t>& members) {
  std::string sql;
  if (src == kSrcColumns) {
    sql = "SELECT ts";
    for (size_t i : members) sql += "," + ColumnName(refs[i].name);
    sql += " FROM telemetry WHERE device=?1 AND ts>=?2 AND ts<?3 ORDER BY ts";
  } else if (src == kSrcAnomaly) {
    sql = "SELECT ts";
    for (size_t i : members) sql += "," + refs[i].name;
    sql += " FROM anomaly WHERE device=?1 AND ts>=?2 AND ts<?3 ORDER BY ts";
  } else {
    sql = fmt::format(
        "SELECT ts,value FROM telemetry_extra WHERE device=?1 AND field={} AND ts>=?2 AND "
        "ts<?3 ORDER BY ts",
        src);
  }
  return sql;
}

}  // namespace

class TelemetryStore::ReaderLease {
 public:
  ReaderLease(TelemetryStore* s, std::unique_ptr<sqlite::Db> db) : s_(s), db_(std::move(db)) {}
  ~ReaderLease() {
    if (db_) s_->ReleaseReader(std::move(db_));
  }
  sqlite::Db& operator*() { return *db_; }
  sqlite::Db* operator->() { return db_.get(); }

 private:
  TelemetryStore* s_;
  std::unique_ptr<sqlite::Db> db_;
};

// One series query in progress: its connection, what it reads, and how much it has read.
struct TelemetryStore::SeriesScan {
  SeriesScan(sqlite::Db& d, const SeriesQuery& query) : db(d), q(query) {}

  sqlite::Db& db;
  const SeriesQuery& q;                                  // fields filled in
  std::vector<std::pair<int64_t, std::string>> devices;  // id, name
  DirtyRanges dirty;                                     // as of the snapshot
  std::vector<FieldRef> refs;
  int64_t total_points = 0;
  bool used_rollups = false;

  // Raw rows of `members` (one source) of `dev` in [from, to), added into their buckets.
  Status ScanRaw(sqlite::Stmt& raw, int64_t dev, int64_t from, int64_t to,
                 std::vector<Bucketer>& buckets);
  // Rollups of `members` of `dev` for the minutes in [from, to), merged into their buckets.
  Status MergeRollups(int64_t dev, int64_t from, int64_t to, const std::vector<size_t>& members,
                      std::vector<Bucketer>& buckets);
  // Raw rows of `members` of `dev`, up to q.limit rows, appended to their series.
  Status ReadRaw(sqlite::Stmt& raw, int64_t dev, const std::vector<size_t>& members,
                 std::vector<Series>& out);
  // Buckets of `members` (one source) of `dev`: raw rows at the edges of the range and in dirty
  // minutes, rollups in between when the bucket is a whole number of minutes.
  Status ReadBucketed(sqlite::Stmt& raw, int64_t dev, int64_t src,
                      const std::vector<size_t>& members, std::vector<Series>& out);
};

Result<SeriesResult> TelemetryStore::Query(const SeriesQuery& q) {
  auto r = AcquireReader();
  if (!r) return r.status();
  ReaderLease db(this, std::move(*r));
  SeriesResult result;
  result.query = q;
  if (result.query.fields.empty()) {
    result.query.fields = schema_.columns();
    result.query.fields.emplace_back("score");
  }
  // Read transaction: the snapshot and the dirty ranges are taken together (see dirty_mu_).
  ReadTransaction txn(*db);
  if (Status st = txn.status(); !st) return st;
  SeriesScan scan{*db, result.query};
  if (Status st = SnapshotDevices(scan); !st) return st;
  ResolveFields(scan);
  // Group the requested fields by source so that each table is scanned once per device.
  std::map<int64_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < scan.refs.size(); ++i) {
    if (scan.refs[i].src != INT64_MIN) groups[scan.refs[i].src].push_back(i);
  }
  for (size_t d = 0; d < scan.devices.size(); ++d) {
    std::vector<Series> out(scan.refs.size());
    for (size_t i = 0; i < scan.refs.size(); ++i) {
      out[i].device = scan.devices[d].second;
      out[i].field = scan.refs[i].name;
    }
    for (const auto& [src, members] : groups) {
      if (Status st = ReadSource(scan, d, src, members, out); !st) return st;
    }
    for (auto& s : out) result.series.push_back(std::move(s));
  }
  result.used_rollups = scan.used_rollups;
  return result;
}

// Fixes the read snapshot with its first read (the devices) and copies the dirty ranges, under
// dirty_mu_: the writer commits rollups and clears the ranges under the same lock.
Status TelemetryStore::SnapshotDevices(SeriesScan& scan) {
  const std::vector<std::string>& names = scan.q.devices;
  std::lock_guard lk(dirty_mu_);
  auto s = scan.db.Prepare(names.empty() ? "SELECT id, name FROM devices ORDER BY name"
                                         : "SELECT id, name FROM devices WHERE name=?");
  if (!s) return SqlError(scan.db, s.status(), "list devices");
  if (names.empty()) {
    for (;;) {
      auto row = s->Step();
      if (!row) return SqlError(scan.db, row.status(), "list devices");
      if (!*row) break;
      scan.devices.emplace_back(s->Int(0), std::string(s->Text(1)));
    }
  }
  for (const auto& name : names) {
    s->Bind(1, std::string_view(name));
    auto row = s->Step();
    if (!row) return SqlError(scan.db, row.status(), "look up a device");
    if (*row) scan.devices.emplace_back(s->Int(0), std::string(s->Text(1)));
    s->Reset();
  }
  scan.dirty = dirty_;
  return {};
}

void TelemetryStore::ResolveFields(SeriesScan& scan) const {
  std::lock_guard lk(fields_mu_);
  for (const auto& f : scan.q.fields) {
    FieldRef ref{f, INT64_MIN, -1, -1};
    auto it = fields_.find(f);
    if (it != fields_.end()) ref.fid = it->second.first;
    if (int c = schema_.ColumnOf(f); c >= 0) {
      ref.src = kSrcColumns;
      ref.index = c;
    } else if (IsAnomalyField(f)) {
      ref.src = kSrcAnomaly;
      ref.index = f == "score" ? 0 : f == "fault" ? 1 : 2;
    } else if (it != fields_.end()) {
      ref.src = it->second.first;
      ref.index = 0;
    }
    scan.refs.push_back(ref);
  }
}

// Reads the fields `members` of source `src` of the `device`th device into `out`, within the
// query's point budget.
Status TelemetryStore::ReadSource(SeriesScan& scan, size_t device, int64_t src,
                                  const std::vector<size_t>& members, std::vector<Series>& out) {
  const int64_t dev = scan.devices[device].first;
  auto raw = scan.db.Prepare(RawRowsSql(src, scan.refs, members));
  if (!raw) return SqlError(scan.db, raw.status(), "prepare a series query");
  Status st = scan.q.bucket_ms == 0 ? scan.ReadRaw(*raw, dev, members, out)
                                    : scan.ReadBucketed(*raw, dev, src, members, out);
  if (!st) return st;
  if (scan.total_points > config_.max_query_points) {
    return {errc::out_of_range,
            fmt::format("the result would exceed {} points (store.max_query_points)",
                        config_.max_query_points)};
  }
  return {};
}

Status TelemetryStore::SeriesScan::ReadRaw(sqlite::Stmt& raw, int64_t dev,
                                           const std::vector<size_t>& members,
                                           std::vector<Series>& out) {
  raw.Bind(1, dev).Bind(2, q.from_ms).Bind(3, q.to_ms);
  int64_t rows = 0;
  for (;;) {
    auto row = raw.Step();
    if (!row) return SqlError(db, row.status(), "read raw rows");
    if (!*row || rows >= q.limit) break;
    ++rows;
    for (size_t k = 0; k < members.size(); ++k) {
      if (raw.IsNull(static_cast<int>(k) + 1)) continue;
      Series& s = out[members[k]];
      s.times_ms.push_back(raw.Int(0));
      s.values.push_back(raw.Double(static_cast<int>(k) + 1));
    }
  }
  raw.Reset();
  total_points += rows * static_cast<int64_t>(members.size());
  return {};
}

Status TelemetryStore::SeriesScan::ReadBucketed(sqlite::Stmt& raw, int64_t dev, int64_t src,
                                                const std::vector<size_t>& members,
                                                std::vector<Series>& out) {
  std::vector<Bucketer> buckets(members.size(), Bucketer(q.bucket_ms));
  int64_t r0 = q.from_ms, r1 = q.from_ms;  // rollup range [r0, r1)
  if (q.bucket_ms % kMinute == 0) {
    r0 = CeilTo(q.from_ms, kMinute);
    r1 = FloorTo(q.to_ms, kMinute);
    auto d = dirty.find({dev, src});
    if (d != dirty.end()) r1 = std::min(r1, FloorTo(d->second.first, kMinute));
    if (r1 < r0) r1 = r0;
  }
  if (Status st = ScanRaw(raw, dev, q.from_ms, r0, buckets); !st) return st;
  if (r1 > r0) {
    used_rollups = true;
    if (Status st = MergeRollups(dev, r0, r1, members, buckets); !st) return st;
  }
  if (Status st = ScanRaw(raw, dev, std::max(r1, q.from_ms), q.to_ms, buckets); !st) return st;
  for (size_t k = 0; k < members.size(); ++k) {
    buckets[k].Emit(q.agg, &out[members[k]]);
    total_points += static_cast<int64_t>(out[members[k]].times_ms.size());
  }
  return {};
}

Status TelemetryStore::SeriesScan::ScanRaw(sqlite::Stmt& raw, int64_t dev, int64_t from, int64_t to,
                                           std::vector<Bucketer>& buckets) {
  if (from >= to) return {};
  raw.Bind(1, dev).Bind(2, from).Bind(3, to);
  for (;;) {
    auto row = raw.Step();
    if (!row) return SqlError(db, row.status(), "read raw rows");
    if (!*row) return {};
    int64_t ts = raw.Int(0);
    for (size_t k = 0; k < buckets.size(); ++k) {
      if (!raw.IsNull(static_cast<int>(k) + 1)) {
        buckets[k].At(ts).Add(raw.Double(static_cast<int>(k) + 1));
      }
    }
  }
}

Status TelemetryStore::SeriesScan::MergeRollups(int64_t dev, int64_t from, int64_t to,
                                                const std::vector<size_t>& members,
                                                std::vector<Bucketer>& buckets) {
  auto roll = db.Prepare(
      "SELECT bucket,n,sum,min,max,last FROM rollup_1m WHERE device=? AND field=? AND "
      "bucket>=? AND bucket<? ORDER BY bucket");
  if (!roll) return SqlError(db, roll.status(), "prepare a rollup query");
  for (size_t k = 0; k < members.size(); ++k) {
    roll->Bind(1, dev).Bind(2, refs[members[k]].fid).Bind(3, from).Bind(4, to);
    for (;;) {
      auto row = roll->Step();
      if (!row) return SqlError(db, row.status(), "read rollups");
      if (!*row) break;
      buckets[k]
          .At(roll->Int(0))
          .Merge(roll->Int(1), roll->Double(2), roll->Double(3), roll->Double(4), roll->Double(5));
    }
  }
  return {};
}

// ---- Fleet overview ----

namespace {

// The newest anomaly of device `id` into `d` (level, score, and the model when status had none).
Status ReadNewestAnomaly(sqlite::Db& db, sqlite::Stmt& anomaly, int64_t id, DeviceInfo& d) {
  anomaly.Bind(1, id);
  auto row = anomaly.Step();
  if (!row) return SqlError(db, row.status(), "read the newest anomaly");
  if (!*row) return {};
  d.anomaly_ts_ms = anomaly.Int(0);
  d.level = static_cast<Level>(anomaly.Int(1));
  if (!anomaly.IsNull(2)) d.score = anomaly.Double(2);
  if (d.model.empty()) d.model = anomaly.Text(3);
  anomaly.Reset();
  return {};
}

// The newest telemetry row of device `id` (its column fields) into d.latest.
Status ReadNewestTelemetry(sqlite::Db& db, sqlite::Stmt& latest, const FieldSchema& schema,
                           int64_t id, DeviceInfo& d) {
  latest.Bind(1, id);
  auto row = latest.Step();
  if (!row) return SqlError(db, row.status(), "read the newest telemetry");
  if (!*row) return {};
  for (size_t c = 0; c < schema.size(); ++c) {
    if (!latest.IsNull(static_cast<int>(c) + 1)) {
      d.latest.emplace_back(schema.columns()[c], latest.Double(static_cast<int>(c) + 1));
    }
  }
  latest.Reset();
  return {};
}

}  // namespace

Result<std::vector<DeviceInfo>> TelemetryStore::Devices() {
  auto r = AcquireReader();
  if (!r) return r.status();
  ReaderLease db(this, std::move(*r));
  ReadTransaction txn(*db);
  if (Status st = txn.status(); !st) return st;
  auto list = db->Prepare(
      "SELECT id,name,first_seen,last_seen,online,model,status,status_ts FROM devices "
      "ORDER BY name");
  if (!list) return SqlError(*db, list.status(), "prepare the device list");
  auto anomaly = db->Prepare(
      "SELECT ts,level,score,model FROM anomaly WHERE device=? ORDER BY ts DESC LIMIT 1");
  if (!anomaly) return SqlError(*db, anomaly.status(), "prepare the newest anomaly");
  std::string cols;
  for (const auto& c : schema_.columns()) cols += "," + ColumnName(c);
  auto latest = db->Prepare(
      fmt::format("SELECT ts{} FROM telemetry WHERE device=? ORDER BY ts DESC LIMIT 1", cols));
  if (!latest) return SqlError(*db, latest.status(), "prepare the newest telemetry");
  std::vector<DeviceInfo> out;
  for (;;) {
    auto row = list->Step();
    if (!row) return SqlError(*db, row.status(), "list devices");
    if (!*row) break;
    DeviceInfo d;
    const int64_t id = list->Int(0);
    d.name = list->Text(1);
    d.first_seen_ms = list->Int(2);
    d.last_seen_ms = list->Int(3);
    d.has_status = !list->IsNull(7);
    d.online = d.has_status && list->Int(4) != 0;
    d.model = list->Text(5);
    d.status_json = list->Text(6);
    if (Status st = ReadNewestAnomaly(*db, *anomaly, id, d); !st) return st;
    if (Status st = ReadNewestTelemetry(*db, *latest, schema_, id, d); !st) return st;
    out.push_back(std::move(d));
  }
  return out;
}

// ---- Timeline ----

Result<std::vector<TimelineEntry>> TelemetryStore::Timeline(const TimelineQuery& q) {
  auto r = AcquireReader();
  if (!r) return r.status();
  ReaderLease db(this, std::move(*r));
  auto wanted_kind = [&](std::string_view k) {
    return q.kinds.empty() || std::find(q.kinds.begin(), q.kinds.end(), k) != q.kinds.end();
  };
  auto wanted_device = [&](std::string_view d) {
    return q.devices.empty() || std::find(q.devices.begin(), q.devices.end(), d) != q.devices.end();
  };
  std::vector<TimelineEntry> out;
  if (wanted_kind("anomaly")) {
    auto s = db->Prepare(fmt::format(
        "SELECT a.ts,d.name,a.level,a.score,a.model FROM anomaly a {} JOIN devices d ON "
        "d.id=a.device WHERE a.ts>=? AND a.ts<? {} ORDER BY a.ts DESC LIMIT ?",
        q.include_ok ? "" : "INDEXED BY anomaly_alerting", q.include_ok ? "" : "AND a.level>0"));
    if (!s) return SqlError(*db, s.status(), "prepare the anomaly timeline");
    s->Bind(1, q.from_ms).Bind(2, q.to_ms).Bind(3, q.limit * (q.devices.empty() ? 1 : 50));
    for (;;) {
      auto row = s->Step();
      if (!row) return SqlError(*db, row.status(), "read the anomaly timeline");
      if (!*row) break;
      TimelineEntry e;
      e.ts_ms = s->Int(0);
      e.device = s->Text(1);
      if (!wanted_device(e.device)) continue;
      e.kind = "anomaly";
      e.level = static_cast<Level>(s->Int(2));
      if (!s->IsNull(3)) e.score = s->Double(3);
      e.model = s->Text(4);
      out.push_back(std::move(e));
    }
  }
  {
    auto s = db->Prepare(
        "SELECT ts,kind,device,level,payload FROM events WHERE ts>=? AND ts<? ORDER BY ts DESC "
        "LIMIT ?");
    if (!s) return SqlError(*db, s.status(), "prepare the event timeline");
    s->Bind(1, q.from_ms).Bind(2, q.to_ms).Bind(3, q.limit * 10);
    for (;;) {
      auto row = s->Step();
      if (!row) return SqlError(*db, row.status(), "read the event timeline");
      if (!*row) break;
      TimelineEntry e;
      e.ts_ms = s->Int(0);
      e.kind = s->Text(1);
      e.device = s->Text(2);
      if (!wanted_kind(e.kind) || !wanted_device(e.device)) continue;
      e.level = static_cast<Level>(s->Int(3));
      e.json = s->Text(4);
      out.push_back(std::move(e));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TimelineEntry& a, const TimelineEntry& b) {
    return a.ts_ms > b.ts_ms;
  });
  if (out.size() > static_cast<size_t>(q.limit)) out.resize(static_cast<size_t>(q.limit));
  return out;
}

}  // namespace aiot::store
