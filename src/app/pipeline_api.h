#pragma once

// The embedded pipeline runner's interfaces in `aiot up` (src/pipeline/README.md, "The embedded
// runner"): its HTTP API and the MQTT topics that start runs (the control topic, drift events).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "app/app_config.h"
#include "base/metrics.h"
#include "mqtt/client/client.h"
#include "net/router.h"
#include "pipeline/pipeline_service.h"
#include "telemetry/rejections.h"

namespace aiot::app {

// GET  /api/v1/pipelines                      the pipelines (DAG steps) and the runner's state
// POST /api/v1/pipelines/{name}/runs          admin: queue a run; body optional
//                                             {"model":..,"params":{..}}; 201 {"id",..}
// GET  /api/v1/pipelines/{name}/runs          admin or operator: ?model=&status=&limit=
// GET  /api/v1/pipelines/runs/{id}            admin or operator: the run, steps, decision, timings,
//                                             `reports` (the steps' JSON reports: drift,
//                                             evaluate..)
// `name` is `continuous-learning` or `extract-data`. Bodies over 64 KiB are refused (413).
void RegisterPipelineRoutes(net::Router& router, pipeline::PipelineService& service);

// The token `aiot up`'s own clients (pipeline steps, the simulated fleet's provisioning) use:
// `admin_token` (generated), else the token of a principal with the admin role; "" for none.
std::string StepToken(const AppConfig& config, const std::string& admin_token);
// http.listen's host as a client reaches it: loopback for "any address".
std::string ClientHost(const std::string& listen);

// The embedded runner's options in `aiot up`: the effective configuration written to
// `<data_dir>/pipeline-config.yaml` (mode 0600: it holds the tokens) for the steps' `--config`,
// their AIOT_URL (this process's API on `port()`, loopback when listening on any address) and
// AIOT_TOKEN (`admin_token`, else the token of a principal with the admin role in http.auth_roles),
// and the training datastore's count of labelled rows since a time for the rows trigger.
Result<pipeline::ServiceOptions> EmbeddedRunnerOptions(
    const AppConfig& config, std::function<uint16_t()> port, const std::string& admin_token,
    std::function<Result<int64_t>(int64_t since_ns)> count_rows);

// Subscribes `client` to the control topic (train-model / extract-data: the same Submit as the
// HTTP API) and to the drift events topic (`drift: true` events feed the drift trigger).
// Malformed control messages are published to the dead-letter topic with the reason
// ({"topic","reason","payload","truncated"}, as the predictor's) and counted in
// aiot_messages_rejected_total{component="pipeline-control",reason}; accepted ones in
// aiot_pipeline_control_total{command}. Call Start() before the client starts.
class PipelineTopics {
 public:
  PipelineTopics(pipeline::PipelineService& service, std::shared_ptr<mqtt::Client> client,
                 std::string drift_topic, metrics::Registry& registry);
  void Start();
  // Handles one control message (also for tests without a broker).
  void OnControl(std::string_view payload);
  void OnDriftEvent(std::string_view payload);
  uint64_t dead_letters() const { return dead_letters_.load(); }

 private:
  void DeadLetter(std::string_view payload, std::string_view label, std::string_view reason);

  pipeline::PipelineService& service_;
  std::shared_ptr<mqtt::Client> client_;
  std::string drift_topic_;
  telemetry::Rejections rejections_;
  prometheus::Family<prometheus::Counter>& accepted_;
  std::atomic<uint64_t> dead_letters_{0};
};

}  // namespace aiot::app
