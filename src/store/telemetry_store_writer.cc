// TelemetryStore's writer: the bounded queue, the writer thread, one transaction per batch
// (CommitBatch), the dirty ranges, 1-minute rollups and retention.
#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "base/errc.h"
#include "base/log.h"
#include "store/telemetry_store.h"
#include "store/telemetry_store_internal.h"

namespace aiot::store {

using internal::Acc;
using internal::FloorTo;
using internal::kDay;
using internal::kMinute;
using internal::kSrcAnomaly;
using internal::kSrcColumns;
using internal::SqlError;

// ---- The queue ----

Status TelemetryStore::Write(Record record) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return {errc::cancelled, "the store is closing"};
    if (queue_.size() >= static_cast<size_t>(config_.queue_capacity)) {
      metrics_->dropped->Increment();
      return {errc::resource_exhausted,
              fmt::format("the write queue is full ({} records)", config_.queue_capacity)};
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
      if (stopping_) return {errc::cancelled, "the store is closing"};
      while (i < records.size() && queue_.size() < static_cast<size_t>(config_.queue_capacity)) {
        queue_.push_back(std::move(records[i++]));
        ++enqueued_;
      }
    }
    cv_.notify_one();
  }
  return {};
}

Status TelemetryStore::WriteThen(Record record, OnCommitted on_committed) {
  {
    std::unique_lock lk(mu_);
    space_cv_.wait(lk, [&] {
      return stopping_ || queue_.size() < static_cast<size_t>(config_.queue_capacity);
    });
    if (stopping_) return {errc::cancelled, "the store is closing"};
    on_committed_.emplace_back(enqueued_, std::move(on_committed));
    queue_.push_back(std::move(record));
    ++enqueued_;
  }
  cv_.notify_one();
  return {};
}

