#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "pipeline/dag.h"

namespace aiot::pipeline {

// queued (created) → running (a step started) → succeeded | failed | cancelled.
enum class RunStatus { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
// running → succeeded | failed | stopped (a branch's decision) | interrupted (its process died,
// or the run was finished while it ran).
enum class StepStatus { kRunning, kSucceeded, kFailed, kStopped, kInterrupted };

const char* RunStatusName(RunStatus s);  // "queued", "running", ...
const char* StepStatusName(StepStatus s);
bool IsActive(RunStatus s);  // queued or running

// The last bytes of a step's output kept in the store.
inline constexpr size_t kMaxLogTail = 8192;

struct NewRun {
  std::string pipeline;      // the Dag's name
  std::string model;         // one active run per model
  std::string trigger;       // "drift", "schedule", "rows", "api", "cli", "control", ...
  std::string code_version;  // of the code running the pipeline (base/version.h)
};

struct StepRecord {
  int64_t run_id = 0;
  std::string step;
  int attempt = 0;  // 1, 2, ... per step of a run
  StepStatus status = StepStatus::kRunning;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;  // 0 while running
  std::optional<int> exit_code;
  std::string log_tail;
  std::string artifacts = "{}";  // JSON object: name -> path or value
};

struct RunRecord {
  int64_t id = 0;
  std::string pipeline, model, trigger;
  RunStatus status = RunStatus::kQueued;
  int64_t created_ns = 0, started_ns = 0, finished_ns = 0;  // 0 = not yet
  std::string decision;  // "promoted", "no_drift", "not_promoted", ...
  std::string reason;    // why: the failure, or the decision's explanation
  std::string code_version;
  std::vector<StepRecord> steps;  // by start time (Get only; List leaves it empty)
};

struct StepResult {
  StepStatus status = StepStatus::kSucceeded;  // succeeded, failed or stopped
  std::optional<int> exit_code;
  std::string log;               // the step's output; the store keeps the last kMaxLogTail bytes
  std::string artifacts = "{}";  // must be a JSON object
};

struct RunFilter {
  std::string model;                // empty: all
  std::optional<RunStatus> status;  // none: all
  int limit = 100;
  std::string pipeline;  // empty: all
};

// What RecoverAfterRestart did with one run that was active.
struct Recovery {
  int64_t run_id = 0;
  std::string model;
  std::string interrupted_step;  // empty when no step was running
  bool resumed = false;          // still active: the runner continues it; else failed
};

// Runs and their steps in SQLite (`<data_dir>/pipelines.db`), through the one SQLite wrapper.
// Thread-safe (one connection behind a mutex). Every change is one transaction, so a process
// killed at any point leaves the previous state. Errors: errc::not_found (no such run or running
// step), errc::already_exists (CreateRun while the model has an active run), errc::invalid_argument
// (a value or a state transition the rules refuse, the message says which), storage codes.
class RunStore {
 public:
  explicit RunStore(const Clock& clock = SystemClock::Instance()) : clock_(clock) {}

  // Opens or creates the store (":memory:" for tests).
  Status Open(const std::string& path);

  // A new queued run. errc::already_exists when the model has a queued or running run (a
  // unique index enforces it, also across processes).
  Result<int64_t> CreateRun(const NewRun& run);
  // Starts the next attempt of `step` (1 for the first); the run becomes running.
  Result<int> StartStep(int64_t run_id, std::string_view step);
  Status FinishStep(int64_t run_id, std::string_view step, int attempt, const StepResult& result);
  // Ends an active run: succeeded, failed or cancelled, with a decision and its reason. Steps still
  // running are marked interrupted.
  Status FinishRun(int64_t run_id, RunStatus status, std::string_view decision,
                   std::string_view reason);

  Result<RunRecord> Get(int64_t run_id) const;
  // Newest first, without steps.
  Result<std::vector<RunRecord>> List(const RunFilter& filter = {}) const;

  // After a restart, before anything runs steps: every step left running by a dead process is
  // marked interrupted. Its run resumes (stays active, `resumed`) when the step has attempts left
  // under `dag` (attempts so far ≤ its `retries`); otherwise the run fails with the reason
  // "interrupted in step <name>". Active runs with no running step stay active. One entry per
  // run that was active.
  Result<std::vector<Recovery>> RecoverAfterRestart(const Dag& dag);

 private:
  Status FinishRunLocked(int64_t run_id, RunStatus status, std::string_view decision,
                         std::string_view reason);
  Result<RunRecord> GetLocked(int64_t run_id) const;
  Result<std::vector<RunRecord>> ListLocked(const RunFilter& filter) const;
  Status InterruptRunningSteps(int64_t run_id, std::string_view why);

  const Clock& clock_;
  mutable std::mutex mu_;
  mutable sqlite::Db db_;
};

}  // namespace aiot::pipeline
