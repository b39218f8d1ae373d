#include "store/telemetry_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::store {
namespace {

// A row loop over the SQLite wrapper: true while a row is available; an error ends the loop and
// is stored in *error when given.
bool NextRow(sqlite::Stmt& s, Status* error = nullptr) {
  auto r = s.Step();
  if (!r.ok()) {
    if (error) *error = r.error();
    return false;
  }
  return *r;
}

constexpr int64_t kSrcColumns = -1;
constexpr int64_t kSrcAnomaly = -2;
constexpr int64_t kMinute = 60000;
constexpr int64_t kDay = 86400000;
constexpr const char* kAnomalyFields[] = {"score", "fault", "level"};

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t FloorTo(int64_t t, int64_t step) { return FloorDiv(t, step) * step; }
int64_t CeilTo(int64_t t, int64_t step) { return -FloorTo(-t, step); }

bool ValidFieldName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string ColumnName(std::string_view field) { return fmt::format("\"f_{}\"", field); }

bool IsAnomalyField(std::string_view f) { return f == "score" || f == "fault" || f == "level"; }

// Running aggregate of one bucket.
struct Acc {
  int64_t n = 0;
  double sum = 0;
  double min = INFINITY;
  double max = -INFINITY;
  double last = NAN;

  void Add(double v) {
    ++n;
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    last = v;
  }
  void Merge(int64_t n2, double sum2, double min2, double max2, double last2) {
    n += n2;
    sum += sum2;
    min = std::min(min, min2);
    max = std::max(max, max2);
    last = last2;
  }
  double Value(Aggregate a) const {
    switch (a) {
      case Aggregate::kMean:
        return n ? sum / static_cast<double>(n) : NAN;
      case Aggregate::kMin:
        return min;
      case Aggregate::kMax:
        return max;
      case Aggregate::kLast:
        return last;
      case Aggregate::kCount:
        return static_cast<double>(n);
      case Aggregate::kSum:
        return sum;
    }
    return NAN;
  }
};

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

}  // namespace

struct TelemetryStore::Metrics {
  prometheus::Counter* telemetry;
  prometheus::Counter* anomalies;
  prometheus::Counter* statuses;
  prometheus::Counter* events;
  prometheus::Counter* parse_errors;
  prometheus::Counter* dropped;
  prometheus::Counter* write_errors;
  prometheus::Counter* batches;
  prometheus::Gauge* queue_depth;

  explicit Metrics(metrics::Registry& r) {
    auto& records = prometheus::BuildCounter()
                        .Name("aiot_store_records_total")
                        .Help("Records committed to the telemetry store, by kind")
                        .Register(r);
    telemetry = &records.Add({{"kind", "telemetry"}});
    anomalies = &records.Add({{"kind", "anomaly"}});
    statuses = &records.Add({{"kind", "status"}});
    events = &records.Add({{"kind", "event"}});
    auto& errors = prometheus::BuildCounter()
                       .Name("aiot_store_errors_total")
                       .Help("Telemetry store failures, by reason")
                       .Register(r);
    parse_errors = &errors.Add({{"reason", "parse"}});
    dropped = &errors.Add({{"reason", "queue_full"}});
    write_errors = &errors.Add({{"reason", "write"}});
    batches = &prometheus::BuildCounter()
                   .Name("aiot_store_batches_total")
                   .Help("Write transactions committed")
                   .Register(r)
                   .Add({});
    queue_depth = &prometheus::BuildGauge()
                       .Name("aiot_store_queue_depth")
                       .Help("Records waiting for the store writer")
                       .Register(r)
                       .Add({});
  }
};

struct TelemetryStore::Writer {
  sqlite::Db db;
  sqlite::Stmt begin, commit, rollback;
  sqlite::Stmt insert_telemetry, insert_extra, insert_anomaly, insert_event, update_status,
      touch_device;
  sqlite::Stmt insert_device, select_device, insert_field, select_field;
  sqlite::Stmt select_rows, select_anomaly_rows, select_extra_rows, insert_rollup;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> device_ids;
  std::vector<int64_t> column_field_ids;   // by column index
  std::vector<int64_t> anomaly_field_ids;  // score, fault, level
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> batch_dirty;
  std::chrono::steady_clock::time_point last_rollup, last_retention;
};

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

