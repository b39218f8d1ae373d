#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "kafka/source.h"
#include "mqtt/client/client.h"
#include "net/ws_hub.h"
#include "store/influx_sink.h"
#include "store/store_config.h"
#include "store/telemetry_store.h"
#include "telemetry/rejections.h"

namespace aiot::store {

// Feeds the telemetry store (and the optional InfluxDB sink, and the WebSocket hub for live
// charts) from MQTT: subscribes to the telemetry, anomaly, alerts, status and events topics of
// StoreConfig.
//
// Hub channels (JSON text is the MQTT payload as received):
//   telemetry/<deviceID>, anomaly/<deviceID>, status/<deviceID>, alerts, events/<kind>
// Browsers subscribe with patterns such as "telemetry/*" (see net/ws_hub.h).
//
//   StoreService svc(config.store, [&] { return mqtt::Client::Create(io, mqtt_cfg, factory); },
//                    &hub, registry);
//   svc.Open();                                   // opens the SQLite store (no network)
//   RegisterStoreRoutes(router, *svc.store());     // before the HTTP server starts
//   svc.Start();                                  // subscribes and starts the client
//   ...
//   svc.Stop();                                   // stops the client, flushes store and sink
//
// `source: kafka` (StoreConfig::kafka): telemetry is read from Kafka by a consumer-group member
// (kafka/source.h) instead of the telemetry_topic subscription; each record is stored as the MQTT
// message of its `mqtt.topic` header (set by the bridge), else of telemetry_topic, and is done
// (its offset may be committed) once the SQLite transaction holding it is committed: at-least-
// once. A record the store rejects is counted and done at once (never a stall); one whose batch
// failed is not done, so the group reads it again after a restart. The other topics stay on MQTT.
//
// Thread-safety: Open/Start/Stop from the controlling thread. Message handling runs on the MQTT
// client's strand and on the Kafka source's thread; store, sink and hub are thread-safe.
class StoreService {
 public:
  using ClientFactory = std::function<std::shared_ptr<mqtt::Client>()>;

  StoreService(const StoreConfig& config, ClientFactory client_factory, net::WsHub* hub,
               metrics::Registry& registry, Clock& clock = SystemClock::Instance());
  ~StoreService();
  StoreService(const StoreService&) = delete;
  StoreService& operator=(const StoreService&) = delete;

  Status Open();
  Status Start();  // calls Open() when needed
  void Stop();

  TelemetryStore* store() { return store_.get(); }
  InfluxSink* influx() { return sink_.get(); }

  // Handles one MQTT message as the subscription handlers do (tests, other transports).
  void OnMessage(std::string_view topic, std::string_view payload);

  uint64_t messages() const { return messages_.load(); }
  kafka::KafkaSource* kafka_source() { return source_.get(); }
  uint64_t rejected() const { return rejected_.load(); }

 private:
  // OnMessage; with `on_committed`, the record is written with WriteThen (and a rejected one is
  // reported done at once).
  void Handle(std::string_view topic, std::string_view payload,
              TelemetryStore::OnCommitted on_committed);
  Status StartKafka();
  void OnKafkaRecord(kafka::InRecord&& r);  // on the source's thread

  StoreConfig config_;
  ClientFactory client_factory_;
  net::WsHub* hub_;
  metrics::Registry& registry_;
  Clock& clock_;
  std::unique_ptr<TelemetryStore> store_;
  std::unique_ptr<InfluxSink> sink_;
  std::shared_ptr<mqtt::Client> client_;
  std::unique_ptr<kafka::KafkaSource> source_;  // source: kafka
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> rejected_{0};
  telemetry::Rejections rejections_;  // aiot_messages_rejected_total{component="store"}
};

}  // namespace aiot::store
