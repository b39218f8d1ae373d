#pragma once

// The Argo Workflows / Argo Events rendering of a pipeline `Dag` (README.md, "Argo export").
#include <string>
#include <vector>

#include "base/result.h"
#include "pipeline/dag.h"

namespace aiot::pipeline {

struct ArgoOptions {
  std::string image = "aiot:latest";  // the image every step's container runs
  std::string name;                   // base of the objects' names; empty: the Dag's name
  std::string namespace_name;         // metadata.namespace; empty: none (kubectl's -n decides)
  std::string schedule = "@daily";    // the CronWorkflow's cron (pipeline::CronSchedule syntax)
  std::string model;                  // default of the workflow parameter `model`
  // Drift events: a Kafka topic when `kafka_brokers` is set ("host:9092,host2:9092"), else a
  // webhook (POST `webhook_endpoint` on `webhook_port` of the EventSource's service).
  std::string kafka_brokers;
  std::string kafka_topic = "aiot-drift";
  int webhook_port = 12000;
  std::string webhook_endpoint = "/drift";
  // pipeline.triggers.drift.since_event: the Sensor also passes the drift event's time as the
  // workflow parameter `since` (unix seconds; extract's window starts there), as the embedded
  // runner does. The time is the event body's `window.to` (when the predictor found the drift,
  // RFC 3339); "0" (no start) when the body has none. The Dag must take a `since` parameter.
  bool drift_since_event = false;
  // Where step artifacts go: empty: the namespace's default artifact repository; else
  // `artifactRepositoryRef` to key `artifact_repository_key` of this ConfigMap.
  std::string artifact_repository_configmap;
  std::string artifact_repository_key;
};

// One Kubernetes object: its kind ("WorkflowTemplate"), metadata.name and YAML text.
struct ArgoObject {
  std::string kind;
  std::string name;
  std::string yaml;
  // "workflowtemplate.yaml": the kind in lower case.
  std::string FileName() const;
};

// The directory every step's files live in inside its container (`{run_dir}`); artifacts are
// loaded into it and collected from it.
inline constexpr const char* kArgoRunDir = "/work/run";
// The output parameter a branch step's container writes its real exit code to.
inline constexpr const char* kArgoExitCodeParam = "exit-code";

// WorkflowTemplate, CronWorkflow, EventSource and Sensor for `dag`. errc::invalid_argument when
// the Dag is invalid, an option is (a name that is not a DNS label, a bad cron, a bad image), or
// the Dag cannot be rendered (one parameter with two defaults, artifact names that collide).
Result<std::vector<ArgoObject>> ExportArgo(const Dag& dag, const ArgoOptions& options);

// The name of the Argo artifact that carries run-directory file `file` ("data.csv" -> "data-csv").
std::string ArgoArtifactName(const std::string& file);

}  // namespace aiot::pipeline