TelemetryStore::TelemetryStore(const StoreConfig& config, Clock& clock, metrics::Registry* registry)
    : config_(config), clock_(clock), schema_({}) {
  if (!registry) {
    own_registry_ = std::make_shared<metrics::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(*registry);
}

Result<std::unique_ptr<TelemetryStore>> TelemetryStore::Open(const StoreConfig& config,
                                                             Clock& clock,
                                                             metrics::Registry* registry) {
  std::unique_ptr<TelemetryStore> s(new TelemetryStore(config, clock, registry));
  if (Status st = s->Init(); !st) return st.error();
  s->thread_ = std::thread([p = s.get()] { p->WriterLoop(); });
  return s;
}

TelemetryStore::~TelemetryStore() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status TelemetryStore::Init() {
  auto log = log::Get("store");
  if (config_.path.empty() || config_.path == ":memory:") {
    log->error("store.path must name a file (WAL needs one)");
    return errc::invalid_argument;
  }
  for (const auto& f : config_.fields) {
    if (!ValidFieldName(f) || IsAnomalyField(f)) {
      log->error(
          "store.fields: `{}` is not a valid field name (letters, digits, _; not "
          "score/fault/level)",
          f);
      return errc::invalid_argument;
    }
  }
  auto db = sqlite::Db::Open(config_.path);
  if (!db) return db.error();
  writer_ = std::make_unique<Writer>();
  writer_->db = std::move(*db);
  sqlite::Db& w = writer_->db;
  std::string sync = config_.synchronous;
  if (sync != "off" && sync != "normal" && sync != "full") {
    log->error("store.synchronous must be off, normal or full, not `{}`", sync);
    return errc::invalid_argument;
  }
  const std::string schema = fmt::format(R"(
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
  )",
                                         sync, config_.cache_kib);
  if (Status st = w.Exec(schema); !st) return st;

  // Columns: those already in the file (in file order), then configured ones not yet there.
  std::vector<std::string> columns;
  {
    auto info = w.Prepare("PRAGMA table_info(telemetry)");
    if (!info) return info.error();
    while (NextRow(*info)) {
      std::string_view name = info->Text(1);
      if (name.substr(0, 2) == "f_") columns.emplace_back(name.substr(2));
    }
  }
  for (const auto& f : config_.fields) {
    if (std::find(columns.begin(), columns.end(), f) != columns.end()) continue;
    if (Status st = w.Exec(fmt::format("ALTER TABLE telemetry ADD COLUMN {} REAL", ColumnName(f)));
        !st) {
      return st;
    }
    columns.push_back(f);
  }
  if (columns.size() > kMaxColumns) {
    log->error("store.fields: at most {} column fields", kMaxColumns);
    return errc::invalid_argument;
  }
  schema_ = FieldSchema(columns);

  auto prep = [&](sqlite::Stmt& s, const std::string& sql) -> Status {
    auto r = w.Prepare(sql);
    if (!r) return r.error();
    s = std::move(*r);
    return {};
  };
  Writer& wr = *writer_;
  std::string cols, marks, updates;
  for (const auto& c : columns) {
    cols += "," + ColumnName(c);
    marks += ",?";
    if (!updates.empty()) updates += ',';
    updates += fmt::format("{0}=coalesce(excluded.{0},{0})", ColumnName(c));
  }
  std::string upsert = columns.empty()
                           ? std::string("INSERT OR IGNORE INTO telemetry(device,ts) VALUES(?,?)")
                           : fmt::format(
                                 "INSERT INTO telemetry(device,ts{}) VALUES(?,?{}) "
                                 "ON CONFLICT(device,ts) DO UPDATE SET {}",
                                 cols, marks, updates);
  Status st;
  for (auto [stmt, sql] : std::initializer_list<std::pair<sqlite::Stmt*, std::string>>{
           {&wr.begin, "BEGIN"},
           {&wr.commit, "COMMIT"},
           {&wr.rollback, "ROLLBACK"},
           {&wr.insert_telemetry, upsert},
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
           {&wr.select_rows,
            fmt::format("SELECT ts{} FROM telemetry WHERE device=? AND ts>=? AND ts<? ORDER BY ts",
                        cols)},
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
    if (st = prep(*stmt, sql); !st) return st;
  }

  for (const auto& c : columns) {
    auto id = FieldId(c, "column");
    if (!id) return id.error();
    wr.column_field_ids.push_back(*id);
  }
  for (const char* f : kAnomalyFields) {
    auto id = FieldId(f, "anomaly");
    if (!id) return id.error();
    wr.anomaly_field_ids.push_back(*id);
  }
  {
    auto all = w.Prepare("SELECT id, name, kind FROM fields");
    if (!all) return all.error();
    std::lock_guard lk(fields_mu_);
    while (NextRow(*all))
      fields_[std::string(all->Text(1))] = {all->Int(0), std::string(all->Text(2))};
  }
  wr.last_rollup = wr.last_retention = std::chrono::steady_clock::now();
  return {};
}

Result<int64_t> TelemetryStore::FieldId(std::string_view name, std::string_view kind) {
  {
    std::lock_guard lk(fields_mu_);
    auto it = fields_.find(name);
    if (it != fields_.end()) return it->second.first;
  }
  Writer& wr = *writer_;
  wr.insert_field.Bind(1, name).Bind(2, kind);
  if (Status st = wr.insert_field.Run(); !st) return st.error();
  wr.select_field.Bind(1, name);
  Status st;
  if (!NextRow(wr.select_field, &st)) return st.ok() ? make_error_code(errc::internal) : st.error();
  int64_t id = wr.select_field.Int(0);
  std::string stored_kind(wr.select_field.Text(1));
  wr.select_field.Reset();
  std::lock_guard lk(fields_mu_);
  fields_[std::string(name)] = {id, stored_kind};
  return id;
}

Result<int64_t> TelemetryStore::DeviceId(std::string_view name, int64_t ts_ms) {
  Writer& wr = *writer_;
  auto it = wr.device_ids.find(name);
  if (it != wr.device_ids.end()) return it->second;
  wr.insert_device.Bind(1, name).Bind(2, ts_ms);
  if (Status st = wr.insert_device.Run(); !st) return st.error();
  wr.select_device.Bind(1, name);
  Status st;
  if (!NextRow(wr.select_device, &st))
    return st.ok() ? make_error_code(errc::internal) : st.error();
  int64_t id = wr.select_device.Int(0);
  wr.select_device.Reset();
  wr.device_ids.emplace(std::string(name), id);
  return id;
}

void TelemetryStore::MarkDirty(int64_t device, int64_t source, int64_t ts_ms) {
  auto [it, fresh] = writer_->batch_dirty.try_emplace({device, source}, ts_ms, ts_ms);
  if (!fresh) {
    it->second.first = std::min(it->second.first, ts_ms);
    it->second.second = std::max(it->second.second, ts_ms);
  }
}

Result<Record> TelemetryStore::Parse(std::string_view topic, std::string_view payload,
                                     telemetry::Defect* defect) const {
  const int64_t now_ms = clock_.NowNanos() / 1000000;
  Status st;
  if (topic == config_.telemetry_topic) {
    TelemetryPoint p;
    st = ParseTelemetry(payload, schema_, now_ms, &p, defect);
    if (st) return Record(std::move(p));
  } else if (topic == config_.anomaly_topic) {
    AnomalyPoint a;
    st = ParseAnomaly(payload, now_ms, &a);
    if (st) return Record(std::move(a));
  } else if (TopicMatches(config_.status_topic, topic)) {
    StatusUpdate s;
    std::string_view device = topic.substr(topic.rfind('/') + 1);
    st = ParseStatus(payload, device, now_ms, &s, defect);
    if (st) return Record(std::move(s));
  } else if (topic == config_.alerts_topic) {
    EventRecord e;
    st = ParseEvent(payload, "alert", now_ms, &e);
    if (st) return Record(std::move(e));
  } else if (TopicMatches(config_.events_topic, topic)) {
    // aiot/events/drift/... -> "drift": the first level under the filter's fixed prefix.
    std::string_view prefix = config_.events_topic;
    prefix = prefix.substr(0, prefix.find_first_of("+#"));
    std::string_view rest = topic.substr(std::min(prefix.size(), topic.size()));
    std::string_view kind = rest.substr(0, rest.find('/'));
    EventRecord e;
    st = ParseEvent(payload, kind.empty() ? std::string_view("event") : kind, now_ms, &e);
    if (st) return Record(std::move(e));
  } else {
    return errc::not_found;
  }
  metrics_->parse_errors->Increment();
  return st.error();
}

Status TelemetryStore::Ingest(std::string_view topic, std::string_view payload) {
  auto r = Parse(topic, payload);
  if (!r) return r.error();
  return Write(std::move(*r));
}

Status TelemetryStore::Write(Record record) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return errc::cancelled;
    if (queue_.size() >= static_cast<size_t>(config_.queue_capacity)) {
      metrics_->dropped->Increment();
      return errc::resource_exhausted;
    }
    queue_.push_back(std::move(record));
    ++enqueued_;
  }
  cv_.notify_one();
  return {};
}

