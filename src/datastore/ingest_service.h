#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "datastore/datastore.h"
#include "kafka/source.h"
#include "mqtt/client/client.h"
#include "telemetry/rejections.h"

namespace aiot::datastore {

struct IngestStats {
  uint64_t received = 0;              // telemetry messages
  uint64_t rejected = 0;              // payloads the message rules reject (src/telemetry)
  uint64_t written = 0;               // rows committed to the datastore
  uint64_t failed = 0;                // rows not written (write errors; from Kafka: read again)
  uint64_t maintenance = 0;           // maintenance records received (maintenance_topic)
  uint64_t maintenance_rejected = 0;  // malformed or refused by the datastore
};

// Subscribes to the telemetry topic and appends rows of the schema's fields (config.fields, the
// datastore's) to the training datastore in batches: a
// writer thread commits a batch when batch_rows are buffered or flush_interval_ms has passed.
// The buffer is not bounded: at the measured write rate (BENCHMARKS.md) a flush interval's worth
// of telemetry is far below memory limits, and dropping rows would silently bias training data.
//
// Maintenance records (maintenance_json.h) on `maintenance_topic` (QoS 1) are added by the same
// writer thread, source "mqtt:<topic>"; a redelivered record changes nothing (the datastore's
// key is device, kind, time). A malformed one is counted and logged, rate-limited.
//
// `source: kafka` (config.kafka): telemetry comes from a Kafka consumer-group member
// (kafka/source.h) instead of telemetry_topic; a record is done (its offset may be committed)
// once the transaction holding its row is committed: at-least-once. A rejected record is counted
// and done at once (never a stall); a row whose batch failed is not done, so the group reads it
// again after a restart. Rows have no unique key: a record read twice (a crash after the commit,
// before the offset commit) is two rows.
//
// Threading: the message handler runs on the MQTT client's strand (or the Kafka source's thread)
// and only parses and buffers (mutex); SQLite writes happen on the writer thread. Stop() flushes
// what is buffered.
class IngestService {
 public:
  // Rejected messages are counted in `metrics` (aiot_messages_rejected_total{component="ingest"},
  // when given) and logged at warning level, rate-limited. `clock` gives the arrival time of a
  // message without one.
  IngestService(DatastoreConfig config, TrainingDatastore& store,
                std::shared_ptr<mqtt::Client> client, metrics::Registry* metrics = nullptr,
                const Clock& clock = SystemClock::Instance());
  ~IngestService();

  // Subscribes (and with source: kafka joins the consumer group: an error when the source cannot
  // be created) and starts the writer.
  Status Start();
  // Unsubscribes (leaves the group), writes what is buffered, joins the writer.
  void Stop();
  // Blocks until everything received so far is written (tests, shutdown).
  void Flush();
  IngestStats stats() const;

 private:
  void OnMessage(const mqtt::Message& m);
  // Parses and buffers one telemetry payload; `position` (Kafka) is done once its row is written.
  void Buffer(std::string_view topic, std::string_view payload,
              std::optional<kafka::RecordPosition> position);
  Status StartKafka();
  void OnMaintenance(const mqtt::Message& m);
  void WriteMaintenance(std::vector<MaintenanceRecord>& records);
  void LogRejectedMaintenance(const std::string& topic, const std::string& why);
  void WriterLoop();

  DatastoreConfig config_;
  TrainingDatastore& store_;
  std::shared_ptr<mqtt::Client> client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // writer wakes: rows buffered or stopping
  std::condition_variable drained_;  // Flush waits: buffer empty and nothing in flight
  std::vector<TelemetryRow> buffer_;
  std::vector<kafka::RecordPosition> positions_;  // of buffer_'s rows read from Kafka
  std::vector<MaintenanceRecord> maintenance_;
  bool writing_ = false;
  bool stopping_ = false;
  bool started_ = false;
  IngestStats stats_;
  const Clock& clock_;
  telemetry::Rejections rejections_;
  int64_t last_maintenance_warning_ = INT64_MIN / 2;  // client strand only
  RowParser parser_;  // config_.fields; on the client's strand (or the source's thread) only
  metrics::Registry* metrics_;
  std::unique_ptr<kafka::KafkaSource> source_;  // source: kafka
  std::thread writer_;
};

}  // namespace aiot::datastore
