#include "kafka/bridge.h"

#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <future>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/clock.h"
#include "base/errc.h"
#include "base/log.h"
#include "kafka/segment.h"
#include "mqtt/broker/inproc_transport.h"
#include "mqtt/protocol/reason_code.h"
#include "mqtt/protocol/topic.h"

namespace aiot::kafka {
namespace {

using std::chrono::milliseconds;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<spdlog::logger> Log() {
  static auto log = log::Get("kafka");
  return log;
}

constexpr size_t kMaxOutstandingToMqtt = 1000;
// Inside the broker: QoS 0 records waiting for the intake thread, at most (beyond: dropped).
// QoS 1/2 are bounded by the broker (a connection's unacknowledged window).
constexpr size_t kMaxQueuedQos0 = 10000;
// The intake thread appends at most this much per write.
constexpr size_t kIntakeBatchRecords = 4096;
constexpr uint64_t kIntakeBatchBytes = 4u << 20;

}  // namespace

struct Bridge::Metrics {
  explicit Metrics(metrics::Registry& r)
      : messages(prometheus::BuildCounter()
                     .Name("aiot_bridge_messages_total")
                     .Help("Messages carried, by direction and mapping (as configured)")
                     .Register(r)),
        delivered(prometheus::BuildCounter()
                      .Name("aiot_bridge_delivered_total")
                      .Help("Buffered records acknowledged by Kafka (acks=all)")
                      .Register(r)
                      .Add({})),
        errors(prometheus::BuildCounter()
                   .Name("aiot_bridge_delivery_errors_total")
                   .Help("Kafka delivery and client errors, by librdkafka error name")
                   .Register(r)),
        dead_letters(prometheus::BuildCounter()
                         .Name("aiot_bridge_dead_letters_total")
                         .Help("Messages or records sent to the dead-letter topic, by reason")
                         .Register(r)),
        dropped(prometheus::BuildCounter()
                    .Name("aiot_bridge_dropped_total")
                    .Help("Messages dropped on purpose, by reason")
                    .Register(r)),
        loop(prometheus::BuildCounter()
                 .Name("aiot_bridge_loop_skipped_total")
                 .Help("Messages not carried back because they carry the bridge's origin mark")
                 .Register(r)),
        subacks(prometheus::BuildCounter()
                    .Name("aiot_bridge_mqtt_subacks_total")
                    .Help("SUBACKs for the mappings' filters, granted or refused")
                    .Register(r)),
        refused(prometheus::BuildCounter()
                    .Name("aiot_bridge_refused_total")
                    .Help("Inside the broker: PUBLISHes refused (when_full: refuse), by reason")
                    .Register(r)
                    .Add({{"reason", "quota_exceeded"}})),
        latency(prometheus::BuildHistogram()
                    .Name("aiot_bridge_delivery_latency_seconds")
                    .Help("From the MQTT PUBLISH to Kafka's delivery report (acks=all)")
                    .Register(r)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005,
                                                                     0.01, 0.02, 0.05, 0.1, 0.2,
                                                                     0.5, 1, 2, 5, 10, 30, 60})),
        consumer_lag(prometheus::BuildGauge()
                         .Name("aiot_bridge_consumer_lag")
                         .Help("Kafka -> MQTT: records of the assigned partition not yet finished "
                               "with (high watermark - offset after the last record published "
                               "and acknowledged, dead-lettered or skipped)")
                         .Register(r)),
        reachable(prometheus::BuildGauge()
                      .Name("aiot_bridge_kafka_reachable")
                      .Help("1 when a Kafka broker answers, 0 when none of bootstrap.servers "
                            "does (records wait in the disk buffer), -1 before either is known")
                      .Register(r)
                      .Add({})),
        gauges(prometheus::BuildGauge()
                   .Name("aiot_bridge_buffer")
                   .Help("Disk buffer: bytes, records (unacknowledged), segments, "
                         "oldest_age_seconds, recovered_records, cut_bytes (torn tail at start)")
                   .Register(r)),
        bytes(gauges.Add({{"value", "bytes"}})),
        records(gauges.Add({{"value", "records"}})),
        segments(gauges.Add({{"value", "segments"}})),
        age(gauges.Add({{"value", "oldest_age_seconds"}})),
        recovered(gauges.Add({{"value", "recovered_records"}})),
        cut(gauges.Add({{"value", "cut_bytes"}})) {}

  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Counter& delivered;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Family<prometheus::Counter>& dead_letters;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Family<prometheus::Counter>& loop;
  prometheus::Family<prometheus::Counter>& subacks;
  prometheus::Counter& refused;
  prometheus::Histogram& latency;
  prometheus::Family<prometheus::Gauge>& consumer_lag;
  std::map<std::pair<std::string, int32_t>, prometheus::Gauge*> lag_gauges;  // consumer thread
  prometheus::Gauge& reachable;
  prometheus::Family<prometheus::Gauge>& gauges;
  prometheus::Gauge& bytes;
  prometheus::Gauge& records;
  prometheus::Gauge& segments;
  prometheus::Gauge& age;
  prometheus::Gauge& recovered;
  prometheus::Gauge& cut;
  std::vector<prometheus::Counter*> to_kafka;                     // per mapping
  std::unordered_map<std::string, prometheus::Counter*> to_mqtt;  // per Kafka topic

  std::atomic<uint64_t> received{0}, buffered{0}, n_delivered{0}, n_dead{0}, n_dropped{0},
      n_loop{0}, n_to_mqtt{0}, n_errors{0}, n_refused{0};
};

Bridge::Bridge(const BridgeConfig& config, metrics::Registry& registry)
    : config_(config), metrics_(std::make_unique<Metrics>(registry)) {
  metrics_->reachable.Set(-1);
}

// The broker's ingest gate, forwarding to the bridge.
class Bridge::Gate : public mqtt::broker::IngestGate {
 public:
  explicit Gate(Bridge& b) : b_(b) {}
  mqtt::broker::IngestVerdict Offer(const mqtt::broker::MessagePtr& m,
                                    mqtt::broker::IngestDone done) override {
    return b_.Offer(m, std::move(done));
  }

 private:
  Bridge& b_;
};

