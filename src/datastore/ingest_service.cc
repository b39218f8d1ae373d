#include "datastore/ingest_service.h"

#include "base/log.h"

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
}

void IngestService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  client_->Unsubscribe(config_.telemetry_topic);
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

void IngestService::WriterLoop() {
  std::vector<TelemetryRow> batch;
  auto interval = std::chrono::milliseconds(std::max(1, config_.flush_interval_ms));
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait_for(lock, interval, [&] {
      return stopping_ || buffer_.size() >= static_cast<size_t>(config_.batch_rows);
    });
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
  drained_.wait_for(lock, std::chrono::seconds(60), [&] { return buffer_.empty() && !writing_; });
}

IngestStats IngestService::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace aiot::datastore
