#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/config.h"
#include "pipeline/dag.h"
#include "pipeline/triggers.h"

namespace aiot::pipeline {

// The embedded runner of `aiot up` (section `pipeline`): src/pipeline/README.md, "The embedded
// runner".
struct PipelineConfig {
  // Run the continuous-learning pipeline inside `aiot up`: triggers, queued runs, the HTTP API's
  // POST and the control topic. Off: the GET routes still show runs made by the CLI.
  bool enabled = false;
  // The model the pipeline retrains; empty = the top-level `model_name`.
  std::string model;
  TriggerConfig triggers;
  // Parameter overrides for every run (name -> value; a parameter some step declares). A run's
  // own overrides (HTTP body, control message, CLI --param) win.
  std::map<std::string, std::string> params;
  // Per-step timeout overrides in seconds (step -> seconds, 1..7 days).
  std::map<std::string, std::string> timeouts_s;
  // The program the steps run (`<exe> pipeline step <name> ...`); empty = this executable.
  std::string executable;
  // Topic of the control commands (`train-model`, `extract-data`); empty = not subscribed.
  std::string control_topic = "control-message";
  // Where malformed control messages go, with the reason.
  std::string deadletter_topic = "aiot/deadletter";
  // Control messages larger than this are dead-lettered unparsed.
  uint32_t max_control_bytes = 64 * 1024;
  // How often (seconds) the training datastore's row count is compared with the last run's, for
  // `triggers.min_new_rows`.
  uint32_t rows_check_s = 60;
  // On shutdown or cancel a running step gets SIGTERM, then SIGKILL after this many milliseconds.
  uint32_t kill_grace_ms = 2000;
};

void Describe(config::Visitor& v, PipelineConfig& c);
// `params` name parameters of the pipeline's steps, `timeouts_s` its steps with whole seconds in
// range, the topics are valid MQTT topic names.
void Validate(config::Checks& checks, const PipelineConfig& c);

// `dag` with `timeouts_s` applied (Validate has checked them; bad entries are ignored).
Dag WithTimeouts(Dag dag, const std::map<std::string, std::string>& timeouts_s);

// The `extract-data` pipeline: the training pipeline's `extract` step alone (a control command
// runs it into a run directory).
Dag ExtractPipeline();

}  // namespace aiot::pipeline
