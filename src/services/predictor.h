#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/result.h"
#include "kafka/client.h"
#include "kafka/source.h"
#include "mqtt/client/client.h"
#include "net/router.h"
#include "services/anomaly_detector.h"
#include "services/model.h"
#include "services/predictor_config.h"

namespace aiot::services {

class AlertWebhook;

// The predictor as a service of its own: the stream settings plus the MQTT connection it uses
// when it runs against a broker (`aiot predictor`; `aiot up` connects in-process instead).
// YAML: `predictor: {topics: [fan/messages], model: ..., mqtt: {url: tcp://...}}`.
struct PredictorServiceConfig : PredictorConfig {
  mqtt::MqttClientConfig mqtt;
};

void Describe(config::Visitor& v, PredictorServiceConfig& c);

// Which of the predictor's two models a load is meant for.
enum class ModelSlot {
  kByTask,         // the model's metadata task decides (time_to_failure: beside the fault model)
  kFault,          // the fault model: a time-to-failure model is refused
  kTimeToFailure,  // the time-to-failure model: any other model is refused
};
const char* ModelSlotName(ModelSlot slot);  // "by task", "fault", "time-to-failure"

// What to load: a model file and the name to report it under.
struct ModelSource {
  std::string path;    // local .tflite file
  std::string name;    // "fan-mlp@3"; empty = from the model's metadata or the file name
  std::string sha256;  // optional: refuse the file unless its sha256 (hex) matches
  ModelSlot slot = ModelSlot::kByTask;
};

// Loads a model (src/ml's runtime in production: see MakeTfliteLoader in tflite_model.h).
using ModelLoader = std::function<Result<ModelPtr>(const ModelSource&)>;

// The streaming predictor service: subscribes to telemetry, scores it in batches with the model
// in `models`, publishes results, alerts, actuator commands, drift events and dead letters
// (see AnomalyDetector), follows model events on `model_events_topic` (hot swap) and delivers
// alerts to a webhook.
//
// `source: kafka`: telemetry comes from a Kafka consumer group (kafka/source.h) instead of MQTT
// subscriptions; each record's offset is committed once every result published for the batch it
// was scored in was acknowledged (MQTT PUBACK at qos 1, or handed to the client at qos 0; Kafka's
// delivery report for results_to kafka/both), so a killed instance's partitions are read again by
// another member from there (at-least-once).
//
// Threading: everything stream-related runs on the MQTT client's strand (one detector per
// predictor). LoadModel may be called from any thread; it swaps `models` atomically, so the batch
// in progress finishes with the old model and the next one uses the new.
class Predictor {
 public:
  // `models` may already hold a model (e.g. shared with the scoring API); otherwise Start loads
  // config.model. `transport` is the MQTT transport factory (empty = TCP; the embedded broker's
  // for inproc://). `io` runs the MQTT client and the webhook.
  Predictor(const PredictorConfig& config, const mqtt::MqttClientConfig& mqtt,
            boost::asio::io_context& io, ModelHolder& models, ModelLoader loader,
            prometheus::Registry& metrics, const Clock& clock = SystemClock::Instance(),
            mqtt::TransportFactory transport = {}, DriftWatchFactory drift = nullptr);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  // Loads config.model when `models` is empty, subscribes and connects. Returns the load error;
  // with no model configured it starts anyway (messages are dead-lettered until one is loaded).
  Status Start();
  // Scores what is pending, publishes it, disconnects. Blocks until the client stopped.
  // REQUIRES: not called on the predictor's io_context thread; the io_context is running.
  void Stop();

  // Loads `source` and swaps it in. Thread-safe. A time-to-failure model
  // (ScoringModel::time_to_failure) goes in beside the fault model instead (time_to_failure_h in
  // every result). With source.slot kFault or kTimeToFailure a model of the other task is refused
  // (errc::invalid_argument saying which slot and which task; the serving models stay; counted in
  // aiot_predictor_model_wrong_task_total and aiot_predictor_model_load_failures_total).
  Status LoadModel(const ModelSource& source);

  // The registry names of the two models (e.g. "fan-mlp" and "fan-ttf"; empty = not known):
  // model events naming one of them load into its slot only (a classifier promoted under the
  // time-to-failure name, or the reverse, is refused); other names go by the model's task.
  // Set before Start().
  void ServeModelNames(std::string fault, std::string time_to_failure) {
    fault_name_ = std::move(fault);
    ttf_name_ = std::move(time_to_failure);
  }

  // With a handler, `promoted` model events only call it (on the client's strand) instead of
  // loading their `path`, which is a file on the registry's host: a predictor following a remote
  // registry (RegistryFollower, predictor_follow.h) fetches the model over HTTP instead. `load`
  // events are unaffected. Set before Start().
  void OnPromotion(std::function<void()> handler) { on_promotion_ = std::move(handler); }

  // POST /api/v1/predictor/model {"path":"...","name":"fan-mlp@4","sha256":"..."} (role
  // `admin_role`, so it needs a token) -> {"model":"fan-mlp@4","previous":"fan-mlp@3"}.
  void RegisterRoutes(net::Router& router, const std::string& admin_role = "operator");

  const std::shared_ptr<mqtt::Client>& client() const { return client_; }
  // Messages scored and dead-lettered so far (for tests and logs).
  uint64_t received() const { return received_.load(); }

 private:
  class Sink;
  // The Kafka records scored in one flush, and the publishes of their results not yet
  // acknowledged: when both are over, the records are done (KafkaSource::Done).
  struct KafkaBatch;
  void OnTelemetry(const mqtt::Message& m);
  void OnKafkaRecord(kafka::InRecord&& r);  // on the strand
  // detector_->Flush, then the Kafka batch's own hold released.
  void Flush();
  Status StartKafka(prometheus::Registry& metrics);
  void ProduceResult(std::string_view payload, const std::shared_ptr<KafkaBatch>& batch);
  void OnModelEvent(const mqtt::Message& m);
  void ScheduleFlush();

  PredictorConfig config_;
  boost::asio::io_context& io_;
  ModelHolder& models_;
  ModelHolder ttf_models_;  // the time-to-failure model, if any
  ModelLoader loader_;
  std::shared_ptr<mqtt::Client> client_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<AlertWebhook> webhook_;
  std::unique_ptr<AnomalyDetector> detector_;
  prometheus::Registry& registry_;
  std::unique_ptr<kafka::KafkaSource> source_;         // source: kafka
  std::shared_ptr<KafkaBatch> batch_;                  // strand only: records since the last flush
  std::unique_ptr<kafka::Producer> results_producer_;  // results_to: kafka / both
  std::thread results_poller_;
  std::atomic<bool> stop_poller_{false};
  boost::asio::steady_timer flush_timer_;
  bool flush_scheduled_ = false;
  // False once Stop finished (strand only). Flush handlers hold it, not just `this`: one still
  // queued on the strand when Stop returns must not touch a destroyed predictor.
  std::shared_ptr<bool> live_ = std::make_shared<bool>(true);
  std::atomic<uint64_t> received_{0};
  std::function<void()> on_promotion_;
  std::string fault_name_, ttf_name_;  // ServeModelNames
  std::mutex load_mu_;
  prometheus::Counter& swaps_;
  prometheus::Counter& load_failures_;
  prometheus::Counter& wrong_task_;
  prometheus::Counter& publish_drops_;
};

}  // namespace aiot::services