Bridge::~Bridge() { Stop(0); }

Result<std::unique_ptr<Bridge>> Bridge::CreateCore(const BridgeConfig& config,
                                                   metrics::Registry& registry) {
  std::unique_ptr<Bridge> b(new Bridge(config, registry));
  std::vector<Mapping> mappings;
  for (const auto& spec : config.mappings) {
    auto m = ParseMapping(spec);
    if (!m.ok()) return m.status();
    b->metrics_->to_kafka.push_back(
        &b->metrics_->messages.Add({{"direction", "mqtt_to_kafka"}, {"mapping", spec}}));
    mappings.push_back(std::move(*m));
  }
  for (const auto& spec : config.kafka_to_mqtt) {
    auto r = ParseReverseMapping(spec);
    if (!r.ok()) return r.status();
    b->metrics_->to_mqtt[r->kafka_topic] =
        &b->metrics_->messages.Add({{"direction", "kafka_to_mqtt"}, {"mapping", spec}});
    b->reverse_.push_back(std::move(*r));
  }
  b->mapper_ = std::make_unique<Mapper>(std::move(mappings), config.dead_letter_topic,
                                        config.origin, config.max_message_bytes);
  DiskBufferOptions bo;
  bo.dir = config.buffer.dir;
  bo.max_bytes = config.buffer.max_bytes;
  bo.segment_bytes = config.buffer.segment_bytes;
  bo.fsync = config.buffer.fsync;
  bo.fsync_interval_ms = config.buffer.fsync_interval_ms;
  bo.max_record_bytes = config.max_message_bytes + (64u << 10);  // payload + topic, headers
  auto buffer = DiskBuffer::Open(bo);
  if (!buffer.ok()) return buffer.status();
  b->buffer_ = std::move(*buffer);
  const RecoveryReport& rr = b->buffer_->recovery();
  for (const auto& p : rr.problems) Log()->error("buffer recovery: {}", p);
  if (rr.records > 0) Log()->info("buffer: {} records to send from before", rr.records);
  b->metrics_->recovered.Set(static_cast<double>(rr.records));
  b->metrics_->cut.Set(static_cast<double>(rr.truncated_bytes));

  Properties props = KafkaProperties(config);
  if (!props.contains("message.timeout.ms")) props["message.timeout.ms"] = "0";  // retry forever
  // A device's ack (inside the broker) and the MQTT -> Kafka latency wait for the delivery
  // report: batch for 1 ms, not librdkafka 2.0's 5 (under load batches fill while requests are in
  // flight anyway; BENCHMARKS.md, "Kafka bridge").
  if (!props.contains("linger.ms")) props["linger.ms"] = "1";
  Bridge* self = b.get();
  auto producer = Producer::Create(
      props, [self](const DeliveryReport& r) { self->OnDelivery(r); },
      [self](rd_kafka_resp_err_t err, std::string_view reason) {
        self->OnKafkaError(err, reason);
      });
  if (!producer.ok()) return producer.status();
  b->producer_ = std::move(*producer);
  if (!b->reverse_.empty()) {
    Properties cp = KafkaProperties(config);
    cp["group.id"] = config.consumer_group;
    if (!cp.contains("auto.offset.reset")) cp["auto.offset.reset"] = "earliest";
    for (const char* end : {"latest", "end", "largest"}) {
      if (cp["auto.offset.reset"] == end) b->consume_from_end_ = true;
    }
    auto consumer = Consumer::Create(cp);
    if (!consumer.ok()) return consumer.status();
    b->consumer_ = std::move(*consumer);
    std::vector<std::string> topics;
    for (const auto& r : b->reverse_) topics.push_back(r.kafka_topic);
    if (Status s = b->consumer_->Subscribe(topics); !s.ok()) return s;
  }
  return b;
}

Result<std::unique_ptr<Bridge>> Bridge::Create(const BridgeConfig& config,
                                               boost::asio::io_context& io,
                                               metrics::Registry& registry) {
  auto core = CreateCore(config, registry);
  if (!core.ok()) return core.status();
  std::unique_ptr<Bridge> b = std::move(*core);
  Bridge* self = b.get();
  try {
    b->client_ = mqtt::Client::Create(io, config.mqtt);
  } catch (const config::Error& e) {
    return Status(errc::invalid_argument, e.what());
  }
  b->client_->SetMessageHandler([self](const mqtt::Message& m) { self->OnMqttMessage(m); });
  b->client_->SetBatchFlushHandler([self] { self->FlushMqttBatch(); });
  for (const auto& m : b->mapper_->mappings()) {
    // One handler for all (SetMessageHandler): overlapping filters must not buffer twice.
    b->client_->Subscribe(
        m.filter, mqtt::SubscribeOptions{.qos = mqtt::QoS::kAtLeastOnce}, {},
        [self](mqtt::ReasonCode rc) {
          const bool ok = rc == mqtt::ReasonCode::kGrantedQos1 || rc == mqtt::kGrantedQos0;
          self->metrics_->subacks.Add({{"result", ok ? "granted" : "refused"}}).Increment();
        });
  }
  return b;
}

Result<std::unique_ptr<Bridge>> Bridge::CreateInBroker(const BridgeConfig& config,
                                                       mqtt::broker::Broker& broker,
                                                       boost::asio::io_context& io,
                                                       metrics::Registry& registry) {
  auto core = CreateCore(config, registry);
  if (!core.ok()) return core.status();
  std::unique_ptr<Bridge> b = std::move(*core);
  b->broker_ = &broker;
  b->gate_ = std::make_unique<Gate>(*b);
  if (!b->reverse_.empty()) {  // Kafka -> MQTT: an in-process client of the broker
    mqtt::MqttClientConfig mc = config.mqtt;
    mc.url = "inproc://";
    try {
      b->client_ = mqtt::Client::Create(io, mc, mqtt::broker::MakeInprocFactory(broker));
    } catch (const config::Error& e) {
      return Status(errc::invalid_argument, e.what());
    }
  }
  return b;
}

