#pragma once

// The MQTT <-> Kafka bridge (`aiot bridge`). MQTT -> Kafka: subscribes at QoS 1 to every mapping's
// filter, turns each message into a Kafka record (Mapper), appends it to the disk buffer, and only
// then lets the MQTT client acknowledge it (the client sends PUBACK when the message handler
// returns; the handler returns after DiskBuffer::Append, i.e. once the record is durable as the
// fsync policy says). A producer thread drains the buffer in order into an idempotent producer
// (acks=all) and acknowledges each record in the buffer on its delivery report; a segment is
// deleted when all its records are acknowledged. When the buffer is full the handler waits for
// space (the MQTT client stops reading: flow control back to the broker); QoS 0 input is dropped
// and counted instead. Kafka -> MQTT: a consumer-group member per process reads the reverse
// mappings' topics, publishes each record at QoS 1 and commits its offset once the broker has
// acknowledged it. Loop prevention: see kOriginHeader (mapping.h).
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
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
};

class Bridge {
 public:
  // Opens the buffer (recovering what a previous run left), creates the Kafka clients and the
  // MQTT client on `io`. invalid_argument for a bad configuration, io_error for the buffer.
  static Result<std::unique_ptr<Bridge>> Create(const BridgeConfig& config,
                                                boost::asio::io_context& io,
                                                metrics::Registry& registry);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Starts the producer and consumer threads and the MQTT client.
  void Start();
  // Stops the MQTT client, gives Kafka up to `flush_ms` for what is in flight, stops the threads.
  // What is not delivered stays in the buffer for the next start.
  void Stop(int flush_ms = 5000);

  // Set when the idempotent producer hit a fatal error: the process should exit (and be
  // restarted); nothing unacknowledged is lost, it is in the buffer.
  std::optional<Status> fatal() const;
  BridgeStats stats() const;
  BufferStats buffer_stats() const { return buffer_->stats(); }
  const RecoveryReport& recovery() const { return buffer_->recovery(); }

 private:
  struct Metrics;
  Bridge(const BridgeConfig& config, metrics::Registry& registry);

  void OnMqttMessage(const mqtt::Message& m);
  void BufferRecord(const std::string& bytes, int64_t time_ms, bool qos0);
  void ProduceLoop();
  bool ProduceEntry(const BufferEntry& e);  // false: retry later (queue full / fatal)
  void OnDelivery(const DeliveryReport& r);
  void DeadLetterDelivery(const DeliveryReport& r, uint64_t seq);
  void ConsumeLoop();
  void HandleKafkaRecord(InRecord& rec);
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

  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stop_threads_{false};
  std::thread producer_thread_;
  std::thread consumer_thread_;
  // Kafka -> MQTT publishes not yet acknowledged (bounded).
  std::mutex outstanding_mu_;
  std::condition_variable outstanding_cv_;
  size_t outstanding_ = 0;
  mutable std::mutex fatal_mu_;
  std::optional<Status> fatal_;
};

}  // namespace aiot::kafka
