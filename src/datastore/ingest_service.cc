#include "datastore/ingest_service.h"

#include <fmt/ranges.h>

#include "base/log.h"
#include "datastore/maintenance_json.h"

namespace aiot::datastore {

IngestService::IngestService(DatastoreConfig config, TrainingDatastore& store,
                             std::shared_ptr<mqtt::Client> client, metrics::Registry* metrics,
                             const Clock& clock)
    : config_(std::move(config)),
      store_(store),
      client_(std::move(client)),
      clock_(clock),
      rejections_(metrics, "ingest", "datastore", clock),
      parser_(config_.fields),
      metrics_(metrics) {}

IngestService::~IngestService() { Stop(); }

Status IngestService::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return {};
    started_ = true;
  }
  writer_ = std::thread([this] { WriterLoop(); });
  if (config_.source == kafka::TelemetrySource::kKafka) {
    if (Status s = StartKafka(); !s.ok()) {
      Stop();
      return s;
    }
  } else {
    client_->Subscribe(config_.telemetry_topic, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnMessage(m); });
  }
  if (!config_.maintenance_topic.empty()) {
    client_->Subscribe(config_.maintenance_topic, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnMaintenance(m); });
  }
  return {};
}

// source: kafka: a consumer-group member instead of the telemetry subscription.
Status IngestService::StartKafka() {
  std::shared_ptr<metrics::Registry> own;
  if (metrics_ == nullptr) own = std::make_shared<metrics::Registry>();
  auto source = kafka::KafkaSource::Create(config_.kafka, "datastore", metrics_ ? *metrics_ : *own);
  if (!source.ok()) return source.status().Prefix("datastore.kafka");
  source_ = std::move(*source);
  Status s = source_->Start([this](kafka::InRecord&& r) {
    const std::string* topic = r.header("mqtt.topic");
    Buffer(topic != nullptr ? std::string_view(*topic) : std::string_view(r.topic), r.value,
           kafka::RecordPosition{r.topic, r.partition, r.offset});
  });
  if (!s.ok()) return s.Prefix("datastore.kafka");
  log::Get("datastore")
      ->info("ingest reads telemetry from Kafka topics [{}] (group {})",
             fmt::join(config_.kafka.topics, ", "),
             config_.kafka.group.empty() ? "aiot-datastore" : config_.kafka.group);
  return {};
}

void IngestService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
  }
  if (source_) {
    // Stops reading; the rows it handed out are written (and done) before the last offset commit.
    source_->Stop([this] { Flush(); });
  } else {
    client_->Unsubscribe(config_.telemetry_topic);
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (!config_.maintenance_topic.empty()) client_->Unsubscribe(config_.maintenance_topic);
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void IngestService::OnMessage(const mqtt::Message& m) {
  Buffer(m.topic, m.payload.view(), std::nullopt);
}

void IngestService::Buffer(std::string_view topic, std::string_view payload,
                           std::optional<kafka::RecordPosition> position) {
  TelemetryRow row;
  telemetry::Defect defect;
  Status s = parser_.Parse(payload, clock_.NowNanos(), &row, &defect);
  if (!s.ok()) rejections_.Reject(topic, defect);
  std::unique_lock lock(mu_);
  ++stats_.received;
  if (!s.ok()) {
    ++stats_.rejected;
    lock.unlock();
    if (position) source_->Done(*position);  // counted; nothing to write
    return;
  }
  buffer_.push_back(std::move(row));
  if (position) positions_.push_back(std::move(*position));
  if (buffer_.size() >= static_cast<size_t>(config_.batch_rows)) cv_.notify_one();
}

void IngestService::OnMaintenance(const mqtt::Message& m) {
  auto record = ParseMaintenanceJson(m.payload.view());
  std::unique_lock lock(mu_);
  ++stats_.maintenance;
  if (!record.ok()) {
    ++stats_.maintenance_rejected;
    lock.unlock();
    LogRejectedMaintenance(m.topic, record.status().message());
    return;
  }
  record->source = "mqtt:" + m.topic;
  maintenance_.push_back(std::move(*record));
  cv_.notify_one();
}

void IngestService::LogRejectedMaintenance(const std::string& topic, const std::string& why) {
  const int64_t now = clock_.NowNanos();
  if (now - last_maintenance_warning_ < 10'000'000'000) return;  // one line per 10 s
  last_maintenance_warning_ = now;
  log::Get("datastore")->warn("ingest: maintenance record on {} rejected: {}", topic, why);
}

// On the writer thread, without the lock.
void IngestService::WriteMaintenance(std::vector<MaintenanceRecord>& records) {
  uint64_t refused = 0;
  for (const auto& r : records) {
    auto added = store_.AddMaintenance(r);
    if (!added.ok()) {
      ++refused;
      log::Get("datastore")
          ->warn("ingest: maintenance record of `{}` refused: {}", r.device.substr(0, 80),
                 added.status().message());
    } else if (*added) {
      log::Get("datastore")
          ->info("maintenance: {} {} at {} ({})", r.device, MaintenanceKindName(r.kind),
                 FormatTimestamp(r.at), r.mode);
    }
  }
  records.clear();
  std::lock_guard lock(mu_);
  stats_.maintenance_rejected += refused;
}

void IngestService::WriterLoop() {
  std::vector<TelemetryRow> batch;
  std::vector<kafka::RecordPosition> positions;
  std::vector<MaintenanceRecord> records;
  auto interval = std::chrono::milliseconds(std::max(1, config_.flush_interval_ms));
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait_for(lock, interval, [&] {
      return stopping_ || !maintenance_.empty() ||
             buffer_.size() >= static_cast<size_t>(config_.batch_rows);
    });
    if (!maintenance_.empty()) {
      records.swap(maintenance_);
      writing_ = true;
      lock.unlock();
      WriteMaintenance(records);
      lock.lock();
      writing_ = false;
    }
    if (buffer_.empty()) {
      drained_.notify_all();
      if (stopping_) break;
      continue;
    }
    batch.swap(buffer_);
    positions.swap(positions_);
    writing_ = true;
    lock.unlock();
    Status s = store_.Append(batch);
    if (s.ok()) {
      for (const auto& p : positions) source_->Done(p);  // durable: the offsets may be committed
    }
    positions.clear();
    lock.lock();
    writing_ = false;
    if (s.ok()) {
      stats_.written += batch.size();
    } else {
      stats_.failed += batch.size();
      log::Get("datastore")->error("ingest: cannot write {} rows: {}", batch.size(), s.ToString());
    }
    batch.clear();
    if (buffer_.empty()) drained_.notify_all();
  }
}

void IngestService::Flush() {
  std::unique_lock lock(mu_);
  cv_.notify_one();
  drained_.wait_for(lock, std::chrono::seconds(60),
                    [&] { return buffer_.empty() && maintenance_.empty() && !writing_; });
}

IngestStats IngestService::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace aiot::datastore
