#pragma once

// The MQTT <-> Kafka bridge (`aiot bridge`). MQTT -> Kafka: subscribes at QoS 1 to every mapping's
// filter, turns each message into a Kafka record (Mapper), appends it to the disk buffer, and only
// then lets the MQTT client acknowledge it (the client holds the PUBACKs of the messages of one
// read until its batch flush handler has appended their records with one write: durable as the
// fsync policy says). A producer thread drains the buffer in order into an idempotent producer
// (acks=all) and acknowledges each record in the buffer on its delivery report; a segment is
// deleted when all its records are acknowledged. When the buffer is full the handler waits for
// space (the MQTT client stops reading: flow control back to the broker); QoS 0 input is dropped
// and counted instead. Kafka -> MQTT: a consumer-group member per process reads the reverse
// mappings' topics, publishes each record at QoS 1 and commits its offset once the broker has
// acknowledged it. Loop prevention: see kOriginHeader (mapping.h).
//
// Inside the embedded broker (CreateInBroker, `bridge.enabled`), the MQTT -> Kafka side is the
// broker's ingest gate (mqtt/broker/broker.h) instead of an MQTT subscription: the broker offers
// each PUBLISH on its core; a mapped one is queued for an intake thread that appends it to the
// buffer, and its PUBACK / PUBREC is released after Kafka's delivery report (`bridge.ack:
// delivered`) or after the append (`durable`). `bridge.when_full` decides what a full buffer does.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "kafka/bridge_config.h"
#include "kafka/client.h"
#include "kafka/disk_buffer.h"
#include "kafka/mapping.h"
#include "mqtt/broker/broker.h"
#include "mqtt/client/client.h"

namespace aiot::kafka {

struct BridgeStats {
  uint64_t mqtt_received = 0;  // MQTT messages handled (buffered, dead-lettered or dropped)
  uint64_t buffered = 0;       // records appended to the buffer (dead letters included)
  uint64_t delivered = 0;      // records acknowledged by Kafka
  uint64_t dead_letters = 0;   // MQTT messages or Kafka records dead-lettered
  uint64_t dropped = 0;        // lost on purpose, counted: QoS 0 on a full buffer, ...
  uint64_t loop_skipped = 0;   // carried the bridge's own origin mark
  uint64_t kafka_to_mqtt = 0;  // records published to MQTT and acknowledged
  uint64_t delivery_errors = 0;
  uint64_t refused = 0;  // inside the broker: PUBLISHes refused (when_full: refuse)
  // Kafka -> MQTT: records in the assigned partitions not yet finished with (published and
  // acknowledged, dead-lettered or skipped), summed over the partitions (high watermark - the
  // offset after the last finished record). -1 before the first update.
  int64_t consumer_lag = -1;
  // 1 when a Kafka broker answers, 0 when none of bootstrap.servers does (records wait in the
  // disk buffer), -1 before either is known.
  int kafka_reachable = -1;
};

class Bridge {
 public:
  // Opens the buffer (recovering what a previous run left), creates the Kafka clients and the
  // MQTT client on `io`. invalid_argument for a bad configuration, io_error for the buffer.
  static Result<std::unique_ptr<Bridge>> Create(const BridgeConfig& config,
                                                boost::asio::io_context& io,
                                                metrics::Registry& registry);
  // Inside the embedded broker: Start installs the MQTT -> Kafka side as `broker`'s ingest gate;
  // the Kafka -> MQTT side publishes through an in-process client on `io`. Stop before the
  // broker stops (the cores must still run: acks are posted to them).
  static Result<std::unique_ptr<Bridge>> CreateInBroker(const BridgeConfig& config,
                                                        mqtt::broker::Broker& broker,
                                                        boost::asio::io_context& io,
                                                        metrics::Registry& registry);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Starts the intake (inside the broker), producer, buffer-maintenance and consumer threads and
  // the MQTT client.
  void Start();
  // Stops the MQTT client, gives Kafka up to `flush_ms` for what is in flight, stops the threads.
  // What is not delivered stays in the buffer for the next start.
  void Stop(int flush_ms = 5000);