void Bridge::Start() {
  started_ = true;
  if (broker_ != nullptr) {
    intake_thread_ = std::thread([this] { IntakeLoop(); });
    broker_->SetIngestGate(gate_.get());
  }
  producer_thread_ = std::thread([this] { ProduceLoop(); });
  maintain_thread_ = std::thread([this] { MaintainLoop(); });
  if (consumer_) consumer_thread_ = std::thread([this] { ConsumeLoop(); });
  if (client_) client_->Start();
}

void Bridge::Stop(int flush_ms) {
  if (!started_ || stopping_.exchange(true)) return;
  DetachGate();
  buffer_->Wake();  // a handler waiting for space buffers what it holds and returns
  if (client_) {
    auto stopped = std::make_shared<std::promise<void>>();
    auto done = stopped->get_future();
    client_->Stop([stopped] { stopped->set_value(); });
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      Log()->warn("the MQTT client did not stop within 10 s");
    }
  }
  if (intake_thread_.joinable()) {  // what the broker handed over is appended (even if full)
    {
      std::lock_guard lock(intake_mu_);
      stop_intake_ = true;
    }
    intake_cv_.notify_all();
    buffer_->Wake();
    intake_thread_.join();
  }
  stop_threads_ = true;
  buffer_->Wake();
  outstanding_cv_.notify_all();
  if (consumer_thread_.joinable()) consumer_thread_.join();
  if (producer_thread_.joinable()) producer_thread_.join();
  if (maintain_thread_.joinable()) {
    {
      std::lock_guard lock(maintain_mu_);
      stop_maintain_ = true;
    }
    maintain_cv_.notify_all();
    maintain_thread_.join();
  }
  if (flush_ms > 0) (void)producer_->Flush(flush_ms);  // delivery reports ack the buffer
  ReleaseDelivered();
  (void)buffer_->Maintain(/*force=*/true);
  if (consumer_) consumer_->Close();
}

std::optional<Status> Bridge::fatal() const {
  std::lock_guard lock(fatal_mu_);
  return fatal_;
}

void Bridge::SetFatal(Status s) {
  std::lock_guard lock(fatal_mu_);
  if (!fatal_) {
    Log()->critical("{}; undelivered records stay in the buffer", s.message());
    fatal_ = std::move(s);
  }
}

BridgeStats Bridge::stats() const {
  const Metrics& m = *metrics_;
  return {m.received.load(),  m.buffered.load(),    m.n_delivered.load(),   m.n_dead.load(),
          m.n_dropped.load(), m.n_loop.load(),      m.n_to_mqtt.load(),     m.n_errors.load(),
          m.n_refused.load(), consumer_lag_.load(), kafka_reachable_.load()};
}

bool Bridge::IsOwnOrigin(const mqtt::UserProperties& props) {
  for (const auto& [name, value] : props) {
    if (name == kOriginHeader && value == config_.origin) {
      metrics_->n_loop++;
      metrics_->loop.Add({{"direction", "mqtt_to_kafka"}}).Increment();
      return true;
    }
  }
  return false;
}

RouteInfo Bridge::RouteCounted(const MqttIn& in, std::string* encoded, int matched) {
  const RouteInfo r = mapper_->RouteEncoded(in, encoded, matched);
  if (!r.dead_letter_reason.empty()) {
    metrics_->n_dead++;
    metrics_->dead_letters.Add({{"reason", std::string(r.dead_letter_reason)}}).Increment();
    static log::RateLimiter limiter;
    if (uint64_t suppressed = 0;
        limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
      Log()->warn("dead letter ({}): MQTT topic {} ({} similar suppressed)", r.dead_letter_reason,
                  in.topic, suppressed);
    }
  } else {
    metrics_->to_kafka[r.mapping]->Increment();
  }
  return r;
}

// MQTT -> buffer, on the MQTT client's strand: the record is queued; the client runs
// FlushMqttBatch after the messages of one read and only then sends their PUBACKs.
void Bridge::OnMqttMessage(const mqtt::Message& m) {
  const int64_t t0 = SystemClock::Instance().MonotonicNanos();
  metrics_->received++;
  if (IsOwnOrigin(m.properties.user_properties)) return;
  MqttIn in;
  in.topic = m.topic;
  in.payload = m.payload.view();
  in.qos = static_cast<int>(m.qos);
  in.retain = m.retain;
  in.user_properties = &m.properties.user_properties;
  in.time_ms = NowMs();
  Intake& e = mqtt_batch_.emplace_back();
  RouteCounted(in, &e.bytes);
  e.time_ms = in.time_ms;
  e.t0_ns = t0;
  e.qos0 = m.qos == mqtt::QoS::kAtMostOnce;
}

// The messages of one read, appended with one write (DiskBuffer::AppendBatch) before the client
// acknowledges them; what does not fit waits for space one by one (BufferRecord).
void Bridge::FlushMqttBatch() {
  size_t i = 0;
  while (i < mqtt_batch_.size()) {
    mqtt_items_.clear();
    for (size_t k = i; k < mqtt_batch_.size(); ++k) {
      mqtt_items_.push_back({std::move(mqtt_batch_[k].bytes), mqtt_batch_[k].time_ms});
    }
    AppendBatchResult r;
    {
      std::lock_guard lock(pending_mu_);  // awaited before the producer thread sees them
      r = buffer_->AppendBatch(mqtt_items_, /*force=*/stopping_.load());
      for (size_t k = 0; k < r.appended; ++k) {
        pending_.Put(r.first_seq + k, Pending{{}, mqtt_batch_[i + k].t0_ns});
      }
    }
    metrics_->buffered += r.appended;
    for (size_t k = r.appended; k < mqtt_items_.size(); ++k) {  // not appended: bytes back
      mqtt_batch_[i + k].bytes = std::move(mqtt_items_[k].data);
    }
    i += r.appended;
    if (i < mqtt_batch_.size()) {  // full, too large or an I/O error: this one as before
      const Intake& e = mqtt_batch_[i];
      BufferRecord(e.bytes, e.time_ms, e.qos0, e.t0_ns);
      ++i;
    }
  }
  mqtt_batch_.clear();
}

