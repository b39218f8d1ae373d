#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "store/query.h"
#include "store/records.h"
#include "store/store_config.h"

namespace aiot::store {

// Latest known state of one device, for the fleet overview.
struct DeviceInfo {
  std::string name;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;  // newest telemetry timestamp
  bool online = false;       // from fan/status/<id>; false when never seen
  bool has_status = false;
  std::string model;              // from status, else from the newest anomaly message
  Level level = Level::kUnknown;  // newest anomaly level
  double score = NAN;             // newest anomaly score
  int64_t anomaly_ts_ms = 0;
  std::vector<std::pair<std::string, double>> latest;  // newest telemetry row (column fields)
  std::string status_json;
};

// One entry of the anomaly/alert timeline.
struct TimelineEntry {
  int64_t ts_ms = 0;
  std::string kind;  // "anomaly", "alert", or an event kind ("drift", "model", ...)
  std::string device;
  Level level = Level::kUnknown;
  double score = NAN;  // anomalies only
  std::string model;   // anomalies only
  std::string json;    // alerts/events: the payload
};

struct TimelineQuery {
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
  std::vector<std::string> devices;  // empty = all
  std::vector<std::string> kinds;    // empty = all
  bool include_ok = false;  // anomalies with level ok (fault 0) are left out unless asked for
  int64_t limit = 1000;     // newest first
};

// The embedded telemetry store: SQLite in WAL mode.
//
// Schema (see README.md): integer device ids; telemetry is a WITHOUT ROWID table keyed
// (device, ts) with one REAL column per configured field; other numeric fields go to
// telemetry_extra keyed (device, field, ts); anomalies keyed (device, ts); 1-minute rollups
// (n, sum, min, max, last) keyed (device, field, bucket); alerts/events in an events table.
//
// Threads: Write/Ingest/Query/Devices/Timeline may be called from any thread. Writes go through
// a bounded queue to one writer thread that owns the write connection and commits one transaction
// per batch (prepared statements). Queries use a pool of read connections (WAL lets them run
// beside the writer). Rollups and retention run on the writer thread between batches.
class TelemetryStore {
 public:
  static Result<std::unique_ptr<TelemetryStore>> Open(const StoreConfig& config,
                                                      Clock& clock = SystemClock::Instance(),
                                                      metrics::Registry* registry = nullptr);
  ~TelemetryStore();  // drains the queue, rolls up, closes.

  TelemetryStore(const TelemetryStore&) = delete;
  TelemetryStore& operator=(const TelemetryStore&) = delete;

  // Parses an MQTT message by its topic (telemetry, anomaly, alerts, status, events topics from
  // the config) into a record. Never throws; bad payloads return parse_error/invalid_argument
  // with a message saying what was wrong, an unknown topic returns not_found. `defect`, when
  // given, says why a telemetry or status message was rejected (kind kNone for the other topics).
  Result<Record> Parse(std::string_view topic, std::string_view payload,
                       telemetry::Defect* defect = nullptr) const;

  // Parse() then Write(). Thread-safe.
  Status Ingest(std::string_view topic, std::string_view payload);

  // Queues a record for the writer; resource_exhausted when the queue is full (the record is
  // dropped and counted). Thread-safe, never blocks on I/O.
  Status Write(Record record);
  // Queues many records, waiting for queue space instead of dropping. Thread-safe.
  Status WriteBatch(std::vector<Record> records);
  // Called on the writer thread once the transaction holding a record is over: `committed` true
  // when it was committed (durable as store.synchronous says), false when the batch failed.
  using OnCommitted = std::function<void(bool committed)>;
  // Queues a record like WriteBatch (waits for queue space, never drops) and calls `on_committed`
  // after its transaction (the Kafka source's Done: the offset may then be committed). Not called
  // when the store is closing (cancelled returned). Thread-safe.
  Status WriteThen(Record record, OnCommitted on_committed);
  // Returns once everything queued before the call is committed.
  Status Flush();
  // Flushes, then updates rollups and applies retention now (normally periodic).
  Status RunMaintenance();

  Result<SeriesResult> Query(const SeriesQuery& q);
  Result<std::vector<DeviceInfo>> Devices();
  Result<std::vector<TimelineEntry>> Timeline(const TimelineQuery& q);

