#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "pipeline/dag.h"
#include "pipeline/run_store.h"

namespace aiot::pipeline {

// What a step function is given for one attempt.
struct StepContext {
  int64_t run_id = 0;
  std::string step;
  int attempt = 0;
  std::vector<std::string> argv;              // the step's command, rendered
  std::map<std::string, std::string> values;  // built-ins and the run's parameter overrides
  int64_t deadline_mono_ns = 0;               // on the runner's clock (MonotonicNanos)
  const std::atomic<bool>* cancel = nullptr;  // set on timeout or Cancel(): return soon

  bool cancelled() const { return cancel != nullptr && cancel->load(); }
};

// What one attempt produced: its exit code (dag.h: kStepOk, kStepFailed, kStepUsage, kStepStop),
// its output (the store keeps the tail) and its artifacts (a JSON object).
struct StepOutput {
  int exit_code = kStepOk;
  std::string log;
  std::string artifacts = "{}";
};

using StepFunction = std::function<StepOutput(const StepContext&)>;
// Waits `d` (backoff before a retry). Tests pass one that advances a ManualClock.
using Sleeper = std::function<void(std::chrono::nanoseconds d)>;

struct RunnerOptions {
  std::string runs_dir = "var/aiot/pipeline-runs";  // {run_dir} = <runs_dir>/<run id>
  // How often the runner looks at its clock while a step runs (for a clock that tests move).
  std::chrono::milliseconds poll{20};
};

// Executes a run of a Dag in dependency order, one step at a time, each step a function (the
// embedded runner binds them to the `aiot pipeline step` implementations; tests inject fakes),
// and records every attempt into a RunStore.
//  - Timeout per attempt: past `timeout` on the clock the attempt's `cancel` flag is set and the
//    attempt counts as failed ("timed out after N s") once the function returns. Functions must
//    honour `cancel` (a subprocess step kills its child); the runner waits for them.
//  - Retries: a failed attempt (kStepFailed, any other unknown code, a timeout, an exception) is
//    retried while attempt ≤ `retries`, after `retry_backoff` × 2^(attempt-1) on the Sleeper.
//    kStepUsage fails the run at once.
//  - A branch step's stop code ends the run `succeeded` with the branch's decision.
//  - The end of the DAG ends the run `succeeded` with the decision "completed".
//  - Resuming: steps with a succeeded attempt are skipped, so a run RecoverAfterRestart returned
//    `resumed` continues from its last finished step; attempt numbers continue too.
class Runner {
 public:
  Runner(Dag dag, RunStore& store, const Clock& clock, Sleeper sleep, RunnerOptions options = {});

  void SetStep(const std::string& name, StepFunction fn);

  // Runs (or resumes) `run_id` to its end and returns the finished run. `params` override the
  // steps' parameter defaults. Blocking; one run at a time per Runner.
  Result<RunRecord> Execute(int64_t run_id, const std::map<std::string, std::string>& params = {});

  // Cancels the run being executed (if it is `run_id`): the current attempt is asked to stop and
  // the run ends `cancelled`. Callable from any thread.
  void Cancel(int64_t run_id);

  // Shutdown: like Cancel, but the run is left as a killed process leaves it (the running
  // attempt stays `running` in the store, the run active), so that RecoverAfterRestart at the
  // next start resumes or fails it with the reason. Execute returns errc::cancelled. For good:
  // also when called before Execute started, and every later Execute stops at once.
  void Interrupt(int64_t run_id);

 private:
  enum class End { kNext, kStop, kFail, kCancel, kInterrupt };
  struct StepEnd {
    StepEnd(End e = End::kNext, std::string r = {}, std::string d = {})
        : end(e), reason(std::move(r)), decision(std::move(d)) {}
    End end = End::kNext;
    std::string reason;
    std::string decision;  // kStop: the branch's decision
  };
  StepEnd RunStep(const RunRecord& run, const Step& step,
                  const std::map<std::string, std::string>& values);
  StepOutput Attempt(const StepFunction& fn, StepContext ctx, const Step& step);

  Dag dag_;
  RunStore& store_;
  const Clock& clock_;
  Sleeper sleep_;
  RunnerOptions options_;
  std::map<std::string, StepFunction> functions_;
  std::atomic<int64_t> current_run_{0};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> interrupt_{false};
};

}  // namespace aiot::pipeline