void Bridge::BufferRecord(const std::string& bytes, int64_t time_ms, bool qos0, int64_t t0_ns) {
  for (;;) {
    // While stopping, a record the broker will consider acknowledged is kept even beyond
    // max_bytes (at most the in-flight window), rather than lost.
    Result<uint64_t> seq = errc::internal;
    {
      std::lock_guard lock(pending_mu_);  // awaited before the producer thread sees it
      seq = buffer_->Append(bytes, time_ms, /*force=*/stopping_.load());
      if (seq.ok()) pending_.Put(*seq, Pending{{}, t0_ns});
    }
    if (seq.ok()) {
      metrics_->buffered++;
      return;
    }
    if (seq.error() == errc::resource_exhausted && qos0) {
      metrics_->n_dropped++;
      metrics_->dropped.Add({{"reason", "buffer_full_qos0"}}).Increment();
      return;
    }
    if (seq.error() != errc::resource_exhausted) {
      static log::RateLimiter limiter;
      if (uint64_t suppressed = 0;
          limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
        Log()->error("buffer: {}; retrying ({} similar suppressed)", seq.status().message(),
                     suppressed);
      }
      if (stopping_) {
        metrics_->n_dropped++;
        metrics_->dropped.Add({{"reason", "buffer_io_error"}}).Increment();
        return;
      }
    }
    buffer_->WaitForSpace(bytes.size(), milliseconds(1000));  // flow control: MQTT waits
  }
}

// Inside the broker, on the publisher's core: must not block.
mqtt::broker::IngestVerdict Bridge::Offer(const mqtt::broker::MessagePtr& m,
                                          mqtt::broker::IngestDone done) {
  using mqtt::broker::IngestVerdict;
  const int64_t t0 = SystemClock::Instance().MonotonicNanos();
  if (IsOwnOrigin(m->properties.user_properties)) return {};
  MqttIn in;
  in.topic = m->topic;
  in.payload = m->payload.view();
  in.qos = m->qos;
  in.retain = m->retain;
  in.user_properties = &m->properties.user_properties;
  in.time_ms = NowMs();
  const int mapping = mapper_->Match(in.topic);
  if (mapping < 0) return {};  // not bridged: the broker's alone
  metrics_->received++;
  const bool qos0 = m->qos == 0;
  // Encoded here, copied below into a string the producer thread has finished with (spare_):
  // no allocation per record on this core, freed on the producer thread.
  thread_local std::string encoded;
  encoded.clear();
  RouteCounted(in, &encoded, mapping);
  Intake e{{}, in.time_ms, t0, qos0, std::move(done)};
  const uint64_t framed = FrameSize(encoded.size());
  {
    std::lock_guard lock(intake_mu_);
    if (!spare_.empty()) {
      e.bytes = std::move(spare_.back());
      spare_.pop_back();
    }
    e.bytes.assign(encoded);
    // refuse: what the buffer holds, plus what waits for the intake thread, would not fit.
    if (config_.when_full == WhenFull::kRefuse &&
        (full_.load() ||
         buffer_->stats().bytes + intake_bytes_ + framed > config_.buffer.max_bytes)) {
      if (qos0) {
        metrics_->n_dropped++;
        metrics_->dropped.Add({{"reason", "buffer_full_qos0"}}).Increment();
      } else {
        metrics_->n_refused++;
        metrics_->refused.Increment();
      }
      return {IngestVerdict::kRefuse, mqtt::ReasonCode::kQuotaExceeded};
    }
    if (qos0 && intake_qos0_ >= kMaxQueuedQos0) {  // QoS 0 is best effort
      metrics_->n_dropped++;
      metrics_->dropped.Add({{"reason", "intake_full_qos0"}}).Increment();
      return {IngestVerdict::kTaken};
    }
    intake_qos0_ += qos0 ? 1 : 0;
    intake_bytes_ += framed;
    intake_.push_back(std::move(e));
  }
  intake_cv_.notify_one();
  return {IngestVerdict::kTaken};
}

// Inside the broker: appends what the cores handed over, in order: everything waiting is taken
// under one lock and appended with one write (DiskBuffer::AppendBatch), its acks registered under
// one lock (per record, this thread's lock, write and wake-up were the bridge's largest cost and
// let a QoS 0 burst overflow the queue).
void Bridge::IntakeLoop() {
  std::vector<Intake> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(intake_mu_);
      intake_cv_.wait(lock, [this] { return !intake_.empty() || stop_intake_; });
      if (intake_.empty()) return;  // stopping, and everything appended
      uint64_t bytes = 0;
      while (!intake_.empty() && batch.size() < kIntakeBatchRecords && bytes < kIntakeBatchBytes) {
        bytes += intake_.front().bytes.size();
        intake_qos0_ -= intake_.front().qos0 ? 1 : 0;
        batch.push_back(std::move(intake_.front()));
        intake_.pop_front();
      }
    }
    uint64_t framed = 0;
    for (const Intake& e : batch) framed += FrameSize(e.bytes.size());
    AppendIntakeBatch(batch);
    {
      std::lock_guard lock(intake_mu_);  // in the buffer now (or dropped): counted there
      intake_bytes_ -= framed;
    }
  }
}

void Bridge::AppendIntakeBatch(std::vector<Intake>& batch) {
  const bool ack_now = config_.ack == AckPolicy::kDurable;
  std::vector<AppendItem> items;
  items.reserve(batch.size());
  size_t i = 0;
  while (i < batch.size()) {
    bool stopping = false;
    {
      std::lock_guard lock(intake_mu_);
      stopping = stop_intake_;
    }
    items.clear();
    for (size_t k = i; k < batch.size(); ++k) {
      items.push_back({std::move(batch[k].bytes), batch[k].time_ms});
    }
    AppendBatchResult r;
    {
      // Awaited before the producer thread can see them (see AppendIntake).
      std::lock_guard lock(pending_mu_);
      r = buffer_->AppendBatch(items, /*force=*/stopping);
      for (size_t k = 0; k < r.appended; ++k) {
        Intake& e = batch[i + k];
        pending_.Put(
            r.first_seq + k,
            Pending{ack_now ? mqtt::broker::IngestDone{} : std::exchange(e.done, {}), e.t0_ns});
      }
    }
    if (r.appended > 0) {
      full_ = false;
      metrics_->buffered += r.appended;
      if (ack_now) {
        for (size_t k = 0; k < r.appended; ++k) {
          if (batch[i + k].done) batch[i + k].done(mqtt::ReasonCode::kSuccess);
        }
      }
    }
    for (size_t k = r.appended; k < items.size(); ++k) {  // not appended: their bytes back
      batch[i + k].bytes = std::move(items[k].data);
    }
    i += r.appended;
    if (i < batch.size()) {  // full, too large or an I/O error: this one as before, one by one
      AppendIntake(batch[i]);
      ++i;
    }
  }
}

