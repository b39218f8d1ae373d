#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/metrics.h"
#include "base/result.h"
#include "store/records.h"
#include "store/store_config.h"

namespace aiot::net {
class HttpClient;
}

namespace aiot::store {

// Writes telemetry (and anomaly scores) to InfluxDB 1.x with the line protocol, as the
// reference's Telegraf did: measurement `fan`, tag `deviceID`, numeric fields. Anomalies go to
// their own measurement (schema aiot) or, with schema telegraf, into `fan` with the topic tag and
// fault as a string field, as the reference's Telegraf wrote them (see InfluxConfig).
//
// Points are batched by size (batch_max_points) and age (batch_max_delay_ms), gzip-compressed,
// and POSTed to /write by one sender thread. A failed write is retried with exponential backoff;
// while InfluxDB is unreachable, batches go to spool files in spool_dir (bounded by
// spool_max_bytes; the oldest are dropped beyond it, and counted). Spool files survive restarts
// and are sent first when InfluxDB is back, so nothing is lost across an outage. A 4xx reply other
// than 404/408/429 means the batch itself is bad: it is dropped, logged and counted.
//
// Thread-safety: Add() and Flush() may be called from any thread; Start()/Stop() from the owner.
class InfluxSink {
 public:
  InfluxSink(const InfluxConfig& config, FieldSchema schema, metrics::Registry* registry = nullptr);
  ~InfluxSink();
  InfluxSink(const InfluxSink&) = delete;
  InfluxSink& operator=(const InfluxSink&) = delete;

  // Validates the config, creates the spool directory and starts the sender.
  Status Start();
  // Sends what is pending (one attempt), spools what cannot be sent, stops the sender.
  void Stop();

  // Queues a telemetry or anomaly record (others are ignored). Never blocks on I/O. `topic` is the
  // MQTT topic the record came on: with schema telegraf it is written as the tag `topic` (none
  // when empty).
  void Add(const Record& record, std::string_view topic = {});
  // Waits until every point added before the call has been accepted by InfluxDB (or dropped as
  // bad), including spooled ones. timeout when that takes longer than `timeout`.
  Status Flush(std::chrono::milliseconds timeout);

  struct Stats {
    uint64_t points_added = 0;
    uint64_t points_sent = 0;     // accepted by InfluxDB
    uint64_t points_dropped = 0;  // rejected as bad, or spool overflow
    uint64_t batches_spooled = 0;
    uint64_t write_failures = 0;
    uint64_t spool_files = 0;  // currently on disk
  };
  Stats stats() const;

 private:
  struct Batch {
    std::string lines;
    uint64_t points = 0;
  };
  struct Metrics;

  // Sends one body: taken, dropped as bad (don't retry), or to be retried.
  enum class SendResult { kOk, kDropped, kRetry };
  SendResult Send(const std::string& body, bool compressed, uint64_t points);
  Status SpoolWrite(const Batch& b);
  void Spool(const Batch& b);
  void ScanSpool();
  bool EnsureDatabase();
  void SealPendingLocked();

  // The sender thread (Run) and its steps: each is called with `lk` (on mu_) held and releases it
  // while it does I/O.
  void Run();
  std::chrono::steady_clock::time_point WaitForWork(std::unique_lock<std::mutex>& lk);
  void SpillReadyToSpool(std::unique_lock<std::mutex>& lk);
  bool DatabaseReady(std::unique_lock<std::mutex>& lk);
  void SendOldestSpoolFile(std::unique_lock<std::mutex>& lk);
  void SendOldestReadyBatch(std::unique_lock<std::mutex>& lk);
  void SendOrSpoolOnStop(std::unique_lock<std::mutex>& lk);
  void WriteFailed();                         // with mu_ held
  void WriteSucceeded();                      // with mu_ held
  void Count(SendResult r, uint64_t points);  // with mu_ held

  // The sender's view of InfluxDB's health: whether the last write went through, and when to try
  // again after a failure (exponential backoff). Guarded by mu_.
  struct Sender {
    bool healthy = true;
    std::chrono::milliseconds backoff{1};
    std::chrono::steady_clock::time_point next_attempt;
  };

  InfluxConfig config_;
  FieldSchema schema_;
  int64_t ts_mul_ = 1, ts_div_ = 1;
  const bool telegraf_;  // schema telegraf
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<metrics::Registry> own_registry_;
  std::string write_target_;
  std::unique_ptr<net::HttpClient> client_;  // sender thread only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  Batch pending_;
  std::chrono::steady_clock::time_point pending_since_;
  std::deque<Batch> ready_;
  uint64_t ready_points_ = 0;
  std::deque<std::string> spool_;  // file paths, oldest first
  uint64_t spool_bytes_ = 0;
  uint64_t spool_seq_ = 0;
  uint64_t in_flight_ = 0;  // points being sent right now
  bool stopping_ = false;
  bool database_ready_ = false;
  Stats stats_;
  Sender sender_;
  std::thread thread_;
};

// gzip (RFC 1952) of `data` with zlib.
std::string Gzip(std::string_view data);

}  // namespace aiot::store
