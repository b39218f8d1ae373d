#include "services/predictor.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>

#include "base/errc.h"
#include "base/json.h"
#include "base/log.h"
#include "services/webhook.h"

namespace aiot::services {

namespace asio = boost::asio;

namespace {

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto logger = log::Get("predictor");
  return logger;
}

}  // namespace

const char* ModelSlotName(ModelSlot slot) {
  switch (slot) {
    case ModelSlot::kByTask:
      return "by task";
    case ModelSlot::kFault:
      return "fault";
    case ModelSlot::kTimeToFailure:
      return "time-to-failure";
  }
  return "?";
}

void Describe(config::Visitor& v, PredictorServiceConfig& c) {
  Describe(v, static_cast<PredictorConfig&>(c));
  config::Section(v, "mqtt", c.mqtt, "MQTT connection of the predictor (`aiot predictor`).");
}

struct Predictor::KafkaBatch {
  kafka::KafkaSource* source = nullptr;
  std::vector<kafka::RecordPosition> positions;
  std::atomic<int> holds{1};  // the flush's own, plus one per publish in flight
  std::atomic<bool> failed{false};

  void Hold() { holds.fetch_add(1); }
  void Release(bool ok) {
    if (!ok) failed = true;
    if (holds.fetch_sub(1) != 1) return;
    // A result not published: not done, so not committed; the partition's next owner (or this
    // instance after a restart) reads the records again.
    if (failed) return;
    for (const auto& p : positions) source->Done(p);
  }
};

// Publishes the detector's output with the MQTT client (and per-reading results to Kafka with
// results_to kafka/both) and hands alerts to the webhook.
class Predictor::Sink final : public DetectorSink {
 public:
  Sink(Predictor& p) : p_(p) {}
  void Publish(std::string_view topic, std::string_view payload) override {
    const std::shared_ptr<KafkaBatch>& batch = p_.batch_;
    const bool result = topic == p_.config_.anomaly_topic;
    if (result && p_.results_producer_) p_.ProduceResult(payload, batch);
    if (result && p_.config_.results_to == ResultsTo::kKafka) return;
    mqtt::PublishOptions options;
    options.qos = static_cast<mqtt::QoS>(p_.config_.qos);
    mqtt::PublishDone done;
    if (batch) {
      batch->Hold();
      done = [batch](std::error_code ec) { batch->Release(!ec); };
    }
    Status st = p_.client_->Publish(std::string(topic), mqtt::SharedBytes(payload), options, done);
    if (!st.ok()) {
      p_.publish_drops_.Increment();
      if (batch) batch->Release(false);
    }
  }
  void Alert(std::string_view payload) override {
    if (p_.webhook_) p_.webhook_->Enqueue(std::string(payload));
  }

 private:
  Predictor& p_;
};

Predictor::Predictor(const PredictorConfig& config, const mqtt::MqttClientConfig& mqtt,
                     asio::io_context& io, ModelHolder& models, ModelLoader loader,
                     prometheus::Registry& metrics, const Clock& clock,
                     mqtt::TransportFactory transport, DriftWatchFactory drift)
    : config_(config),
      io_(io),
      models_(models),
      loader_(std::move(loader)),
      registry_(metrics),
      flush_timer_(io),
      swaps_(prometheus::BuildCounter()
                 .Name("aiot_predictor_model_swaps_total")
                 .Help("Models swapped in while running")
                 .Register(metrics)
                 .Add({})),
      load_failures_(prometheus::BuildCounter()
                         .Name("aiot_predictor_model_load_failures_total")
                         .Help("Model loads that failed (the old model stays)")
                         .Register(metrics)
                         .Add({})),
      wrong_task_(prometheus::BuildCounter()
                      .Name("aiot_predictor_model_wrong_task_total")
                      .Help("Models refused because their task does not fit the slot they were "
                            "sent to (a classifier as the time-to-failure model, or the reverse)")
                      .Register(metrics)
                      .Add({})),
      publish_drops_(prometheus::BuildCounter()
                         .Name("aiot_predictor_publish_dropped_total")
                         .Help("Results the MQTT client refused (its queue was full)")
                         .Register(metrics)
                         .Add({})) {
  // The configuration was checked when it was loaded (Validate in predictor_config.h).
  mqtt::MqttClientConfig mc = mqtt;
  if (mc.client_id.empty()) mc.client_id = "aiot-predictor";
  client_ = mqtt::Client::Create(io, mc, std::move(transport));
  sink_ = std::make_unique<Sink>(*this);
  if (!config_.webhook.url.empty()) {
    webhook_ = std::make_unique<AlertWebhook>(config_.webhook, io, metrics);
  }
  detector_ =
      std::make_unique<AnomalyDetector>(config_, models_, metrics, clock, *sink_, std::move(drift));
  detector_->SetTimeToFailureModels(&ttf_models_);
  // flush_timer_ must run on the client's strand, like every other detector access.
  flush_timer_ = asio::steady_timer(client_->executor());
}