Status TelemetryStore::WriteBatch(std::vector<Record> records) {
  size_t i = 0;
  while (i < records.size()) {
    {
      std::unique_lock lk(mu_);
      space_cv_.wait(lk, [&] {
        return stopping_ || queue_.size() < static_cast<size_t>(config_.queue_capacity);
      });
      if (stopping_) return errc::cancelled;
      while (i < records.size() && queue_.size() < static_cast<size_t>(config_.queue_capacity)) {
        queue_.push_back(std::move(records[i++]));
        ++enqueued_;
      }
    }
    cv_.notify_one();
  }
  return {};
}

Status TelemetryStore::Flush() {
  std::unique_lock lk(mu_);
  uint64_t target = enqueued_;
  space_cv_.wait(lk, [&] { return committed_ >= target || thread_.get_id() == std::thread::id(); });
  Status st = last_write_error_;
  last_write_error_ = Status();
  return st;
}

Status TelemetryStore::RunMaintenance() {
  if (Status st = Flush(); !st) return st;
  std::unique_lock lk(mu_);
  uint64_t target = maintenance_done_ + 1;
  maintenance_requested_ = true;
  cv_.notify_one();
  space_cv_.wait(lk, [&] { return maintenance_done_ >= target || stopping_; });
  return {};
}

