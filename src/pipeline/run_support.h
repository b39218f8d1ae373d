#pragma once

// What every executor of runs shares (`aiot pipeline run` and the embedded runner of `aiot up`):
// a run's parameter overrides in its directory, the JSON of a run (CLI `--json` and the HTTP API
// print the same), the one-runner-per-data-directory lock, and the watch that notices a run ended
// by another process (`aiot pipeline cancel`).
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/result.h"
#include "pipeline/dag.h"
#include "pipeline/run_store.h"
#include "pipeline/runner.h"

namespace aiot::pipeline {

using RunParams = std::map<std::string, std::string>;

// The code version recorded in runs: "<version>+<git commit>".
std::string CodeVersion();

// `<runs_dir>/<id>/params.json`: a run's parameter overrides, kept so that a resumed run uses
// them again. Save creates the run directory.
Status SaveRunParams(const std::string& runs_dir, int64_t run_id, const RunParams& params);
// Empty when the file is missing or unreadable (a run queued without overrides).
RunParams LoadRunParams(const std::string& runs_dir, int64_t run_id);

// Every override names a parameter some step of `dag` declares: errc::invalid_argument
// ("parameter `x` is not a parameter of any step of continuous-learning") otherwise.
Status CheckParams(const Dag& dag, const RunParams& params);

// A run as JSON: id, pipeline, model, trigger, status, created/started/finished (ns, 0 = not
// yet), duration_ms (null while unfinished), decision, reason, code_version, and its steps
// (step, attempt, status, exit_code (null: none), started/finished, duration_ms, log_tail,
// artifacts). `log_tails = false` leaves the logs out (lists).
nlohmann::json RunJson(const RunRecord& run, bool log_tails = true);

// One executor of runs per data directory: recovery marks every running step of the store
// interrupted, which is only true when no other runner is alive. An flock on `path`
// (`pipelines.db.runner-lock`), dropped by the kernel with its process, also on kill -9.
class RunnerLock {
 public:
  explicit RunnerLock(const std::string& path);
  ~RunnerLock();
  RunnerLock(const RunnerLock&) = delete;
  RunnerLock& operator=(const RunnerLock&) = delete;
  // Non-blocking; true when this object holds the lock (again true when asked again).
  bool Acquire();

 private:
  int fd_ = -1;
  bool held_ = false;
};

// While alive, cancels `run_id` in `runner` once the store says it is no longer active (another
// process ended it: `aiot pipeline cancel`, or the HTTP API of another process). Polls every
// 200 ms.
class CancelWatch {
 public:
  CancelWatch(RunStore& store, Runner& runner, int64_t run_id);
  ~CancelWatch();
  CancelWatch(const CancelWatch&) = delete;
  CancelWatch& operator=(const CancelWatch&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace aiot::pipeline