Predictor::~Predictor() {
  if (results_poller_.joinable()) {  // never stopped
    stop_poller_ = true;
    results_poller_.join();
  }
}

Status Predictor::Start() {
  if (!models_.Get() && !config_.model.empty()) {
    Status st = LoadModel(ModelSource{config_.model, config_.model_name, "", ModelSlot::kFault});
    if (!st.ok()) return st;
  }
  if (!config_.ttf_model.empty()) {
    Status st = LoadModel(ModelSource{config_.ttf_model, "", "", ModelSlot::kTimeToFailure});
    if (!st.ok()) {
      return Status(st.error(), "predictor.ttf_model " + config_.ttf_model + ": " + st.message());
    }
  }
  if (!models_.Get()) {
    Log()->warn(
        "no model loaded yet: telemetry is dead-lettered until one is (publish on {} or "
        "POST /api/v1/predictor/model)",
        config_.model_events_topic);
  }
  const auto qos = static_cast<mqtt::QoS>(config_.qos);
  if (config_.source == kafka::TelemetrySource::kMqtt) {
    for (const auto& topic : config_.topics) {
      client_->Subscribe(topic, qos, [this](const mqtt::Message& m) { OnTelemetry(m); });
    }
  }
  if (!config_.model_events_topic.empty()) {
    client_->Subscribe(config_.model_events_topic, mqtt::QoS::kAtLeastOnce,
                       [this](const mqtt::Message& m) { OnModelEvent(m); });
  }
  client_->SetConnectionHandler([](const mqtt::ConnectionEvent& e) {
    if (e.state == mqtt::ConnectionState::kConnected) {
      Log()->info("connected to the broker");
    } else if (e.error) {
      Log()->warn("broker connection {}: {}", mqtt::ConnectionStateName(e.state),
                  e.error.message());
    }
  });
  client_->Start();
  if (webhook_) webhook_->Start();
  if (Status s = StartKafka(registry_); !s.ok()) return s;
  ModelPtr m = models_.Get();
  if (source_) {
    Log()->info("predictor started: Kafka topics [{}] (group {}), model {}",
                fmt::join(config_.kafka.topics, ", "),
                config_.kafka.group.empty() ? "aiot-predictor" : config_.kafka.group,
                m ? m->name() : "(none)");
  } else {
    Log()->info("predictor started: topics [{}], model {}", fmt::join(config_.topics, ", "),
                m ? m->name() : "(none)");
  }
  return Status::Ok();
}

// results_to kafka/both: a producer (and its delivery-report thread); source kafka: the consumer
// group member, whose records are scored on the strand.
Status Predictor::StartKafka(prometheus::Registry& metrics) {
  if (config_.results_to != ResultsTo::kMqtt) {
    kafka::Properties props = config_.kafka.kafka;
    props["bootstrap.servers"] = config_.kafka.bootstrap_servers;
    for (const char* consumer_only : {"session.timeout.ms", "heartbeat.interval.ms",
                                      "auto.offset.reset", "max.poll.interval.ms"}) {
      props.erase(consumer_only);
    }
    auto producer = kafka::Producer::Create(props, [](const kafka::DeliveryReport& r) {
      auto* batch = static_cast<std::shared_ptr<KafkaBatch>*>(r.opaque);
      if (batch == nullptr) return;
      (*batch)->Release(r.err == RD_KAFKA_RESP_ERR_NO_ERROR);
      delete batch;
    });
    if (!producer.ok())
      return Status(producer.error(), "predictor.kafka: " + producer.status().message());
    results_producer_ = std::move(*producer);
    results_poller_ = std::thread([this] {
      while (!stop_poller_) results_producer_->Poll(100);
    });
  }
  if (config_.source != kafka::TelemetrySource::kKafka) return Status::Ok();
  auto source = kafka::KafkaSource::Create(config_.kafka, "predictor", metrics);
  if (!source.ok()) return Status(source.error(), "predictor.kafka: " + source.status().message());
  source_ = std::move(*source);
  return source_->Start([this, live = live_](kafka::InRecord&& r) {
    auto rec = std::make_shared<kafka::InRecord>(std::move(r));
    asio::post(client_->executor(), [this, live, rec] {
      if (*live) OnKafkaRecord(std::move(*rec));
    });
  });
}