void TelemetryStore::FinishBatch(size_t records, const Status& status) {
  std::vector<OnCommitted> done;
  {
    std::lock_guard lk(mu_);
    committed_ += records;
    if (!status) last_write_error_ = status;
    while (!on_committed_.empty() && on_committed_.front().first < committed_) {
      done.push_back(std::move(on_committed_.front().second));
      on_committed_.pop_front();
    }
    space_cv_.notify_all();
  }
  for (auto& f : done) f(status.ok());
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

// ---- The writer thread ----

// The writer thread's loop, where its errors are handled: a failed batch is logged and kept for
// the next Flush(); a failed rollup or retention is logged and retried on the next round.
void TelemetryStore::WriterLoop() {
  auto log = log::Get("store");
  std::vector<Record> batch;
  const auto rollup_every = std::chrono::milliseconds(std::max(config_.rollup_interval_ms, 10));
  const auto retention_every = std::chrono::seconds(std::max(config_.retention_interval_s, 1));
  while (true) {
    bool stop, maintenance;
    TakeBatch(batch, &stop, &maintenance);
    if (!batch.empty()) {
      Status st = CommitBatch(batch);
      if (!st) log->error("{}", st.ToString());
      FinishBatch(batch.size(), st);
    }
    auto now = std::chrono::steady_clock::now();
    if (maintenance || stop || now - writer_->last_rollup >= rollup_every) {
      if (Status st = RollUp(); !st) log->warn("rollup failed: {}", st.ToString());
      writer_->last_rollup = now;
    }
    if (maintenance || now - writer_->last_retention >= retention_every) {
      if (Status st = ApplyRetention(); !st) log->warn("retention failed: {}", st.ToString());
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

// Waits for work (at most a rollup interval), then moves up to batch_max_records records from the
// queue into `batch`. `stop`: closing and nothing left; `maintenance`: asked for and nothing left.
void TelemetryStore::TakeBatch(std::vector<Record>& batch, bool* stop, bool* maintenance) {
  const auto rollup_every = std::chrono::milliseconds(std::max(config_.rollup_interval_ms, 10));
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, rollup_every,
               [&] { return !queue_.empty() || stopping_ || maintenance_requested_; });
  size_t n = std::min(queue_.size(), static_cast<size_t>(std::max(config_.batch_max_records, 1)));
  batch.clear();
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  metrics_->queue_depth->Set(static_cast<double>(queue_.size()));
  *stop = stopping_ && queue_.empty();
  *maintenance = maintenance_requested_ && queue_.empty();
}

// ---- One batch, one transaction ----

Status TelemetryStore::CommitBatch(std::vector<Record>& batch) {
  Writer& wr = *writer_;
  wr.batch_dirty.clear();
  wr.batch_last_seen.clear();
  wr.n_telemetry = wr.n_anomalies = wr.n_statuses = wr.n_events = 0;
  Status st = wr.begin.Run();
  if (!st) st = SqlError(wr.db, st, "begin");
  for (size_t i = 0; st && i < batch.size(); ++i) st = WriteRecord(batch[i]);
  if (st) st = TouchDevices();
  if (st) {
    PublishDirty();  // before the data is visible, so a reader never trusts a stale rollup
    if (st = wr.commit.Run(); !st) st = SqlError(wr.db, st, "commit");
  }
  if (!st) {
    (void)wr.rollback.Run();
    // Ids handed out inside the rolled-back transaction are gone.
    wr.device_ids.clear();
    metrics_->write_errors->Increment(static_cast<double>(batch.size()));
    return st.Prefix(fmt::format("write batch of {} records", batch.size()));
  }
  metrics_->telemetry->Increment(static_cast<double>(wr.n_telemetry));
  metrics_->anomalies->Increment(static_cast<double>(wr.n_anomalies));
  metrics_->statuses->Increment(static_cast<double>(wr.n_statuses));
  metrics_->events->Increment(static_cast<double>(wr.n_events));
  metrics_->batches->Increment();
  return {};
}

Status TelemetryStore::WriteRecord(const Record& record) {
  if (const auto* p = std::get_if<TelemetryPoint>(&record)) return WriteTelemetry(*p);
  if (const auto* a = std::get_if<AnomalyPoint>(&record)) return WriteAnomaly(*a);
  if (const auto* s = std::get_if<StatusUpdate>(&record)) return WriteStatus(*s);
  if (const auto* e = std::get_if<EventRecord>(&record)) return WriteEvent(*e);
  return {};
}

Status TelemetryStore::WriteTelemetry(const TelemetryPoint& p) {
  Writer& wr = *writer_;
  auto dev = DeviceId(p.device, p.ts_ms);
  if (!dev) return dev.status();
  sqlite::Stmt& s = wr.insert_telemetry;
  s.Bind(1, *dev).Bind(2, p.ts_ms);
  for (size_t c = 0; c < schema_.size(); ++c) s.Bind(static_cast<int>(c) + 3, p.columns[c]);
  if (Status st = s.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("insert telemetry of `{}`", p.device));
  }
  MarkDirty(*dev, kSrcColumns, p.ts_ms);
  for (const auto& [name, value] : p.extra) {
    auto fid = FieldId(name, "extra");
    if (!fid) return fid.status();
    wr.insert_extra.Bind(1, *dev).Bind(2, *fid).Bind(3, p.ts_ms).Bind(4, value);
    if (Status st = wr.insert_extra.Run(); !st) {
      return SqlError(wr.db, st, fmt::format("insert field `{}` of `{}`", name, p.device));
    }
    MarkDirty(*dev, *fid, p.ts_ms);
  }
  auto [it, fresh] = wr.batch_last_seen.try_emplace(*dev, p.ts_ms);
  if (!fresh) it->second = std::max(it->second, p.ts_ms);
  ++wr.n_telemetry;
  return {};
}

Status TelemetryStore::WriteAnomaly(const AnomalyPoint& a) {
  Writer& wr = *writer_;
  auto dev = DeviceId(a.device, a.ts_ms);
  if (!dev) return dev.status();
  wr.insert_anomaly.Bind(1, *dev)
      .Bind(2, a.ts_ms)
      .Bind(3, static_cast<int64_t>(a.fault))
      .Bind(4, a.score)
      .Bind(5, static_cast<int64_t>(a.level))
      .Bind(6, std::string_view(a.model));
  if (Status st = wr.insert_anomaly.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("insert anomaly of `{}`", a.device));
  }
  MarkDirty(*dev, kSrcAnomaly, a.ts_ms);
  ++wr.n_anomalies;
  return {};
}

Status TelemetryStore::WriteStatus(const StatusUpdate& s) {
  Writer& wr = *writer_;
  auto dev = DeviceId(s.device, s.ts_ms);
  if (!dev) return dev.status();
  wr.update_status.Bind(1, static_cast<int64_t>(s.online ? 1 : 0));
  if (s.model.empty()) {
    wr.update_status.BindNull(2);
  } else {
    wr.update_status.Bind(2, std::string_view(s.model));
  }
  wr.update_status.Bind(3, std::string_view(s.json)).Bind(4, s.ts_ms).Bind(5, *dev);
  if (Status st = wr.update_status.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("update the status of `{}`", s.device));
  }
  ++wr.n_statuses;
  return {};
}