void TelemetryStore::WriterLoop() {
  auto log = log::Get("store");
  std::vector<Record> batch;
  const auto rollup_every = std::chrono::milliseconds(std::max(config_.rollup_interval_ms, 10));
  const auto retention_every = std::chrono::seconds(std::max(config_.retention_interval_s, 1));
  while (true) {
    bool stop, maintenance;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, rollup_every,
                   [&] { return !queue_.empty() || stopping_ || maintenance_requested_; });
      size_t n =
          std::min(queue_.size(), static_cast<size_t>(std::max(config_.batch_max_records, 1)));
      batch.clear();
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_->queue_depth->Set(static_cast<double>(queue_.size()));
      stop = stopping_ && queue_.empty();
      maintenance = maintenance_requested_ && queue_.empty();
    }
    if (!batch.empty()) {
      Status st = CommitBatch(batch);
      std::lock_guard lk(mu_);
      committed_ += batch.size();
      if (!st) last_write_error_ = st;
      space_cv_.notify_all();
    }
    auto now = std::chrono::steady_clock::now();
    if (maintenance || stop || now - writer_->last_rollup >= rollup_every) {
      if (Status st = RollUp(); !st) log->warn("rollup failed: {}", st.error().message());
      writer_->last_rollup = now;
    }
    if (maintenance || now - writer_->last_retention >= retention_every) {
      if (Status st = ApplyRetention(); !st)
        log->warn("retention failed: {}", st.error().message());
      writer_->last_retention = now;
    }
    if (maintenance) {
      std::lock_guard lk(mu_);
      maintenance_requested_ = false;
      ++maintenance_done_;
      space_cv_.notify_all();
    }
    if (stop) break;
  }
  std::lock_guard lk(mu_);
  space_cv_.notify_all();
}

