#include "datastore/ingest_service.h"

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
      parser_(config_.fields) {}

IngestService::~IngestService() { Stop(); }

void IngestService::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
  }
  writer_ = std::thread([this] { WriterLoop(); });
  client_->Subscribe(config_.telemetry_topic, mqtt::QoS::kAtLeastOnce,
                     [this](const mqtt::Message& m) { OnMessage(m); });
  if (!config_.maintenance_topic.empty()) {
    client_->Subscribe(config_.maintenance_topic, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnMaintenance(m); });
  }
}

void IngestService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  client_->Unsubscribe(config_.telemetry_topic);
  if (!config_.maintenance_topic.empty()) client_->Unsubscribe(config_.maintenance_topic);
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void IngestService::OnMessage(const mqtt::Message& m) {
  TelemetryRow row;
  telemetry::Defect defect;
  Status s = parser_.Parse(m.payload.view(), clock_.NowNanos(), &row, &defect);
  if (!s.ok()) rejections_.Reject(m.topic, defect);
  std::unique_lock lock(mu_);
  ++stats_.received;
  if (!s.ok()) {
    ++stats_.rejected;
    return;
  }
  buffer_.push_back(std::move(row));
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
    writing_ = true;
    lock.unlock();
    Status s = store_.Append(batch);
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
