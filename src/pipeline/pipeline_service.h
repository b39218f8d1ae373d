#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "pipeline/control_message.h"
#include "pipeline/dag.h"
#include "pipeline/pipeline_config.h"
#include "pipeline/run_store.h"
#include "pipeline/run_support.h"
#include "pipeline/runner.h"
#include "pipeline/triggers.h"

namespace aiot::pipeline {

// What the composition root (`aiot up`) hands the embedded runner.
struct ServiceOptions {
  // Holds pipelines.db (+ its runner lock) and pipeline-runs/<id>/; made absolute.
  std::string data_dir = "var/aiot";
  // The model the pipeline retrains (PipelineConfig::model resolved against model_name).
  std::string model = "fan-mlp";
  // Inserted after the executable in every step's command (`--config <file>`), so that steps read
  // the configuration `aiot up` runs with.
  std::vector<std::string> global_args;
  // The steps' extra environment ("AIOT_URL=...", "AIOT_TOKEN=..."); nullopt while the platform
  // API is not listening yet (queued runs wait). Empty function = no extra environment.
  std::function<std::optional<std::vector<std::string>>()> child_env;
  // Labelled rows in the training datastore with a time at or after `since_ns` (unix nanos), for
  // `triggers.min_new_rows`; empty = that trigger is off.
  std::function<Result<int64_t>(int64_t since_ns)> count_rows;
  // Of those, the rows labelled positive now, for `triggers.drift.min_new_positives`; empty =
  // a drift run does not wait for positives.
  std::function<Result<int64_t>(int64_t since_ns)> count_positives;
  // Start the thread that executes runs and polls the clock-driven triggers. Tests turn it off
  // and call PollTriggers() / RunNext() themselves.
  bool worker = true;
};

// The embedded pipeline runner of `aiot up` (src/pipeline/README.md, "The embedded runner"):
// owns the RunStore (`<data_dir>/pipelines.db`), recovers the runs a killed process left, and
// executes queued runs one at a time (one worker thread, so also one at a time per model) with
// the Runner and SubprocessStep children (`<executable> pipeline step <name> ...`). Runs come from
// Submit (HTTP API, control topic), the drift events (OnDrift) and the clock-driven triggers
// (schedule, new labelled rows) of a TriggerPolicy; `aiot pipeline trigger` queues them from
// another process. Thread-safe.
class PipelineService {
 public:
  PipelineService(PipelineConfig config, ServiceOptions options,
                  const Clock& clock = SystemClock::Instance());
  ~PipelineService();
  PipelineService(const PipelineService&) = delete;
  PipelineService& operator=(const PipelineService&) = delete;

  // Opens the store (the read API works from here, also when the runner is disabled).
  Status Open();
  // When enabled: the trigger policy (seeded from the stored runs), the runner lock, recovery
  // (each resumed or failed run is logged) and the worker. When another process holds the lock
  // (`aiot pipeline run` executing), recovery and execution wait until it is free.
  Status Start();
  // Stops the worker; a running step is interrupted (SIGTERM to its process group, SIGKILL after
  // `kill_grace_ms`) and its run is left for recovery at the next start. Idempotent.
  void Stop();

  // Queues a run of the pipeline (`extract` = the extract-data pipeline) started by `trigger`.
  // errc::unavailable when the runner is disabled; errc::invalid_argument for another model or a
  // parameter no step declares; errc::already_exists when the model has an active run.
  Result<int64_t> Submit(const RunRequest& request, std::string_view trigger, bool extract = false);

  // A drift event of the online monitor for `model` at `at`: starts a run unless the drift
  // trigger is off, the model is not the pipeline's, or the cooldown holds; with
  // `triggers.drift.delay_s` the run is queued by PollTriggers once the delay passed. Any thread.
  void OnDrift(const std::string& model, TriggerPolicy::TimePoint at);

  // One pass of the clock-driven triggers: a due schedule, new labelled rows (at most every
  // `rows_check_s`: the rows with a time at or after the model's last run's creation, which the
  // RunStore keeps, so a restart does not count them again; with no run yet, since Start). The
  // worker calls it every second.
  void PollTriggers();
  // Executes the oldest active run, if there is one and the API is up; false otherwise.
  bool RunNext();

  RunStore& store() { return store_; }
  const Dag& dag() const { return dag_; }
  const Dag& extract_dag() const { return extract_dag_; }
  const PipelineConfig& config() const { return config_; }
  const std::string& model() const { return options_.model; }
  const std::string& runs_dir() const { return runs_dir_; }
  bool enabled() const { return config_.enabled; }
  // When the schedule fires next for the model (nullopt: no schedule, or not started).
  std::optional<TriggerPolicy::TimePoint> NextScheduled() const;

 private:
  void Loop();
  void PollRows();
  bool DriftRunDue(int64_t* event_ns);
  void SubmitDriftRun(int64_t event_ns);
  bool Ready();  // the lock is held and recovery done
  void Recover();
  void SeedPolicy();
  Result<int64_t> Create(const RunRequest& request, std::string_view trigger, bool extract);
  std::optional<RunRecord> NextRun();
  void Execute(const RunRecord& run);
  void Sleep(std::chrono::nanoseconds d);
  TriggerPolicy::TimePoint Now() const;

  const PipelineConfig config_;
  const ServiceOptions options_;
  const Clock& clock_;
  const Dag dag_;
  const Dag extract_dag_;
  std::string db_path_, runs_dir_;
  RunStore store_;
  std::unique_ptr<TriggerPolicy> policy_;
  std::unique_ptr<RunnerLock> lock_;
  bool recovered_ = false;  // worker (or RunNext's caller) only

  std::mutex submit_mu_;  // CreateRun + SaveRunParams, and NextRun: a run is picked complete
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                 // guarded by mu_
  bool wake_ = false;                 // guarded by mu_
  Runner* current_ = nullptr;         // guarded by mu_
  int64_t current_run_ = 0;           // guarded by mu_
  int64_t drift_due_ns_ = 0;          // guarded by mu_; a delayed drift run starts then; 0 = none
  int64_t drift_event_ns_ = 0;        // guarded by mu_; the pending drift run's event time
  int64_t drift_check_mono_ = 0;      // guarded by mu_; when its positives were last counted
  int64_t drift_positives_ = -1;      // guarded by mu_; their last count (logged when it grows)
  int64_t started_ns_ = 0;            // Start's time: the rows trigger's origin before any run
  bool rows_checked_ = false;         // guarded by mu_
  int64_t last_rows_check_mono_ = 0;  // guarded by mu_
  std::thread worker_;
};

}  // namespace aiot::pipeline