Status TelemetryStore::CommitBatch(std::vector<Record>& batch) {
  Writer& wr = *writer_;
  wr.batch_dirty.clear();
  std::unordered_map<int64_t, int64_t> last_seen;
  size_t n_tel = 0, n_anom = 0, n_status = 0, n_event = 0;
  Status st = wr.begin.Run();
  auto fail = [&](Status s) {
    (void)wr.rollback.Run();
    // Ids handed out inside the rolled-back transaction are gone.
    wr.device_ids.clear();
    metrics_->write_errors->Increment(static_cast<double>(batch.size()));
    log::Get("store")->error("write batch of {} failed: {}", batch.size(), s.error().message());
    return s;
  };
  if (!st) return fail(st);
  for (Record& rec : batch) {
    if (auto* p = std::get_if<TelemetryPoint>(&rec)) {
      auto dev = DeviceId(p->device, p->ts_ms);
      if (!dev) return fail(dev.error());
      sqlite::Stmt& s = wr.insert_telemetry;
      s.Bind(1, *dev).Bind(2, p->ts_ms);
      for (size_t c = 0; c < schema_.size(); ++c) s.Bind(static_cast<int>(c) + 3, p->columns[c]);
      if (st = s.Run(); !st) return fail(st);
      MarkDirty(*dev, kSrcColumns, p->ts_ms);
      for (const auto& [name, value] : p->extra) {
        auto fid = FieldId(name, "extra");
        if (!fid) return fail(fid.error());
        wr.insert_extra.Bind(1, *dev).Bind(2, *fid).Bind(3, p->ts_ms).Bind(4, value);
        if (st = wr.insert_extra.Run(); !st) return fail(st);
        MarkDirty(*dev, *fid, p->ts_ms);
      }
      auto [it, fresh] = last_seen.try_emplace(*dev, p->ts_ms);
      if (!fresh) it->second = std::max(it->second, p->ts_ms);
      ++n_tel;
    } else if (auto* a = std::get_if<AnomalyPoint>(&rec)) {
      auto dev = DeviceId(a->device, a->ts_ms);
      if (!dev) return fail(dev.error());
      wr.insert_anomaly.Bind(1, *dev)
          .Bind(2, a->ts_ms)
          .Bind(3, static_cast<int64_t>(a->fault))
          .Bind(4, a->score)
          .Bind(5, static_cast<int64_t>(a->level))
          .Bind(6, std::string_view(a->model));
      if (st = wr.insert_anomaly.Run(); !st) return fail(st);
      MarkDirty(*dev, kSrcAnomaly, a->ts_ms);
      ++n_anom;
    } else if (auto* s = std::get_if<StatusUpdate>(&rec)) {
      auto dev = DeviceId(s->device, s->ts_ms);
      if (!dev) return fail(dev.error());
      wr.update_status.Bind(1, static_cast<int64_t>(s->online ? 1 : 0));
      if (s->model.empty()) {
        wr.update_status.BindNull(2);
      } else {
        wr.update_status.Bind(2, std::string_view(s->model));
      }
      wr.update_status.Bind(3, std::string_view(s->json)).Bind(4, s->ts_ms).Bind(5, *dev);
      if (st = wr.update_status.Run(); !st) return fail(st);
      ++n_status;
    } else if (auto* e = std::get_if<EventRecord>(&rec)) {
      wr.insert_event.Bind(1, e->ts_ms).Bind(2, std::string_view(e->kind));
      if (e->device.empty()) {
        wr.insert_event.BindNull(3);
      } else {
        wr.insert_event.Bind(3, std::string_view(e->device));
      }
      wr.insert_event.Bind(4, static_cast<int64_t>(e->level)).Bind(5, std::string_view(e->json));
      if (st = wr.insert_event.Run(); !st) return fail(st);
      ++n_event;
    }
  }
  for (const auto& [dev, ts] : last_seen) {
    wr.touch_device.Bind(1, ts).Bind(2, dev);
    if (st = wr.touch_device.Run(); !st) return fail(st);
  }
  {
    // Mark before the data is visible, so a reader never trusts a stale rollup.
    std::lock_guard lk(dirty_mu_);
    for (const auto& [key, range] : wr.batch_dirty) {
      auto [it, fresh] = dirty_.try_emplace(key, range);
      if (!fresh) {
        it->second.first = std::min(it->second.first, range.first);
        it->second.second = std::max(it->second.second, range.second);
      }
    }
  }
  if (st = wr.commit.Run(); !st) return fail(st);
  metrics_->telemetry->Increment(static_cast<double>(n_tel));
  metrics_->anomalies->Increment(static_cast<double>(n_anom));
  metrics_->statuses->Increment(static_cast<double>(n_status));
  metrics_->events->Increment(static_cast<double>(n_event));
  metrics_->batches->Increment();
  return {};
}

Status TelemetryStore::RollUp() {
  Writer& wr = *writer_;
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> work;
  {
    std::lock_guard lk(dirty_mu_);
    work = dirty_;  // only this thread adds entries, so dirty_ cannot change until we clear it
  }
  if (work.empty()) return {};
  Status st = wr.begin.Run();
  if (!st) return st;
  auto write = [&](int64_t dev, int64_t field, int64_t bucket, const Acc& acc) -> Status {
    if (acc.n == 0) return {};
    wr.insert_rollup.Bind(1, dev)
        .Bind(2, field)
        .Bind(3, bucket)
        .Bind(4, acc.n)
        .Bind(5, acc.sum)
        .Bind(6, acc.min)
        .Bind(7, acc.max)
        .Bind(8, acc.last);
    return wr.insert_rollup.Run();
  };
  for (const auto& [key, range] : work) {
    // Plain locals: clang 14 cannot capture structured bindings in lambdas.
    const int64_t dev = key.first;
    const int64_t src = key.second;
    int64_t lo = FloorTo(range.first, kMinute);
    int64_t hi = FloorTo(range.second, kMinute) + kMinute;
    sqlite::Stmt* s;
    std::vector<int64_t> field_ids;
    if (src == kSrcColumns) {
      s = &wr.select_rows;
      s->Bind(1, dev).Bind(2, lo).Bind(3, hi);
      field_ids = wr.column_field_ids;
    } else if (src == kSrcAnomaly) {
      s = &wr.select_anomaly_rows;
      s->Bind(1, dev).Bind(2, lo).Bind(3, hi);
      field_ids = wr.anomaly_field_ids;
    } else {
      s = &wr.select_extra_rows;
      s->Bind(1, dev).Bind(2, src).Bind(3, lo).Bind(4, hi);
      field_ids = {src};
    }
    std::vector<Acc> accs(field_ids.size());
    int64_t cur = INT64_MIN;
    auto flush = [&]() -> Status {
      if (cur == INT64_MIN) return {};
      for (size_t i = 0; i < accs.size(); ++i) {
        if (Status w = write(dev, field_ids[i], cur, accs[i]); !w) return w;
        accs[i] = Acc{};
      }
      return {};
    };
    Status step;
    while (NextRow(*s, &step)) {
      int64_t b = FloorTo(s->Int(0), kMinute);
      if (b != cur) {
        if (st = flush(); !st) break;
        cur = b;
      }
      for (size_t i = 0; i < accs.size(); ++i) {
        if (!s->IsNull(static_cast<int>(i) + 1)) accs[i].Add(s->Double(static_cast<int>(i) + 1));
      }
    }
    if (st) st = step;
    if (st) st = flush();
    if (!st) {
      s->Reset();
      (void)wr.rollback.Run();
      return st;
    }
  }
  std::lock_guard lk(dirty_mu_);
  if (st = wr.commit.Run(); !st) {
    (void)wr.rollback.Run();
    return st;
  }
  dirty_.clear();
  return {};
}