  // Set when the idempotent producer hit a fatal error: the process should exit (and be
  // restarted); nothing unacknowledged is lost, it is in the buffer.
  std::optional<Status> fatal() const;
  BridgeStats stats() const;
  BufferStats buffer_stats() const { return buffer_->stats(); }
  // 1: a Kafka broker answers; 0: none of bootstrap.servers does (librdkafka's
  // _ALL_BROKERS_DOWN; records wait in the disk buffer); -1: not known yet.
  int kafka_reachable() const { return kafka_reachable_.load(); }
  const RecoveryReport& recovery() const { return buffer_->recovery(); }

 private:
  struct Metrics;
  Bridge(const BridgeConfig& config, metrics::Registry& registry);

  class Gate;
  // A PUBLISH taken inside the broker, waiting for the intake thread.
  struct Intake {
    std::string bytes;  // EncodeRecord
    int64_t time_ms = 0;
    int64_t t0_ns = 0;  // monotonic, when offered
    bool qos0 = false;
    mqtt::broker::IngestDone done;
  };
  // A buffered record whose delivery is awaited: the device's ack, and the latency's start.
  struct Pending {
    mqtt::broker::IngestDone done;
    int64_t t0_ns = 0;
  };
  // The awaited records by buffer sequence number: a ring indexed by seq (the buffer hands out
  // consecutive numbers, awaited in increasing order; acks come in any order). Slots are reused,
  // not allocated per record (a hash-map node per record was allocated by the intake thread and
  // freed by the producer thread).
  class PendingBySeq {
   public:
    void Put(uint64_t seq, Pending p);
    // Moves the record's Pending out; false when not awaited (recovered from a previous run).
    bool Take(uint64_t seq, Pending* out);
    size_t size() const { return used_; }

   private:
    struct Slot {
      Pending p;
      bool used = false;
    };
    void Grow(size_t span);
    std::vector<Slot> ring_;  // capacity a power of two; seq's slot is seq & (size - 1)
    uint64_t base_ = 0;       // the lowest seq that may be in use
    uint64_t end_ = 0;        // one past the highest seq put
    size_t used_ = 0;
  };
  // Everything but the MQTT side.
  static Result<std::unique_ptr<Bridge>> CreateCore(const BridgeConfig& config,
                                                    metrics::Registry& registry);

  void OnMqttMessage(const mqtt::Message& m);
  void FlushMqttBatch();
  // The mapper's answer, counted (per mapping or dead letter); the record encoded into *encoded.
  RouteInfo RouteCounted(const MqttIn& in, std::string* encoded, int matched = -1);
  bool IsOwnOrigin(const mqtt::UserProperties& props);
  mqtt::broker::IngestVerdict Offer(const mqtt::broker::MessagePtr& m,
                                    mqtt::broker::IngestDone done);
  void IntakeLoop();
  void AppendIntake(Intake& e);
  void AppendIntakeBatch(std::vector<Intake>& batch);
  size_t DropQueuedQos0();  // when_full: drop_oldest_qos0
  // Record `seq` is done with (delivered, dead-lettered or dropped): out of the buffer, the
  // device's ack released with `rc`, the latency observed.
  void Acked(uint64_t seq, mqtt::ReasonCode rc = mqtt::ReasonCode::kSuccess);
  void MaintainLoop();
  void ReleaseDelivered();  // Acked for delivered_ (producer thread)
  void DetachGate();
  void BufferRecord(const std::string& bytes, int64_t time_ms, bool qos0, int64_t t0_ns);
  void ProduceLoop();
  bool ProduceEntry(const BufferEntry& e);  // false: retry later (queue full / fatal)
  void OnDelivery(const DeliveryReport& r);
  // librdkafka's client-level errors (producer thread): _ALL_BROKERS_DOWN marks Kafka
  // unreachable, logged as one clear error line at most once a minute.
  void OnKafkaError(rd_kafka_resp_err_t err, std::string_view reason);
  void SetKafkaReachable(bool reachable);
  void DeadLetterDelivery(const DeliveryReport& r, uint64_t seq);
  void ConsumeLoop();
  void HandleKafkaRecord(InRecord& rec);
  // Kafka -> MQTT: `offset` of the partition is finished with (its offset committed).
  void ConsumerFinished(const std::string& topic, int32_t partition, int64_t offset);
  void UpdateConsumerLag();
  void KafkaDeadLetter(const InRecord& rec, std::string_view reason, std::string detail);
  void UpdateGauges();
  void SetFatal(Status s);