void Bridge::AppendIntake(Intake& e) {
  for (;;) {
    bool stopping = false;
    {
      std::lock_guard lock(intake_mu_);
      stopping = stop_intake_;
    }
    const bool ack_now = config_.ack == AckPolicy::kDurable;
    Result<uint64_t> seq = errc::internal;
    {
      // The record is awaited before the producer thread can see it: its delivery report
      // (Acked, which takes pending_mu_) may come before this thread would get the lock again,
      // and an ack not found is one never released (the device's window then stalls for good).
      std::lock_guard lock(pending_mu_);
      seq = buffer_->Append(e.bytes, e.time_ms, /*force=*/stopping);
      if (seq.ok())
        pending_.Put(*seq, Pending{ack_now ? mqtt::broker::IngestDone{} : std::exchange(e.done, {}),
                                   e.t0_ns});
    }
    if (seq.ok()) {
      full_ = false;
      metrics_->buffered++;
      if (ack_now && e.done) e.done(mqtt::ReasonCode::kSuccess);
      return;
    }
    if (seq.error() != errc::resource_exhausted) {  // io_error, or a record above the limit
      static log::RateLimiter limiter;
      if (uint64_t suppressed = 0;
          limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
        Log()->error("buffer: {} ({} similar suppressed)", seq.status().message(), suppressed);
      }
      metrics_->n_dropped++;
      metrics_->dropped.Add({{"reason", "buffer_io_error"}}).Increment();
      if (e.done) e.done(mqtt::ReasonCode::kImplementationSpecificError);
      return;
    }
    full_ = true;
    if (config_.when_full == WhenFull::kDropOldestQos0) {
      DropQueuedQos0();
      if (e.qos0) {
        metrics_->n_dropped++;
        metrics_->dropped.Add({{"reason", "drop_oldest_qos0"}}).Increment();
        return;
      }
    }
    buffer_->WaitForSpace(e.bytes.size(), milliseconds(200));  // acks withheld meanwhile
  }
}

size_t Bridge::DropQueuedQos0() {
  std::lock_guard lock(intake_mu_);
  const size_t before = intake_.size();
  std::erase_if(intake_, [this](const Intake& e) {
    if (e.qos0) intake_bytes_ -= FrameSize(e.bytes.size());
    return e.qos0;
  });
  const size_t dropped = before - intake_.size();
  intake_qos0_ = 0;
  if (dropped > 0) {
    metrics_->n_dropped += dropped;
    metrics_->dropped.Add({{"reason", "drop_oldest_qos0"}}).Increment(static_cast<double>(dropped));
  }
  return dropped;
}

void Bridge::PendingBySeq::Grow(size_t span) {
  size_t cap = ring_.empty() ? 1024 : ring_.size();
  while (cap < span) cap *= 2;
  std::vector<Slot> ring(cap);
  for (uint64_t s = base_; s < end_; ++s) {
    Slot& from = ring_[s & (ring_.size() - 1)];
    if (from.used) ring[s & (cap - 1)] = std::move(from);
  }
  ring_ = std::move(ring);
}

void Bridge::PendingBySeq::Put(uint64_t seq, Pending p) {
  if (used_ == 0) base_ = end_ = seq;
  const uint64_t lo = std::min(base_, seq), hi = std::max(end_, seq + 1);
  if (hi - lo > ring_.size()) Grow(hi - lo);
  base_ = lo;
  end_ = hi;
  Slot& slot = ring_[seq & (ring_.size() - 1)];
  if (!slot.used) ++used_;
  slot.p = std::move(p);
  slot.used = true;
}

bool Bridge::PendingBySeq::Take(uint64_t seq, Pending* out) {
  if (used_ == 0 || seq < base_ || seq >= end_) return false;
  Slot& slot = ring_[seq & (ring_.size() - 1)];
  if (!slot.used) return false;
  *out = std::move(slot.p);
  slot.p = Pending{};
  slot.used = false;
  --used_;
  const uint64_t mask = ring_.size() - 1;
  while (base_ < end_ && !ring_[base_ & mask].used) ++base_;  // the oldest awaited first
  return true;
}

void Bridge::Acked(uint64_t seq, mqtt::ReasonCode rc) {
  buffer_->Ack(seq);
  Pending p;
  {
    std::lock_guard lock(pending_mu_);
    if (!pending_.Take(seq, &p)) return;  // recovered from a previous run
  }
  metrics_->latency.Observe(
      static_cast<double>(SystemClock::Instance().MonotonicNanos() - p.t0_ns) / 1e9);
  if (p.done) p.done(rc);
}

// The records Kafka acknowledged in one Poll: out of the buffer under one lock, their acks found
// under one lock, then released (per report, two locks each were a good part of the thread's time).
void Bridge::ReleaseDelivered() {
  if (delivered_.empty()) return;
  buffer_->AckMany(delivered_);
  released_.clear();
  {
    std::lock_guard lock(pending_mu_);
    for (uint64_t seq : delivered_) {
      Pending p;
      if (!pending_.Take(seq, &p)) continue;  // recovered from a previous run
      released_.push_back(std::move(p));
    }
  }
  const int64_t now = SystemClock::Instance().MonotonicNanos();
  for (Pending& p : released_) {
    metrics_->latency.Observe(static_cast<double>(now - p.t0_ns) / 1e9);
    if (p.done) p.done(mqtt::ReasonCode::kSuccess);
  }
  metrics_->n_delivered += delivered_.size();
  metrics_->delivered.Increment(static_cast<double>(delivered_.size()));
  delivered_.clear();
  released_.clear();
}