Status TelemetryStore::ApplyRetention() {
  Writer& wr = *writer_;
  const int64_t now_ms = clock_.NowNanos() / 1000000;
  const int64_t raw_cutoff = now_ms - config_.raw_retention_days * kDay;
  const int64_t rollup_cutoff = now_ms - config_.rollup_retention_days * kDay;
  const int64_t event_cutoff = now_ms - config_.event_retention_days * kDay;
  sqlite::Db& db = wr.db;
  std::vector<int64_t> devices;
  {
    auto q = db.Prepare("SELECT id FROM devices");
    if (!q) return q.error();
    while (NextRow(*q)) devices.push_back(q->Int(0));
  }
  Status st = wr.begin.Run();
  if (!st) return st;
  for (auto [sql, cutoff] : std::initializer_list<std::pair<const char*, int64_t>>{
           {"DELETE FROM telemetry WHERE device=? AND ts<?", raw_cutoff},
           {"DELETE FROM telemetry_extra WHERE device=? AND ts<?", raw_cutoff},
           {"DELETE FROM anomaly WHERE device=? AND ts<?", event_cutoff},
           {"DELETE FROM rollup_1m WHERE device=? AND bucket<?", rollup_cutoff}}) {
    auto del = db.Prepare(sql);
    if (!del) {
      (void)wr.rollback.Run();
      return del.error();
    }
    for (int64_t dev : devices) {
      del->Bind(1, dev).Bind(2, cutoff);
      if (st = del->Run(); !st) {
        (void)wr.rollback.Run();
        return st;
      }
    }
  }
  auto del_events = db.Prepare("DELETE FROM events WHERE ts<?");
  if (!del_events) {
    (void)wr.rollback.Run();
    return del_events.error();
  }
  del_events->Bind(1, event_cutoff);
  if (st = del_events->Run(); !st) {
    (void)wr.rollback.Run();
    return st;
  }
  return wr.commit.Run();
}

Result<std::unique_ptr<sqlite::Db>> TelemetryStore::AcquireReader() {
  {
    std::lock_guard lk(pool_mu_);
    if (!pool_.empty()) {
      auto db = std::move(pool_.back());
      pool_.pop_back();
      return db;
    }
  }
  auto db = sqlite::Db::Open(config_.path);
  if (!db) return db.error();
  auto p = std::make_unique<sqlite::Db>(std::move(*db));
  if (Status st =
          p->Exec(fmt::format("PRAGMA query_only=1; PRAGMA cache_size=-{};", config_.cache_kib));
      !st) {
    return st.error();
  }
  return p;
}

void TelemetryStore::ReleaseReader(std::unique_ptr<sqlite::Db> db) {
  std::lock_guard lk(pool_mu_);
  if (pool_.size() < static_cast<size_t>(std::max(config_.reader_connections, 1))) {
    pool_.push_back(std::move(db));
  }
}

std::vector<std::string> TelemetryStore::FieldNames() const {
  std::vector<std::string> out = schema_.columns();
  for (const char* f : kAnomalyFields) out.emplace_back(f);
  std::lock_guard lk(fields_mu_);
  for (const auto& [name, v] : fields_) {
    if (v.second == "extra") out.push_back(name);
  }
  return out;
}

