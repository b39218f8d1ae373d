#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot::pipeline {

// Exit codes of every step command (`aiot pipeline step <name> ...`).
inline constexpr int kStepOk = 0;      // done: the run goes on
inline constexpr int kStepFailed = 1;  // failed (reason on stderr): retried, then the run fails
inline constexpr int kStepUsage = 2;   // bad arguments: not retried, the run fails
inline constexpr int kStepStop = 3;    // branch steps only: a decision to end the run here,
                                       // successfully (no drift; challenger not promoted)
// What one exit code means for the run, for a given step.
enum class StepOutcome { kContinue, kStop, kRetryableError, kFatalError };

// A branch condition: the step's exit code decides whether the rest of the DAG runs.
struct Branch {
  int stop_exit_code = kStepStop;  // this code ends the run successfully with `decision`
  std::string decision;            // "no_drift", "not_promoted", ...
};

struct Step {
  std::string name;                  // [a-z][a-z0-9-]*, at most 63 (an Argo template name)
  std::vector<std::string> depends;  // steps that must finish first
  // Parameters this step takes: name -> default. Callers override them per run.
  std::map<std::string, std::string> params;
  // The command the step runs, one element per argument; `{x}` is replaced by parameter x of this
  // step or by a built-in (kBuiltins): ["aiot","pipeline","step","train","--seed","{seed}"].
  std::vector<std::string> argv;
  std::chrono::seconds timeout{600};       // per attempt
  int retries = 0;                         // attempts after the first, on kStepFailed/timeout
  std::chrono::seconds retry_backoff{10};  // before the first retry; doubles on each next one
  std::optional<Branch> branch;            // set on steps whose exit code is a condition
  std::vector<std::string> inputs;         // files in the run directory it reads
  std::vector<std::string> outputs;        // files in the run directory it writes
};

// Values every step may use in its argv without declaring them.
inline constexpr std::string_view kBuiltins[] = {"run_id", "run_dir", "model", "code_version"};

// The pipeline as data: the one definition the embedded runner executes and the Argo Workflows
// export renders. Steps are kept in declaration order; dependencies make it a DAG.
struct Dag {
  std::string name;
  std::vector<Step> steps;

  // Ok, or errc::invalid_argument naming the step and the rule: empty or invalid names, duplicate
  // names, unknown or self dependencies, cycles, placeholders that name no parameter, a timeout
  // that is not positive, retries outside 0..10, a branch on 0/1/2, an input no ancestor writes.
  Status Validate() const;

  const Step* Find(std::string_view step) const;
  // Steps in an order that respects dependencies (ties: declaration order). Needs a valid DAG;
  // on a cycle: errc::invalid_argument naming the steps left.
  Result<std::vector<const Step*>> TopologicalOrder() const;
  // The argv of `step` with placeholders replaced: `values` first (built-ins and overrides), then
  // the step's defaults. An unknown placeholder is errc::invalid_argument.
  Result<std::vector<std::string>> RenderArgv(
      const Step& step, const std::map<std::string, std::string>& values) const;
};

// What `code` from `step` means: kStepOk continues; the branch's stop code stops; kStepUsage is
// fatal; anything else (kStepFailed, a crash, a timeout's kill) is retryable.
StepOutcome OutcomeOf(const Step& step, int code);

// The continuous-learning pipeline: extract → validate → drift → train → evaluate → quantize →
// register → rollout, with its parameters, commands, timeouts and retries (see README.md).
Dag TrainingPipeline();

}  // namespace aiot::pipeline