// No new Offer after this returns: the gate is removed, then every core runs a no-op (an Offer
// in progress on a core has finished once that core runs the next closure).
void Bridge::DetachGate() {
  if (broker_ == nullptr) return;
  broker_->SetIngestGate(nullptr);
  for (uint32_t core = 0; core < broker_->cores(); ++core) {
    auto passed = std::make_shared<std::promise<void>>();
    auto f = passed->get_future();
    broker_->Post(core, [passed] { passed->set_value(); });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      Log()->warn("broker core {} did not answer within 5 s while detaching the bridge", core);
    }
  }
}

// Buffer -> Kafka, on the producer thread (delivery reports are served here too, by Poll).
void Bridge::ProduceLoop() {
  // Taken from the buffer, not yet accepted by librdkafka: local[next..]. Reused (cleared when
  // all are accepted), so a batch allocates nothing here.
  std::vector<BufferEntry> local;
  size_t next = 0;
  auto last_gauges = std::chrono::steady_clock::now();
  auto last_probe = last_gauges;
  while (!stop_threads_) {
    // Delivery reports are served only by Poll on this thread, and inside the broker they are the
    // devices' acks: while records are in flight, never block on the buffer (that held every
    // report up to 50 ms, so a device with a window of broker.receive_maximum got one window per
    // 50 ms: ~2,000 msg/s at 100); wait in Poll instead (woken by the first report, or 1 ms).
    const bool in_flight = producer_->InFlight() > 0;
    if (next == local.size() && !fatal()) {
      local.clear();
      next = 0;
      buffer_->TakeInto(1024, in_flight ? milliseconds(0) : milliseconds(50), &local);
    }
    while (next < local.size() && !fatal()) {
      if (!ProduceEntry(local[next])) break;  // librdkafka has copied it
      if (broker_ != nullptr && local[next].data.capacity() <= kSpareMaxBytes) {
        recycled_.push_back(std::move(local[next].data));
      }
      ++next;
    }
    if (!recycled_.empty()) {  // back to Offer's cores, one lock for the batch
      std::lock_guard lock(intake_mu_);
      while (!recycled_.empty() && spare_.size() < kSpareMax) {
        spare_.push_back(std::move(recycled_.back()));
        recycled_.pop_back();
      }
    }
    recycled_.clear();
    const bool waiting = next < local.size();  // librdkafka's queue was full
    producer_->Poll(waiting ? 10 : (in_flight ? 1 : 0));
    ReleaseDelivered();
    if (auto f = producer_->FatalError()) SetFatal(*f);
    // Unreachable and nothing in flight (no delivery report will tell): ask for metadata every
    // 2 s; blocks this thread up to 200 ms, when no ack can be waiting on it.
    if (kafka_reachable_ != 1 && !in_flight && !waiting &&
        std::chrono::steady_clock::now() - last_probe >= std::chrono::seconds(2)) {
      if (producer_->Reachable(200)) SetKafkaReachable(true);
      last_probe = std::chrono::steady_clock::now();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_gauges >= milliseconds(250)) {
      UpdateGauges();
      last_gauges = now;
    }
    if (fatal()) std::this_thread::sleep_for(milliseconds(100));  // idle until stopped
  }
  UpdateGauges();
}

// The buffer's fdatasync when its interval is due and the ack checkpoint, every 20 ms: off the
// producer thread (whose Poll serves the delivery reports, the devices' acks) and off the intake
// thread (whose appends every record waits for). The checkpoint trails the acks by up to 20 ms:
// after a kill -9, at most those records are sent again (at-least-once).
void Bridge::MaintainLoop() {
  log::RateLimiter limiter;
  for (;;) {
    if (Status s = buffer_->Maintain(); !s.ok()) {
      if (uint64_t suppressed = 0;
          limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
        Log()->error("buffer: {} ({} similar suppressed)", s.message(), suppressed);
      }
    }
    std::unique_lock lock(maintain_mu_);
    if (maintain_cv_.wait_for(lock, milliseconds(20), [this] { return stop_maintain_; })) return;
  }
}

bool Bridge::ProduceEntry(const BufferEntry& e) {
  RecordView rec;  // views into e.data, which lives until librdkafka has copied them
  if (Status s = DecodeRecordView(e.data, &rec, &produce_headers_); !s.ok()) {
    // Passed the CRC, so written by another version or a bug: count and skip.
    Log()->error("buffer record {}: {}", e.seq, s.message());
    metrics_->n_dropped++;
    metrics_->dropped.Add({{"reason", "undecodable"}}).Increment();
    Acked(e.seq, mqtt::ReasonCode::kImplementationSpecificError);
    return true;
  }
  OutRecord out;
  out.topic = rec.topic;
  out.key = rec.key;
  out.value = rec.value;
  out.header_views = produce_headers_;
  out.timestamp_ms = rec.timestamp_ms;
  out.opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(e.seq));
  Status s = producer_->Produce(out);
  if (s.ok()) return true;
  const rd_kafka_resp_err_t err = KafkaError(s.code());
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;  // Poll, then again
  metrics_->n_errors++;
  metrics_->errors.Add({{"kind", rd_kafka_err2name(err)}}).Increment();
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    SetFatal(s);
    return false;
  }
  // Refused at once (too large, invalid topic...): handled like a failed delivery.
  DeliveryReport r;
  r.err = err;
  r.topic = out.topic;
  r.key = out.key;
  r.value = out.value;
  DeadLetterDelivery(r, e.seq);
  return true;
}

void Bridge::SetKafkaReachable(bool reachable) {
  const int was = kafka_reachable_.exchange(reachable ? 1 : 0);
  if (was == (reachable ? 1 : 0)) return;
  metrics_->reachable.Set(reachable ? 1 : 0);
  if (reachable && was == 0) {
    Log()->info("Kafka reachable again ({}): delivering the disk buffer's {} record(s) in order",
                config_.bootstrap_servers, buffer_->stats().records);
  }
}