void Predictor::ProduceResult(std::string_view payload, const std::shared_ptr<KafkaBatch>& batch) {
  const auto doc = nlohmann::json::parse(payload, nullptr, false);
  const std::string key = json::StringOr(doc, "deviceID", "");
  auto* opaque = batch ? new std::shared_ptr<KafkaBatch>(batch) : nullptr;
  if (batch) batch->Hold();
  kafka::OutRecord out;
  out.topic = config_.kafka_anomaly_topic;
  if (!key.empty()) out.key = key;
  out.value = payload;
  out.opaque = opaque;
  if (Status s = results_producer_->Produce(out); !s.ok()) {
    publish_drops_.Increment();
    if (batch) batch->Release(false);
    delete opaque;
  }
}

void Predictor::OnKafkaRecord(kafka::InRecord&& r) {
  received_.fetch_add(1, std::memory_order_relaxed);
  if (!batch_) {
    batch_ = std::make_shared<KafkaBatch>();
    batch_->source = source_.get();
  }
  batch_->positions.push_back({r.topic, r.partition, r.offset});
  // The bridge keeps the MQTT topic in a header: device ids in topic levels still work.
  const std::string* mqtt_topic = r.header("mqtt.topic");
  detector_->Ingest(mqtt_topic != nullptr ? *mqtt_topic : r.topic, r.value);
  ScheduleFlush();  // also when nothing is pending (dead-lettered at once): the batch ends
}

void Predictor::Flush() {
  detector_->Flush();
  if (auto batch = std::move(batch_)) {
    batch_.reset();
    batch->Release(true);
  }
}

void Predictor::Stop() {
  std::promise<void> done;
  asio::post(client_->executor(), [this, &done] {
    Flush();
    client_->Stop([this, &done] {
      // On the strand, with the client stopped: no more telemetry. A flush still queued or a
      // timer that fired meanwhile sees !*live_ and leaves the predictor alone.
      *live_ = false;
      flush_timer_.cancel();
      done.set_value();
    });
  });
  done.get_future().wait();
  if (webhook_) webhook_->Stop();
  if (source_) source_->Stop();  // commits what is done, leaves the group
  if (results_producer_) {
    (void)results_producer_->Flush(5000);
    stop_poller_ = true;
    results_poller_.join();
  }
}

void Predictor::OnTelemetry(const mqtt::Message& m) {
  received_.fetch_add(1, std::memory_order_relaxed);
  detector_->Ingest(m.topic, m.payload.view());
  if (detector_->pending() > 0) ScheduleFlush();
}

void Predictor::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  if (config_.max_batch_delay_us == 0) {
    // Runs after the messages already delivered to the strand: batches grow with load.
    asio::post(client_->executor(), [this, live = live_] {
      if (!*live) return;
      flush_scheduled_ = false;
      Flush();
    });
  } else {
    flush_timer_.expires_after(std::chrono::microseconds(config_.max_batch_delay_us));
    flush_timer_.async_wait([this, live = live_](boost::system::error_code ec) {
      if (!*live) return;
      flush_scheduled_ = false;
      if (!ec) Flush();
    });
  }
}