Status TelemetryStore::WriteEvent(const EventRecord& e) {
  Writer& wr = *writer_;
  wr.insert_event.Bind(1, e.ts_ms).Bind(2, std::string_view(e.kind));
  if (e.device.empty()) {
    wr.insert_event.BindNull(3);
  } else {
    wr.insert_event.Bind(3, std::string_view(e.device));
  }
  wr.insert_event.Bind(4, static_cast<int64_t>(e.level)).Bind(5, std::string_view(e.json));
  if (Status st = wr.insert_event.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("insert `{}` event", e.kind));
  }
  ++wr.n_events;
  return {};
}

// Each device's last_seen moves to its newest telemetry of the batch.
Status TelemetryStore::TouchDevices() {
  Writer& wr = *writer_;
  for (const auto& [dev, ts] : wr.batch_last_seen) {
    wr.touch_device.Bind(1, ts).Bind(2, dev);
    if (Status st = wr.touch_device.Run(); !st) return SqlError(wr.db, st, "update last_seen");
  }
  return {};
}

// Adds the batch's dirty ranges to the store's, which readers consult (see dirty_).
void TelemetryStore::PublishDirty() {
  std::lock_guard lk(dirty_mu_);
  for (const auto& [key, range] : writer_->batch_dirty) {
    auto [it, fresh] = dirty_.try_emplace(key, range);
    if (!fresh) {
      it->second.first = std::min(it->second.first, range.first);
      it->second.second = std::max(it->second.second, range.second);
    }
  }
}

void TelemetryStore::MarkDirty(int64_t device, int64_t source, int64_t ts_ms) {
  auto [it, fresh] = writer_->batch_dirty.try_emplace({device, source}, ts_ms, ts_ms);
  if (!fresh) {
    it->second.first = std::min(it->second.first, ts_ms);
    it->second.second = std::max(it->second.second, ts_ms);
  }
}

// The id of device `name` (added, first seen at `ts_ms`, when new). Writer thread.
Result<int64_t> TelemetryStore::DeviceId(std::string_view name, int64_t ts_ms) {
  Writer& wr = *writer_;
  auto it = wr.device_ids.find(name);
  if (it != wr.device_ids.end()) return it->second;
  wr.insert_device.Bind(1, name).Bind(2, ts_ms);
  if (Status st = wr.insert_device.Run(); !st) {
    return SqlError(wr.db, st, fmt::format("add device `{}`", name));
  }
  wr.select_device.Bind(1, name);
  auto row = wr.select_device.Step();
  if (!row) return SqlError(wr.db, row.status(), fmt::format("read the id of device `{}`", name));
  if (!*row) return Status(errc::internal, fmt::format("device `{}` vanished", name));
  int64_t id = wr.select_device.Int(0);
  wr.select_device.Reset();
  wr.device_ids.emplace(std::string(name), id);
  return id;
}

// ---- Rollups and retention ----