void Bridge::OnKafkaError(rd_kafka_resp_err_t err, std::string_view reason) {
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return;
  SetKafkaReachable(false);
  const auto now = std::chrono::steady_clock::now();
  if (unreachable_logged_ != std::chrono::steady_clock::time_point{} &&
      now - unreachable_logged_ < std::chrono::minutes(1)) {
    return;
  }
  unreachable_logged_ = now;
  const BufferStats s = buffer_->stats();
  Log()->error(
      "Kafka unreachable: no broker of bridge.bootstrap_servers {} answers ({}); MQTT messages are "
      "kept in the disk buffer {} ({} record(s), {} of {} bytes; when full: {}) and delivered in "
      "order once Kafka answers (this line at most once a minute)",
      config_.bootstrap_servers, reason, config_.buffer.dir, s.records, s.bytes,
      config_.buffer.max_bytes, config::NameOf(kWhenFullNames, config_.when_full));
}

void Bridge::OnDelivery(const DeliveryReport& r) {
  const auto seq = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(r.opaque));
  if (r.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (kafka_reachable_.load(std::memory_order_relaxed) != 1) SetKafkaReachable(true);
    if (seq != 0) delivered_.push_back(seq);  // released after Poll, all at once
    return;
  }
  metrics_->n_errors++;
  metrics_->errors.Add({{"kind", rd_kafka_err2name(r.err)}}).Increment();
  if (r.err == RD_KAFKA_RESP_ERR__FATAL || producer_->FatalError()) {
    SetFatal(producer_->FatalError().value_or(KafkaStatus(r.err, "delivery")));
    return;  // not acknowledged: sent again after the restart
  }
  if (r.err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || r.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    return;  // shutting down: stays in the buffer
  }
  DeadLetterDelivery(r, seq);
}

// A record Kafka refused for good goes to the dead-letter topic (same key and value, the error
// in headers); when that fails too it is dropped, counted and logged.
void Bridge::DeadLetterDelivery(const DeliveryReport& r, uint64_t seq) {
  static log::RateLimiter limiter;
  if (uint64_t suppressed = 0;
      limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
    Log()->error("Kafka refused a record for {}: {} ({} similar suppressed)", r.topic,
                 rd_kafka_err2name(r.err), suppressed);
  }
  if (r.topic == config_.dead_letter_topic) {
    metrics_->n_dropped++;
    metrics_->dropped.Add({{"reason", "dead_letter_failed"}}).Increment();
    if (seq != 0) Acked(seq, mqtt::ReasonCode::kImplementationSpecificError);
    return;
  }
  const std::vector<Header> headers = {{std::string(kHeaderError), rd_kafka_err2name(r.err)},
                                       {std::string(kHeaderErrorDetail), rd_kafka_err2str(r.err)},
                                       {"aiot.kafka_topic", std::string(r.topic)},
                                       {std::string(kOriginHeader), config_.origin}};
  OutRecord out;
  out.topic = config_.dead_letter_topic;
  out.key = r.key;
  out.value = r.value;
  out.headers = &headers;
  out.opaque = r.opaque;
  metrics_->n_dead++;
  metrics_->dead_letters.Add({{"reason", "kafka_refused"}}).Increment();
  if (Status s = producer_->Produce(out); !s.ok()) {
    metrics_->n_dropped++;
    metrics_->dropped.Add({{"reason", "dead_letter_failed"}}).Increment();
    if (seq != 0) Acked(seq, mqtt::ReasonCode::kImplementationSpecificError);
  }
}

void Bridge::UpdateGauges() {
  const BufferStats s = buffer_->stats();
  metrics_->bytes.Set(static_cast<double>(s.bytes));
  metrics_->records.Set(static_cast<double>(s.records));
  metrics_->segments.Set(static_cast<double>(s.segments));
  metrics_->age.Set(s.oldest_ms == 0 ? 0.0 : static_cast<double>(NowMs() - s.oldest_ms) / 1000.0);
}

// Kafka -> MQTT, on the consumer thread.
void Bridge::ConsumeLoop() {
  auto last_lag = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  while (!stop_threads_) {
    if (const auto now = std::chrono::steady_clock::now(); now - last_lag >= milliseconds(500)) {
      UpdateConsumerLag();
      last_lag = now;
    }
    auto polled = consumer_->Poll(100);
    if (!polled.ok()) {
      metrics_->n_errors++;
      metrics_->errors.Add({{"kind", polled.status().code().message()}}).Increment();
      static log::RateLimiter limiter;
      if (uint64_t suppressed = 0;
          limiter.Allow(SystemClock::Instance().MonotonicNanos(), &suppressed)) {
        Log()->warn("{} ({} similar suppressed)", polled.status().message(), suppressed);
      }
      continue;
    }
    if (*polled) HandleKafkaRecord(**polled);
  }
}

void Bridge::KafkaDeadLetter(const InRecord& rec, std::string_view reason, std::string detail) {
  metrics_->n_dead++;
  metrics_->dead_letters.Add({{"reason", std::string(reason)}}).Increment();
  std::vector<Header> headers = rec.headers;
  headers.push_back({std::string(kHeaderError), std::string(reason)});
  headers.push_back({std::string(kHeaderErrorDetail), std::move(detail)});
  headers.push_back({"aiot.kafka_topic", rec.topic});
  OutRecord out;
  out.topic = config_.dead_letter_topic;
  if (rec.key) out.key = *rec.key;
  out.value = rec.value;
  out.headers = &headers;
  if (Status s = producer_->Produce(out); !s.ok()) {
    metrics_->n_dropped++;
    metrics_->dropped.Add({{"reason", "dead_letter_failed"}}).Increment();
  }
  (void)consumer_->Commit(rec.topic, rec.partition, rec.offset + 1, /*async=*/true);
  ConsumerFinished(rec.topic, rec.partition, rec.offset);
}

void Bridge::ConsumerFinished(const std::string& topic, int32_t partition, int64_t offset) {
  std::lock_guard lock(lag_mu_);
  auto it = finished_next_.find({topic, partition});
  if (it != finished_next_.end()) it->second = std::max(it->second, offset + 1);
}

