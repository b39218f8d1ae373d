#include "store/store_service.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <future>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::store {

StoreService::StoreService(const StoreConfig& config, ClientFactory client_factory, net::WsHub* hub,
                           metrics::Registry& registry, Clock& clock)
    : config_(config),
      client_factory_(std::move(client_factory)),
      hub_(hub),
      registry_(registry),
      clock_(clock),
      rejections_(&registry, "store", "store", clock) {}

StoreService::~StoreService() { Stop(); }

Status StoreService::Open() {
  if (store_) return {};
  auto s = TelemetryStore::Open(config_, clock_, &registry_);
  if (!s) return s.status();
  store_ = std::move(*s);
  if (config_.influx.enabled) {
    sink_ = std::make_unique<InfluxSink>(config_.influx, store_->schema(), &registry_);
    if (Status st = sink_->Start(); !st) {
      sink_.reset();
      return st.Prefix("InfluxDB sink");
    }
  }
  return {};
}

void StoreService::OnMessage(std::string_view topic, std::string_view payload) {
  Handle(topic, payload, nullptr);
}

void StoreService::Handle(std::string_view topic, std::string_view payload,
                          TelemetryStore::OnCommitted on_committed) {
  messages_.fetch_add(1, std::memory_order_relaxed);
  telemetry::Defect defect;
  auto rec = store_->Parse(topic, payload, &defect);
  if (!rec) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    if (defect.kind != telemetry::Defect::Kind::kNone) {
      rejections_.Reject(topic, defect);
    } else {
      rejections_.Reject(topic, "malformed", rec.status().message());
    }
    if (on_committed) on_committed(true);  // counted; nothing to store
    return;
  }
  if (hub_) {
    std::string channel;
    if (auto* p = std::get_if<TelemetryPoint>(&*rec)) {
      channel = "telemetry/" + p->device;
    } else if (auto* a = std::get_if<AnomalyPoint>(&*rec)) {
      channel = "anomaly/" + a->device;
    } else if (auto* s = std::get_if<StatusUpdate>(&*rec)) {
      channel = "status/" + s->device;
    } else if (auto* e = std::get_if<EventRecord>(&*rec)) {
      channel = e->kind == "alert" ? std::string("alerts") : "events/" + e->kind;
    }
    hub_->Publish(channel, std::string(payload));
  }
  if (sink_) sink_->Add(*rec, topic);
  Status st = on_committed ? store_->WriteThen(std::move(*rec), std::move(on_committed))
                           : store_->Write(std::move(*rec));
  if (!st) rejected_.fetch_add(1);
}

void StoreService::OnKafkaRecord(kafka::InRecord&& r) {
  const std::string* mqtt_topic = r.header("mqtt.topic");
  Handle(mqtt_topic != nullptr ? std::string_view(*mqtt_topic) : config_.telemetry_topic, r.value,
         [source = source_.get(),
          pos = kafka::RecordPosition{r.topic, r.partition, r.offset}](bool committed) {
           if (committed) source->Done(pos);
         });
}

// source: kafka: a consumer-group member instead of the telemetry subscription.
Status StoreService::StartKafka() {
  auto source = kafka::KafkaSource::Create(config_.kafka, "store", registry_);
  if (!source.ok()) return source.status().Prefix("store.kafka");
  source_ = std::move(*source);
  if (Status st = source_->Start([this](kafka::InRecord&& r) { OnKafkaRecord(std::move(r)); });
      !st) {
    source_.reset();
    return st.Prefix("store.kafka");
  }
  log::Get("store")->info("store reads telemetry from Kafka topics [{}] (group {})",
                          fmt::join(config_.kafka.topics, ", "),
                          config_.kafka.group.empty() ? "aiot-store" : config_.kafka.group);
  return {};
}

Status StoreService::Start() {
  if (Status st = Open(); !st) return st;
  if (client_ || !client_factory_) return {};
  client_ = client_factory_();
  if (!client_) return {errc::unavailable, "no MQTT client for the store service"};
  const bool from_kafka = config_.source == kafka::TelemetrySource::kKafka;
  if (from_kafka) {
    if (Status st = StartKafka(); !st) return st;
  }
  auto handler = [this](const mqtt::Message& m) { OnMessage(m.topic, m.payload.view()); };
  for (const std::string* topic :
       {&config_.telemetry_topic, &config_.anomaly_topic, &config_.alerts_topic,
        &config_.status_topic, &config_.events_topic}) {
    if (from_kafka && topic == &config_.telemetry_topic) continue;
    if (!topic->empty()) client_->Subscribe(*topic, mqtt::QoS::kAtMostOnce, handler);
  }
  client_->Start();
  log::Get("store")->info("store service started: {} ({} column fields{})", config_.path,
                          store_->schema().size(), sink_ ? ", InfluxDB sink on" : "");
  return {};
}

void StoreService::Stop() {
  if (client_) {
    std::promise<void> stopped;
    auto done = stopped.get_future();
    client_->Stop([&stopped] { stopped.set_value(); });
    done.wait_for(std::chrono::seconds(10));
    client_.reset();
  }
  if (source_) {
    // Stops reading; what it handed out is committed to SQLite (and Done) before the last
    // offset commit; then it leaves the group.
    source_->Stop([this] { (void)store_->Flush(); });
    source_.reset();
  }
  if (sink_) sink_->Stop();
  if (store_) (void)store_->Flush();
}

}  // namespace aiot::store