Result<SeriesResult> TelemetryStore::Query(const SeriesQuery& q) {
  auto r = AcquireReader();
  if (!r) return r.error();
  ReaderLease db(this, std::move(*r));
  SeriesResult result;
  result.query = q;
  if (result.query.fields.empty()) {
    result.query.fields = schema_.columns();
    result.query.fields.emplace_back("score");
  }
  const auto& fields = result.query.fields;

  // Read transaction: the snapshot and the dirty ranges are taken together (see dirty_mu_).
  if (Status st = db->Exec("BEGIN"); !st) return st.error();
  struct EndTxn {
    sqlite::Db& db;
    ~EndTxn() { (void)db.Exec("COMMIT"); }
  } end{*db};

  std::vector<std::pair<int64_t, std::string>> devices;
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> dirty;
  {
    // The first read fixes the snapshot; doing it under dirty_mu_ makes it atomic with the
    // copy of the dirty ranges (the writer commits rollups and clears them under the same lock).
    std::lock_guard lk(dirty_mu_);
    auto s = db->Prepare(q.devices.empty() ? "SELECT id, name FROM devices ORDER BY name"
                                           : "SELECT id, name FROM devices WHERE name=?");
    if (!s) return s.error();
    if (q.devices.empty()) {
      while (NextRow(*s)) devices.emplace_back(s->Int(0), std::string(s->Text(1)));
    } else {
      for (const auto& name : q.devices) {
        s->Bind(1, std::string_view(name));
        if (NextRow(*s)) devices.emplace_back(s->Int(0), std::string(s->Text(1)));
        s->Reset();
      }
    }
    dirty = dirty_;
  }

  // Field -> source.
  struct FieldRef {
    std::string name;
    int64_t src;  // kSrcColumns, kSrcAnomaly, or an extra field id; INT64_MIN = unknown
    int index;    // column index, or index into anomaly columns
    int64_t fid;  // field id (rollups)
  };
  std::vector<FieldRef> refs;
  {
    std::lock_guard lk(fields_mu_);
    for (const auto& f : fields) {
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
      refs.push_back(ref);
    }
  }

  const int64_t bucket = q.bucket_ms;
  int64_t total_points = 0;
  for (const auto& device : devices) {
    const int64_t dev = device.first;
    const std::string& dev_name = device.second;
    // Group the requested fields by source so that each table is scanned once per device.
    std::map<int64_t, std::vector<size_t>> groups;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (refs[i].src != INT64_MIN) groups[refs[i].src].push_back(i);
    }
    std::vector<Series> out(refs.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      out[i].device = dev_name;
      out[i].field = refs[i].name;
    }
    for (const auto& group : groups) {
      const int64_t src = group.first;
      const std::vector<size_t>& members = group.second;
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
      auto raw = db->Prepare(sql);
      if (!raw) return raw.error();
      if (bucket == 0) {
        raw->Bind(1, dev).Bind(2, q.from_ms).Bind(3, q.to_ms);
        Status st;
        int64_t rows = 0;
        while (NextRow(*raw, &st) && rows < q.limit) {
          ++rows;
          for (size_t k = 0; k < members.size(); ++k) {
            if (raw->IsNull(static_cast<int>(k) + 1)) continue;
            Series& s = out[members[k]];
            s.times_ms.push_back(raw->Int(0));
            s.values.push_back(raw->Double(static_cast<int>(k) + 1));
          }
        }
        raw->Reset();
        if (!st) return st.error();
        total_points += rows * static_cast<int64_t>(members.size());
        if (total_points > config_.max_query_points) return errc::out_of_range;
        continue;
      }
      std::vector<Bucketer> buckets(members.size(), Bucketer(bucket));
      auto scan_raw = [&](int64_t from, int64_t to) -> Status {
        if (from >= to) return {};
        raw->Bind(1, dev).Bind(2, from).Bind(3, to);
        Status st;
        while (NextRow(*raw, &st)) {
          int64_t ts = raw->Int(0);
          for (size_t k = 0; k < members.size(); ++k) {
            if (!raw->IsNull(static_cast<int>(k) + 1)) {
              buckets[k].At(ts).Add(raw->Double(static_cast<int>(k) + 1));
            }
          }
        }
        return st;
      };
      int64_t r0 = q.from_ms, r1 = q.from_ms;  // rollup range [r0, r1)
      if (bucket % kMinute == 0) {
        r0 = CeilTo(q.from_ms, kMinute);
        r1 = FloorTo(q.to_ms, kMinute);
        auto d = dirty.find({dev, src});
        if (d != dirty.end()) r1 = std::min(r1, FloorTo(d->second.first, kMinute));
        if (r1 < r0) r1 = r0;
      }
      if (Status st = scan_raw(q.from_ms, r0); !st) return st.error();
      if (r1 > r0) {
        result.used_rollups = true;
        auto roll = db->Prepare(
            "SELECT bucket,n,sum,min,max,last FROM rollup_1m WHERE device=? AND field=? AND "
            "bucket>=? AND bucket<? ORDER BY bucket");
        if (!roll) return roll.error();
        for (size_t k = 0; k < members.size(); ++k) {
          roll->Bind(1, dev).Bind(2, refs[members[k]].fid).Bind(3, r0).Bind(4, r1);
          Status st;
          while (NextRow(*roll, &st)) {
            buckets[k]
                .At(roll->Int(0))
                .Merge(roll->Int(1), roll->Double(2), roll->Double(3), roll->Double(4),
                       roll->Double(5));
          }
          if (!st) return st.error();
        }
      }
      if (Status st = scan_raw(std::max(r1, q.from_ms), q.to_ms); !st) return st.error();
      for (size_t k = 0; k < members.size(); ++k) {
        buckets[k].Emit(q.agg, &out[members[k]]);
        total_points += static_cast<int64_t>(out[members[k]].times_ms.size());
      }
      if (total_points > config_.max_query_points) return errc::out_of_range;
    }
    for (auto& s : out) result.series.push_back(std::move(s));
  }
  return result;
}

