#pragma once

// `source: kafka` for the services (predictor, ...): a consumer-group member that hands each
// record to the service and commits, per partition, only offsets below every record the service
// has not yet reported done (Done: its effect is durable, e.g. the score published). N instances
// in one group share the partitions; a rebalance or a dead instance loses nothing: the next owner
// reads again from the last commit (at-least-once; a record being worked on may be seen twice).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "kafka/client.h"
#include "kafka/source_config.h"

namespace aiot::kafka {

// Where a record came from; given back to Done.
struct RecordPosition {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

class KafkaSource {
 public:
  // Called on the source's thread, one record at a time, in partition order.
  using Handler = std::function<void(InRecord&& record)>;

  // `service` names the metrics' label (aiot_kafka_source_lag{service,topic,partition}).
  static Result<std::unique_ptr<KafkaSource>> Create(const SourceConfig& config,
                                                     const std::string& service,
                                                     metrics::Registry& registry);
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Subscribes and starts the reading thread.
  Status Start(Handler handler);
  // The record's effect is durable: its offset may be committed (once all before it are done).
  // Any thread.
  void Done(const RecordPosition& position);
  // Stops reading, calls `drain` (the service makes what it was handed durable and calls Done:
  // e.g. flushes its batch), commits what is done and leaves the group (the partitions go to the
  // others).
  void Stop(const std::function<void()>& drain = {});

  uint64_t received() const { return received_.load(); }
  uint64_t committed() const { return committed_.load(); }

 private:
  struct Partition {
    std::set<int64_t> outstanding;  // handed out, not done
    int64_t next = -1;              // offset after the last handed out
    int64_t committed = -1;         // last committed next-offset
  };
  struct Metrics;
  KafkaSource(const SourceConfig& config, std::unique_ptr<Consumer> consumer,
              std::unique_ptr<Metrics> metrics);
  void Loop();
  void Track(const InRecord& r);
  void CommitDone(bool sync);
  void UpdateLag();

  SourceConfig config_;
  std::unique_ptr<Consumer> consumer_;
  std::unique_ptr<Metrics> metrics_;
  Handler handler_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable space_cv_;
  std::map<std::pair<std::string, int32_t>, Partition> partitions_;  // guarded by mu_
  size_t outstanding_ = 0;                                           // guarded by mu_
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> committed_{0};
};

}  // namespace aiot::kafka