  // Names of the column fields (configured + any found in the file), then extra fields seen.
  std::vector<std::string> FieldNames() const;
  const FieldSchema& schema() const { return schema_; }
  const StoreConfig& config() const { return config_; }
  Clock& clock() const { return clock_; }

 private:
  struct Metrics;     // telemetry_store_internal.h
  struct Writer;      // telemetry_store_internal.h
  class ReaderLease;  // telemetry_store_query.cc
  struct SeriesScan;  // telemetry_store_query.cc
  // (device, source) -> [min_ts, max_ts]; see dirty_.
  using DirtyRanges = std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>>;

  TelemetryStore(const StoreConfig& config, Clock& clock, metrics::Registry* registry);
  // The kind of an event from its topic under events_topic ("aiot/events/drift" -> "drift").
  std::string_view EventKind(std::string_view topic) const;

  // Schema (telemetry_store_schema.cc): tables, columns, the writer's statements, the field
  // catalogue.
  Status Init();
  Status CheckConfig() const;
  Status CreateTables(sqlite::Db& db);
  Result<std::vector<std::string>> MigrateColumns(sqlite::Db& db);
  Status PrepareWriterStatements(const std::vector<std::string>& columns);
  Status LoadFieldCatalogue(const std::vector<std::string>& columns);
  Result<int64_t> FieldId(std::string_view name, std::string_view kind);

  // Writer (telemetry_store_writer.cc): the writer thread, batches, rollups, retention.
  void WriterLoop();
  void TakeBatch(std::vector<Record>& batch, bool* stop, bool* maintenance);
  Status CommitBatch(std::vector<Record>& batch);
  // Counts the batch committed (or failed) and runs the WriteThen callbacks it covers.
  void FinishBatch(size_t records, const Status& status);
  Status WriteRecord(const Record& record);
  Status WriteTelemetry(const TelemetryPoint& p);
  Status WriteAnomaly(const AnomalyPoint& a);
  Status WriteStatus(const StatusUpdate& s);
  Status WriteEvent(const EventRecord& e);
  Status TouchDevices();
  void PublishDirty();
  Status RollUp();
  Status RollUpRange(int64_t device, int64_t source, std::pair<int64_t, int64_t> range);
  Status ApplyRetention();
  Result<int64_t> DeviceId(std::string_view name, int64_t ts_ms);
  void MarkDirty(int64_t device, int64_t source, int64_t ts_ms);

  // Queries (telemetry_store_query.cc).
  Status SnapshotDevices(SeriesScan& scan);
  void ResolveFields(SeriesScan& scan) const;
  Status ReadSource(SeriesScan& scan, size_t device, int64_t source,
                    const std::vector<size_t>& members, std::vector<Series>& out);

  Result<std::unique_ptr<sqlite::Db>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite::Db> db);

  StoreConfig config_;
  Clock& clock_;
  FieldSchema schema_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<metrics::Registry> own_registry_;

  // Queue: guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_;        // writer waits for work
  std::condition_variable space_cv_;  // producers wait for space (WriteBatch) and flushes
  std::deque<Record> queue_;
  uint64_t enqueued_ = 0;   // records ever queued
  uint64_t committed_ = 0;  // records ever committed (or failed) by the writer
  // WriteThen's callbacks by the record's queue number (enqueued_ before it), in order.
  std::deque<std::pair<uint64_t, OnCommitted>> on_committed_;
  bool stopping_ = false;
  bool maintenance_requested_ = false;
  uint64_t maintenance_done_ = 0;
  Status last_write_error_;

  // Dirty (not yet rolled-up) ranges: (device, source) -> [min_ts, max_ts]. source >= 0 is an
  // extra field id, -1 the telemetry columns, -2 the anomaly table. Guarded by dirty_mu_, which
  // also makes "commit rollups + clear" atomic with a reader's "take snapshot + read dirty".
  std::mutex dirty_mu_;
  DirtyRanges dirty_;

  // Field name -> (id, kind); written by the writer, read by queries. Guarded by fields_mu_.
  mutable std::mutex fields_mu_;
  std::map<std::string, std::pair<int64_t, std::string>, std::less<>> fields_;

  std::unique_ptr<Writer> writer_;  // writer-thread state (connection, statements, caches)
  std::thread thread_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<sqlite::Db>> pool_;
};

}  // namespace aiot::store