void Predictor::OnModelEvent(const mqtt::Message& m) {
  auto j = nlohmann::json::parse(m.payload.view(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    Log()->warn("ignoring model event on {}: not a JSON object", m.topic);
    return;
  }
  // Fields of the wrong type count as absent: anyone may publish here, and nlohmann's value()
  // would throw on them.
  auto str = [&j](const char* key, const char* fallback) {
    return json::StringOr(j, key, fallback);
  };
  const std::string event = str("event", "");
  if (event != "promoted" && event != "load") return;  // other events are for other services
  const std::string target = str("target", "predictor");
  if (target != "predictor" && target != "all") return;
  if (event == "promoted" && on_promotion_) {
    on_promotion_();
    return;
  }
  ModelSource source;
  source.path = str("path", "");
  source.sha256 = str("sha256", "");
  source.name = str("model", "");
  if (source.name.empty()) {
    source.name = str("name", "");
    if (!source.name.empty() && j.contains("version") && j["version"].is_number_integer()) {
      source.name += "@" + std::to_string(j["version"].get<int64_t>());
    } else if (!source.name.empty() && j.contains("version") && j["version"].is_string()) {
      source.name += "@" + j["version"].get<std::string>();
    }
  }
  if (source.path.empty()) {
    Log()->warn("model event `{}` without a `path`: ignored", event);
    return;
  }
  // A model named like one of the served models goes into that one's slot only.
  const std::string registry_name = source.name.substr(0, source.name.find('@'));
  if (!registry_name.empty() && registry_name == ttf_name_) {
    source.slot = ModelSlot::kTimeToFailure;
  } else if (!registry_name.empty() && registry_name == fault_name_) {
    source.slot = ModelSlot::kFault;
  }
  Status st = LoadModel(source);
  if (!st.ok()) Log()->error("model event `{}`: {}", event, st.message());
}

Status Predictor::LoadModel(const ModelSource& source) {
  std::lock_guard lock(load_mu_);
  Result<ModelPtr> loaded = loader_ ? loader_(source) : Result<ModelPtr>(aiot::errc::unsupported);
  if (!loaded.ok()) {
    load_failures_.Increment();
    Log()->error("cannot load model {}: {}", source.path, loaded.status().ToString());
    return loaded.status();
  }
  ModelPtr model = std::move(loaded).value();
  const std::string name = model->name();
  const bool ttf = model->time_to_failure();
  if ((source.slot == ModelSlot::kFault && ttf) ||
      (source.slot == ModelSlot::kTimeToFailure && !ttf)) {
    load_failures_.Increment();
    wrong_task_.Increment();
    const std::string why =
        "model " + name + " (" + source.path + ") is " +
        (ttf ? "a time-to-failure model (metadata task time_to_failure)"
             : "not a time-to-failure model (its metadata task is not time_to_failure)") +
        ": refused as the " + ModelSlotName(source.slot) + " model; the serving models stay";
    Log()->error("{}", why);
    return Status(errc::invalid_argument, why);
  }
  if (ttf) {
    ModelPtr previous = ttf_models_.Swap(std::move(model));
    Log()->info("time-to-failure model {} in service beside the fault model (was {})", name,
                previous ? previous->name() : "none");
    return Status::Ok();
  }
  ModelPtr previous = models_.Swap(std::move(model));
  if (previous) swaps_.Increment();
  Log()->info("model {} in service (was {})", name, previous ? previous->name() : "none");
  return Status::Ok();
}

void Predictor::RegisterRoutes(net::Router& router, const std::string& admin_role) {
  net::RouteOptions options;
  options.auth = true;
  options.role = admin_role;
  router.Post("/api/v1/predictor/model", net::SyncHandler([this](net::Request& req) {
                auto body = req.Json();
                // Network JSON: a field of the wrong type is a 400, never an exception (500).
                if (!body.ok() || !json::String(*body, "path") ||
                    (json::Has(*body, "name") && !json::String(*body, "name")) ||
                    (json::Has(*body, "sha256") && !json::String(*body, "sha256")) ||
                    (json::Has(*body, "slot") && !json::String(*body, "slot"))) {
                  return net::ErrorResponse(net::http::status::bad_request, "invalid_argument",
                                            "expected {\"path\":\"/models/x.tflite\",\"name\":"
                                            "\"fan-mlp@4\",\"sha256\":\"...\",\"slot\":"
                                            "\"fault\"} (name, sha256 and slot optional)");
                }
                ModelSource source;
                source.path = json::StringOr(*body, "path", "");
                source.name = json::StringOr(*body, "name", "");
                source.sha256 = json::StringOr(*body, "sha256", "");
                const std::string slot = json::StringOr(*body, "slot", "");
                if (slot == "fault") {
                  source.slot = ModelSlot::kFault;
                } else if (slot == "time_to_failure") {
                  source.slot = ModelSlot::kTimeToFailure;
                } else if (!slot.empty()) {
                  return net::ErrorResponse(net::http::status::bad_request, "invalid_argument",
                                            "`slot` must be fault or time_to_failure");
                }
                const ModelPtr before = models_.Get();
                const ModelPtr ttf_before = ttf_models_.Get();
                Status st = LoadModel(source);
                if (!st.ok()) {
                  return net::ErrorResponse(net::http::status::unprocessable_entity,
                                            "invalid_argument",
                                            "cannot load " + source.path + ": " + st.message());
                }
                // Which slot it went to: the one whose model changed.
                const bool ttf = ttf_models_.Get() != ttf_before;
                const ModelPtr now = ttf ? ttf_models_.Get() : models_.Get();
                const ModelPtr was = ttf ? ttf_before : before;
                return net::JsonResponse(nlohmann::json{
                    {"model", now ? nlohmann::json(now->name()) : nlohmann::json()},
                    {"previous", was ? nlohmann::json(was->name()) : nlohmann::json()},
                    {"slot", ttf ? "time_to_failure" : "fault"}});
              }),
              options);
}

}  // namespace aiot::services