// Recomputes the dirty minutes from raw into rollup_1m, then clears the dirty ranges in the same
// critical section as the commit (see dirty_mu_).
Status TelemetryStore::RollUp() {
  Writer& wr = *writer_;
  DirtyRanges work;
  {
    std::lock_guard lk(dirty_mu_);
    work = dirty_;  // only this thread adds entries, so dirty_ cannot change until we clear it
  }
  if (work.empty()) return {};
  if (Status st = wr.begin.Run(); !st) return SqlError(wr.db, st, "begin rollups");
  for (const auto& [key, range] : work) {
    if (Status st = RollUpRange(key.first, key.second, range); !st) {
      (void)wr.rollback.Run();
      return st;
    }
  }
  std::lock_guard lk(dirty_mu_);
  if (Status st = wr.commit.Run(); !st) {
    st = SqlError(wr.db, st, "commit rollups");
    (void)wr.rollback.Run();
    return st;
  }
  dirty_.clear();
  return {};
}

// Rewrites the rollups of the minutes [range.first, range.second] of one series source.
Status TelemetryStore::RollUpRange(int64_t dev, int64_t src, std::pair<int64_t, int64_t> range) {
  Writer& wr = *writer_;
  const int64_t lo = FloorTo(range.first, kMinute);
  const int64_t hi = FloorTo(range.second, kMinute) + kMinute;
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
  int64_t cur = INT64_MIN;  // the minute being accumulated
  auto flush = [&]() -> Status {
    if (cur == INT64_MIN) return {};
    for (size_t i = 0; i < accs.size(); ++i) {
      if (accs[i].n != 0) {
        wr.insert_rollup.Bind(1, dev)
            .Bind(2, field_ids[i])
            .Bind(3, cur)
            .Bind(4, accs[i].n)
            .Bind(5, accs[i].sum)
            .Bind(6, accs[i].min)
            .Bind(7, accs[i].max)
            .Bind(8, accs[i].last);
        if (Status st = wr.insert_rollup.Run(); !st) return SqlError(wr.db, st, "write a rollup");
      }
      accs[i] = Acc{};
    }
    return {};
  };
  for (;;) {
    auto row = s->Step();
    if (!row) return SqlError(wr.db, row.status(), "read rows to roll up");
    if (!*row) break;
    int64_t b = FloorTo(s->Int(0), kMinute);
    if (b != cur) {
      if (Status st = flush(); !st) {
        s->Reset();
        return st;
      }
      cur = b;
    }
    for (size_t i = 0; i < accs.size(); ++i) {
      if (!s->IsNull(static_cast<int>(i) + 1)) accs[i].Add(s->Double(static_cast<int>(i) + 1));
    }
  }
  return flush();
}

// Deletes raw rows, anomalies, rollups and events older than their retention, in one transaction.
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
    if (!q) return SqlError(db, q.status(), "list devices");
    for (;;) {
      auto row = q->Step();
      if (!row) return SqlError(db, row.status(), "list devices");
      if (!*row) break;
      devices.push_back(q->Int(0));
    }
  }
  if (Status st = wr.begin.Run(); !st) return SqlError(db, st, "begin retention");
  auto fail = [&](Status st, std::string_view what) {
    st = SqlError(db, st, what);
    (void)wr.rollback.Run();
    return st;
  };
  for (auto [sql, cutoff] : std::initializer_list<std::pair<const char*, int64_t>>{
           {"DELETE FROM telemetry WHERE device=? AND ts<?", raw_cutoff},
           {"DELETE FROM telemetry_extra WHERE device=? AND ts<?", raw_cutoff},
           {"DELETE FROM anomaly WHERE device=? AND ts<?", event_cutoff},
           {"DELETE FROM rollup_1m WHERE device=? AND bucket<?", rollup_cutoff}}) {
    auto del = db.Prepare(sql);
    if (!del) return fail(del.status(), sql);
    for (int64_t dev : devices) {
      del->Bind(1, dev).Bind(2, cutoff);
      if (Status st = del->Run(); !st) return fail(st, sql);
    }
  }
  auto del_events = db.Prepare("DELETE FROM events WHERE ts<?");
  if (!del_events) return fail(del_events.status(), "delete old events");
  del_events->Bind(1, event_cutoff);
  if (Status st = del_events->Run(); !st) return fail(st, "delete old events");
  if (Status st = wr.commit.Run(); !st) return SqlError(db, st, "commit retention");
  return {};
}

}  // namespace aiot::store