// On the consumer thread: per assigned partition, librdkafka's cached high watermark (updated
// by every fetch response) minus the offset after the last record finished with. A partition
// from which nothing was read yet counts from the consumer's position, or (before the first
// record: librdkafka has no position then) from the group's committed offset, asked once per
// assignment (without a commit: where auto.offset.reset starts).
void Bridge::UpdateConsumerLag() {
  rd_kafka_t* rk = consumer_->handle();
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  (void)rd_kafka_position(rk, assigned);  // next offset to read, per partition
  rd_kafka_topic_partition_list_t* unknown = rd_kafka_topic_partition_list_new(0);
  {
    std::lock_guard lock(lag_mu_);
    for (int i = 0; i < assigned->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = assigned->elems[i];
      if (tp.offset < 0 && !finished_next_.contains({tp.topic, tp.partition})) {
        rd_kafka_topic_partition_list_add(unknown, tp.topic, tp.partition);
      }
    }
  }
  if (unknown->cnt > 0 && rd_kafka_committed(rk, unknown, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::lock_guard lock(lag_mu_);
    for (int i = 0; i < unknown->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = unknown->elems[i];
      int64_t low = 0, high = -1;
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR ||
          rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      const int64_t start = tp.offset >= 0 ? tp.offset : (consume_from_end_ ? high : low);
      finished_next_.try_emplace({tp.topic, tp.partition}, start);
    }
  }
  rd_kafka_topic_partition_list_destroy(unknown);
  std::map<std::pair<std::string, int32_t>, int64_t> lags;
  {
    std::lock_guard lock(lag_mu_);
    std::map<std::pair<std::string, int32_t>, int64_t> kept;
    for (int i = 0; i < assigned->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = assigned->elems[i];
      std::pair<std::string, int32_t> key{tp.topic, tp.partition};
      int64_t low = 0, high = -1;
      auto it = finished_next_.find(key);
      int64_t next = it != finished_next_.end() ? it->second : tp.offset;
      if (it != finished_next_.end()) kept[key] = it->second;
      if (rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0 || next < 0) {
        continue;
      }
      lags[key] = std::max<int64_t>(0, high - std::max(next, low));
    }
    finished_next_ = std::move(kept);  // a partition no longer ours starts afresh
  }
  rd_kafka_topic_partition_list_destroy(assigned);
  int64_t total = 0;
  for (auto it = metrics_->lag_gauges.begin(); it != metrics_->lag_gauges.end();) {
    if (lags.contains(it->first)) {
      ++it;
      continue;
    }
    metrics_->consumer_lag.Remove(it->second);
    it = metrics_->lag_gauges.erase(it);
  }
  for (const auto& [key, lag] : lags) {
    auto& g = metrics_->lag_gauges[key];
    if (g == nullptr) {
      g = &metrics_->consumer_lag.Add(
          {{"topic", key.first}, {"partition", std::to_string(key.second)}});
    }
    g->Set(static_cast<double>(lag));
    total += lag;
  }
  consumer_lag_ = lags.empty() ? -1 : total;
}

void Bridge::HandleKafkaRecord(InRecord& rec) {
  const ReverseMapping* map = nullptr;
  for (const auto& r : reverse_) {
    if (r.kafka_topic == rec.topic) map = &r;
  }
  if (map == nullptr) return;  // not subscribed
  {
    std::lock_guard lock(lag_mu_);  // everything from here on is outstanding
    auto [it, inserted] = finished_next_.try_emplace({rec.topic, rec.partition}, rec.offset);
    if (rec.offset < it->second) it->second = rec.offset;  // read again (rebalance)
  }
  if (rec.header(kOriginHeader) != nullptr) {  // came from MQTT through a bridge
    metrics_->n_loop++;
    metrics_->loop.Add({{"direction", "kafka_to_mqtt"}}).Increment();
    (void)consumer_->Commit(rec.topic, rec.partition, rec.offset + 1, true);
    ConsumerFinished(rec.topic, rec.partition, rec.offset);
    return;
  }
  std::string topic = map->prefix;
  if (map->uses_key) {
    const std::string key = rec.key.value_or("");
    if (key.empty() || key.find_first_of("/+#") != std::string::npos) {
      return KafkaDeadLetter(rec, "bad_key", "the key must be one MQTT topic level (a device id)");
    }
    topic += key + map->suffix;
  }
  if (mqtt::ValidateTopicName(topic) != mqtt::ReasonCode::kSuccess) {
    return KafkaDeadLetter(rec, "bad_key", "gives an invalid MQTT topic");
  }
  const auto doc = nlohmann::json::parse(rec.value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return KafkaDeadLetter(rec, "bad_payload", "not a JSON object");
  {
    std::unique_lock lock(outstanding_mu_);
    auto room = [this] { return outstanding_ < kMaxOutstandingToMqtt || stop_threads_.load(); };
    // The MQTT broker is slow or away: keep the lag gauge current while waiting.
    while (!outstanding_cv_.wait_for(lock, milliseconds(500), room)) {
      lock.unlock();
      UpdateConsumerLag();
      lock.lock();
    }
    if (stop_threads_) return;  // not committed: read again by the next member
    ++outstanding_;
  }
  mqtt::PublishOptions opts{.qos = mqtt::QoS::kAtLeastOnce};
  opts.properties.user_properties.push_back({std::string(kOriginHeader), config_.origin});
  prometheus::Counter* counter = metrics_->to_mqtt[rec.topic];
  auto done = [this, counter, t = rec.topic, p = rec.partition,
               o = rec.offset](std::error_code ec) {
    if (!ec) {
      counter->Increment();
      metrics_->n_to_mqtt++;
      if (!stop_threads_) {
        (void)consumer_->Commit(t, p, o + 1, /*async=*/true);
        ConsumerFinished(t, p, o);
      }
    } else if (ec != make_error_code(errc::cancelled)) {
      metrics_->n_errors++;
      metrics_->errors.Add({{"kind", "mqtt_publish"}}).Increment();
    }
    std::lock_guard lock(outstanding_mu_);
    --outstanding_;
    outstanding_cv_.notify_all();
  };
  if (Status s = client_->Publish(topic, rec.value, opts, done); !s.ok()) {
    done(s.code());  // queue full or stopping: not committed, read again later
  }
}

}  // namespace aiot::kafka
