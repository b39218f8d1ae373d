#include "kafka/source.h"

#include <fmt/format.h>

#include <chrono>

#include "base/clock.h"
#include "base/errc.h"
#include "base/log.h"

namespace aiot::kafka {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto log = log::Get("kafka");
  return log;
}

}  // namespace

struct KafkaSource::Metrics {
  Metrics(metrics::Registry& r, const std::string& service)
      : service(service),
        lag(prometheus::BuildGauge()
                .Name("aiot_kafka_source_lag")
                .Help("Records in the partition after the last one read (high watermark - next)")
                .Register(r)),
        committed(prometheus::BuildCounter()
                      .Name("aiot_kafka_source_commits_total")
                      .Help("Offset commits of records whose effect was durable")
                      .Register(r)
                      .Add({{"service", service}})),
        records(prometheus::BuildCounter()
                    .Name("aiot_kafka_source_records_total")
                    .Help("Records read and handed to the service")
                    .Register(r)
                    .Add({{"service", service}})),
        partitions(prometheus::BuildGauge()
                       .Name("aiot_kafka_source_partitions")
                       .Help("Partitions assigned to this consumer-group member")
                       .Register(r)
                       .Add({{"service", service}})),
        errors(prometheus::BuildCounter()
                   .Name("aiot_kafka_source_errors_total")
                   .Help("Consumer errors (logged), by librdkafka error name")
                   .Register(r)) {}
  std::string service;
  prometheus::Family<prometheus::Gauge>& lag;
  prometheus::Counter& committed;
  prometheus::Counter& records;
  prometheus::Gauge& partitions;
  prometheus::Family<prometheus::Counter>& errors;
};

KafkaSource::KafkaSource(const SourceConfig& config, std::unique_ptr<Consumer> consumer,
                         std::unique_ptr<Metrics> metrics)
    : config_(config), consumer_(std::move(consumer)), metrics_(std::move(metrics)) {}

KafkaSource::~KafkaSource() { Stop(); }

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(const SourceConfig& config,
                                                         const std::string& service,
                                                         metrics::Registry& registry) {
  Properties p = config.kafka;
  p["bootstrap.servers"] = config.bootstrap_servers;
  if (Status s = CheckProperties(p); !s.ok()) return s;
  p["group.id"] = config.group.empty() ? "aiot-" + service : config.group;
  if (!p.contains("auto.offset.reset")) p["auto.offset.reset"] = "earliest";
  auto consumer = Consumer::Create(p);
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<KafkaSource>(
      new KafkaSource(config, std::move(*consumer), std::make_unique<Metrics>(registry, service)));
}

Status KafkaSource::Start(Handler handler) {
  handler_ = std::move(handler);
  if (Status s = consumer_->Subscribe(config_.topics); !s.ok()) return s;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void KafkaSource::Stop(const std::function<void()>& drain) {
  if (stop_.exchange(true)) return;
  space_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (drain) drain();
  CommitDone(/*sync=*/true);
  consumer_->Close();
}

void KafkaSource::Loop() {
  int64_t last_commit = SystemClock::Instance().MonotonicNanos();
  const int64_t interval = int64_t{config_.commit_interval_ms} * 1'000'000;
  while (!stop_) {
    bool room = true;
    {
      std::unique_lock lock(mu_);
      room = space_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] {
        return outstanding_ < config_.max_outstanding || stop_.load();
      });
    }
    if (room && !stop_) {
      auto r = consumer_->Poll(100);
      if (!r.ok()) {
        metrics_->errors
            .Add({{"service", metrics_->service}, {"kind", r.status().code().message()}})
            .Increment();
        static log::RateLimiter limiter;
        if (uint64_t suppressed = 0;
            limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
          Log()->warn("{} source: {} ({} similar suppressed)", metrics_->service,
                      r.status().message(), suppressed);
        }
      } else if (*r) {
        Track(**r);
        received_++;
        metrics_->records.Increment();
        handler_(std::move(**r));
      }
    }
    if (const int64_t now = SystemClock::Instance().MonotonicNanos();
        now - last_commit >= interval) {
      CommitDone(false);
      UpdateLag();
      last_commit = now;
    }
  }
}

void KafkaSource::Track(const InRecord& r) {
  std::lock_guard lock(mu_);
  Partition& p = partitions_[{r.topic, r.partition}];
  if (r.offset < p.next) {
    // Read again (the partition came back after a rebalance, from the group's commit): what
    // was outstanding from before is read again too.
    outstanding_ -= p.outstanding.size();
    p.outstanding.clear();
    p.committed = -1;
  }
  p.outstanding.insert(r.offset);
  p.next = r.offset + 1;
  ++outstanding_;
}

void KafkaSource::Done(const RecordPosition& pos) {
  std::lock_guard lock(mu_);
  auto it = partitions_.find({pos.topic, pos.partition});
  if (it == partitions_.end() || it->second.outstanding.erase(pos.offset) == 0) return;
  --outstanding_;
  space_cv_.notify_one();
}

void KafkaSource::CommitDone(bool sync) {
  std::vector<std::tuple<std::string, int32_t, int64_t>> commits;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, p] : partitions_) {
      const int64_t upto = p.outstanding.empty() ? p.next : *p.outstanding.begin();
      if (upto > p.committed) {
        commits.emplace_back(key.first, key.second, upto);
        p.committed = upto;
      }
    }
  }
  for (const auto& [topic, partition, next] : commits) {
    if (Status s = consumer_->Commit(topic, partition, next, /*async=*/!sync); !s.ok()) {
      // Not ours any more (rebalanced): the new owner reads from the last commit that passed.
      metrics_->errors.Add({{"service", metrics_->service}, {"kind", s.code().message()}})
          .Increment();
      continue;
    }
    committed_++;
    metrics_->committed.Increment();
  }
}

void KafkaSource::UpdateLag() {
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(consumer_->handle(), &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    metrics_->partitions.Set(assigned->cnt);
    rd_kafka_topic_partition_list_destroy(assigned);
  }
  std::vector<std::tuple<std::string, int32_t, int64_t>> positions;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, p] : partitions_) positions.emplace_back(key.first, key.second, p.next);
  }
  for (const auto& [topic, partition, next] : positions) {
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(consumer_->handle(), topic.c_str(), partition, &low,
                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    metrics_->lag
        .Add({{"service", metrics_->service},
              {"topic", topic},
              {"partition", std::to_string(partition)}})
        .Set(static_cast<double>(std::max<int64_t>(0, high - next)));
  }
}

}  // namespace aiot::kafka