  BridgeConfig config_;
  std::unique_ptr<Mapper> mapper_;
  std::vector<ReverseMapping> reverse_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<DiskBuffer> buffer_;
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<Consumer> consumer_;
  std::shared_ptr<mqtt::Client> client_;
  // `aiot bridge`: the messages of one read, on the client's strand (FlushMqttBatch).
  std::vector<Intake> mqtt_batch_;
  std::vector<AppendItem> mqtt_items_;
  // Inside the broker.
  mqtt::broker::Broker* broker_ = nullptr;
  std::unique_ptr<Gate> gate_;
  std::thread intake_thread_;
  std::mutex intake_mu_;
  std::condition_variable intake_cv_;
  std::deque<Intake> intake_;
  // Record strings the producer thread is done with, reused by Offer (guarded by intake_mu_).
  static constexpr size_t kSpareMax = 16384;
  static constexpr size_t kSpareMaxBytes = 4096;
  std::vector<std::string> spare_;
  std::vector<std::string> recycled_;  // producer thread
  size_t intake_qos0_ = 0;
  uint64_t intake_bytes_ = 0;      // framed size of intake_'s records
  bool stop_intake_ = false;       // guarded by intake_mu_
  std::atomic<bool> full_{false};  // the last append found the buffer full
  std::mutex pending_mu_;
  PendingBySeq pending_;  // by buffer sequence number
  // Producer thread: records delivered in the current Poll, released after it (ReleaseDelivered).
  std::vector<uint64_t> delivered_;
  std::vector<Pending> released_;
  std::vector<HeaderView> produce_headers_;  // ProduceEntry's decoded headers (reused)

  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stop_threads_{false};
  std::thread producer_thread_;
  std::thread consumer_thread_;
  // The buffer's fdatasync (fsync `interval`) and ack checkpoint (MaintainLoop), on their own
  // thread: on the producer thread each fdatasync (5 ms at the median, up to 63 ms here) held every
  // delivery report, so every device's PUBACK, that long.
  std::thread maintain_thread_;
  std::mutex maintain_mu_;
  std::condition_variable maintain_cv_;
  bool stop_maintain_ = false;  // guarded by maintain_mu_
  // Kafka -> MQTT publishes not yet acknowledged (bounded).
  std::mutex outstanding_mu_;
  std::condition_variable outstanding_cv_;
  size_t outstanding_ = 0;
  // Kafka -> MQTT, per (topic, partition): the offset after the last record finished with (for
  // the consumer lag; set to the first record read, then advanced as records finish).
  std::mutex lag_mu_;
  std::map<std::pair<std::string, int32_t>, int64_t> finished_next_;
  std::atomic<int64_t> consumer_lag_{-1};
  std::atomic<int> kafka_reachable_{-1};
  std::chrono::steady_clock::time_point unreachable_logged_{};  // producer thread
  bool consume_from_end_ = false;  // auto.offset.reset latest: no commit = from the end
  mutable std::mutex fatal_mu_;
  std::optional<Status> fatal_;
};

}  // namespace aiot::kafka