Result<std::vector<DeviceInfo>> TelemetryStore::Devices() {
  auto r = AcquireReader();
  if (!r) return r.error();
  ReaderLease db(this, std::move(*r));
  if (Status st = db->Exec("BEGIN"); !st) return st.error();
  struct EndTxn {
    sqlite::Db& db;
    ~EndTxn() { (void)db.Exec("COMMIT"); }
  } end{*db};
  auto list = db->Prepare(
      "SELECT id,name,first_seen,last_seen,online,model,status,status_ts FROM devices "
      "ORDER BY name");
  if (!list) return list.error();
  auto anomaly = db->Prepare(
      "SELECT ts,level,score,model FROM anomaly WHERE device=? ORDER BY ts DESC LIMIT 1");
  if (!anomaly) return anomaly.error();
  std::string cols;
  for (const auto& c : schema_.columns()) cols += "," + ColumnName(c);
  auto latest = db->Prepare(
      fmt::format("SELECT ts{} FROM telemetry WHERE device=? ORDER BY ts DESC LIMIT 1", cols));
  if (!latest) return latest.error();
  std::vector<DeviceInfo> out;
  Status st;
  while (NextRow(*list, &st)) {
    DeviceInfo d;
    int64_t id = list->Int(0);
    d.name = list->Text(1);
    d.first_seen_ms = list->Int(2);
    d.last_seen_ms = list->Int(3);
    d.has_status = !list->IsNull(7);
    d.online = d.has_status && list->Int(4) != 0;
    d.model = list->Text(5);
    d.status_json = list->Text(6);
    anomaly->Bind(1, id);
    if (NextRow(*anomaly)) {
      d.anomaly_ts_ms = anomaly->Int(0);
      d.level = static_cast<Level>(anomaly->Int(1));
      if (!anomaly->IsNull(2)) d.score = anomaly->Double(2);
      if (d.model.empty()) d.model = anomaly->Text(3);
      anomaly->Reset();
    }
    latest->Bind(1, id);
    if (NextRow(*latest)) {
      for (size_t c = 0; c < schema_.size(); ++c) {
        if (!latest->IsNull(static_cast<int>(c) + 1)) {
          d.latest.emplace_back(schema_.columns()[c], latest->Double(static_cast<int>(c) + 1));
        }
      }
      latest->Reset();
    }
    out.push_back(std::move(d));
  }
  if (!st) return st.error();
  return out;
}

Result<std::vector<TimelineEntry>> TelemetryStore::Timeline(const TimelineQuery& q) {
  auto r = AcquireReader();
  if (!r) return r.error();
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
    if (!s) return s.error();
    s->Bind(1, q.from_ms).Bind(2, q.to_ms).Bind(3, q.limit * (q.devices.empty() ? 1 : 50));
    Status st;
    while (NextRow(*s, &st)) {
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
    if (!st) return st.error();
  }
  {
    auto s = db->Prepare(
        "SELECT ts,kind,device,level,payload FROM events WHERE ts>=? AND ts<? ORDER BY ts DESC "
        "LIMIT ?");
    if (!s) return s.error();
    s->Bind(1, q.from_ms).Bind(2, q.to_ms).Bind(3, q.limit * 10);
    Status st;
    while (NextRow(*s, &st)) {
      TimelineEntry e;
      e.ts_ms = s->Int(0);
      e.kind = s->Text(1);
      e.device = s->Text(2);
      if (!wanted_kind(e.kind) || !wanted_device(e.device)) continue;
      e.level = static_cast<Level>(s->Int(3));
      e.json = s->Text(4);
      out.push_back(std::move(e));
    }
    if (!st) return st.error();
  }
  std::stable_sort(out.begin(), out.end(), [](const TimelineEntry& a, const TimelineEntry& b) {
    return a.ts_ms > b.ts_ms;
  });
  if (out.size() > static_cast<size_t>(q.limit)) out.resize(static_cast<size_t>(q.limit));
  return out;
}

}  // namespace aiot::store
