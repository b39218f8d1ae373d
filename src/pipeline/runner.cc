#include "pipeline/runner.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

// The last non-empty line of a step's output: the reason a run shows.
std::string LastLine(std::string_view log) {
  while (!log.empty() && (log.back() == '\n' || log.back() == '\r' || log.back() == ' ')) {
    log.remove_suffix(1);
  }
  size_t nl = log.rfind('\n');
  std::string_view line = nl == std::string_view::npos ? log : log.substr(nl + 1);
  return std::string(line.substr(0, 300));
}

std::string FailureReason(const Step& step, const StepOutput& out) {
  std::string r = "step " + step.name + " failed (exit " + std::to_string(out.exit_code) + ")";
  std::string line = LastLine(out.log);
  return line.empty() ? r : r + ": " + line;
}

// The exit code an attempt that timed out or threw is recorded with (as a killed process).
constexpr int kExitKilled = 137;

}  // namespace

Runner::Runner(Dag dag, RunStore& store, const Clock& clock, Sleeper sleep, RunnerOptions options)
    : dag_(std::move(dag)),
      store_(store),
      clock_(clock),
      sleep_(std::move(sleep)),
      options_(std::move(options)) {}

void Runner::SetStep(const std::string& name, StepFunction fn) { functions_[name] = std::move(fn); }

void Runner::Cancel(int64_t run_id) {
  if (current_run_.load() == run_id) cancel_ = true;
}

void Runner::Interrupt(int64_t run_id) {
  (void)run_id;  // also before Execute started: a shutdown is for good
  interrupt_ = true;
  cancel_ = true;
}

Result<RunRecord> Runner::Execute(int64_t run_id,
                                  const std::map<std::string, std::string>& params) {
  if (Status s = dag_.Validate(); !s.ok()) return s;
  auto run = store_.Get(run_id);
  if (!run.ok()) return run.status();
  if (!IsActive(run->status)) {
    return Status(errc::invalid_argument,
                  "run " + std::to_string(run_id) + " is already " + RunStatusName(run->status));
  }
  if (run->pipeline != dag_.name) {
    return Status(errc::invalid_argument, "run " + std::to_string(run_id) + " is of pipeline `" +
                                              run->pipeline + "`, not `" + dag_.name + "`");
  }
  current_run_ = run_id;
  cancel_ = interrupt_.load();
  std::map<std::string, std::string> values = params;
  values["run_id"] = std::to_string(run_id);
  values["run_dir"] = options_.runs_dir + "/" + std::to_string(run_id);
  values["model"] = run->model;
  values["code_version"] = run->code_version;

  auto order = dag_.TopologicalOrder();
  if (!order.ok()) return order.status();
  StepEnd end;
  for (const Step* step : *order) {
    const bool done = std::any_of(run->steps.begin(), run->steps.end(), [&](const StepRecord& r) {
      return r.step == step->name && r.status == StepStatus::kSucceeded;
    });
    if (done) continue;
    end = RunStep(*run, *step, values);
    if (end.end != End::kNext) break;
  }
  current_run_ = 0;
  if (end.end == End::kInterrupt) return Status(errc::cancelled, end.reason);
  Status finished;
  switch (end.end) {
    case End::kNext:
      finished = store_.FinishRun(run_id, RunStatus::kSucceeded, "completed",
                                  "all " + std::to_string(dag_.steps.size()) + " steps succeeded");
      break;
    case End::kStop:
      finished = store_.FinishRun(run_id, RunStatus::kSucceeded, end.decision, end.reason);
      break;
    case End::kFail:
      finished = store_.FinishRun(run_id, RunStatus::kFailed, "", end.reason);
      break;
    case End::kCancel:
      finished = store_.FinishRun(run_id, RunStatus::kCancelled, "", end.reason);
      break;
    case End::kInterrupt:
      break;
  }
  if (!finished.ok()) return finished;
  return store_.Get(run_id);
}

// All attempts of one step.
Runner::StepEnd Runner::RunStep(const RunRecord& run, const Step& step,
                                const std::map<std::string, std::string>& values) {
  auto fn = functions_.find(step.name);
  if (fn == functions_.end() || !fn->second) {
    return {End::kFail, "no function for step " + step.name};
  }
  auto argv = dag_.RenderArgv(step, values);
  if (!argv.ok()) return {End::kFail, argv.status().message()};
  // A resumed run may have used this step's attempts already (killed after a failed one).
  const auto used = std::count_if(run.steps.begin(), run.steps.end(),
                                  [&](const StepRecord& r) { return r.step == step.name; });
  if (used > step.retries) {
    return {End::kFail,
            "step " + step.name + " has no attempts left (" + std::to_string(used) + " used)"};
  }
  for (;;) {
    if (interrupt_) return {End::kInterrupt, "interrupted before step " + step.name};
    if (cancel_) return {End::kCancel, "cancelled before step " + step.name};
    auto attempt = store_.StartStep(run.id, step.name);
    if (!attempt.ok()) return {End::kFail, attempt.status().message()};
    StepContext ctx;
    ctx.run_id = run.id;
    ctx.step = step.name;
    ctx.attempt = *attempt;
    ctx.argv = *argv;
    ctx.values = values;
    ctx.deadline_mono_ns =
        clock_.MonotonicNanos() +
        std::chrono::duration_cast<std::chrono::nanoseconds>(step.timeout).count();
    StepOutput out = Attempt(fn->second, std::move(ctx), step);
    // Shutdown: the attempt stays `running`, as after a crash (RecoverAfterRestart decides).
    if (interrupt_) return {End::kInterrupt, "interrupted in step " + step.name};
    const StepOutcome outcome = OutcomeOf(step, out.exit_code);
    StepResult result;
    result.status = outcome == StepOutcome::kContinue ? StepStatus::kSucceeded
                    : outcome == StepOutcome::kStop   ? StepStatus::kStopped
                                                      : StepStatus::kFailed;
    result.exit_code = out.exit_code;
    result.log = out.log;
    result.artifacts = out.artifacts;
    if (Status s = store_.FinishStep(run.id, step.name, *attempt, result); !s.ok()) {
      // Artifacts that are not a JSON object: keep the attempt, without them, as failed.
      result.status = StepStatus::kFailed;
      result.artifacts = "{}";
      result.log += "\n[" + s.message() + "]";
      if (Status again = store_.FinishStep(run.id, step.name, *attempt, result); !again.ok()) {
        return {End::kFail, again.message()};
      }
      return {End::kFail, s.message()};
    }
    if (cancel_) return {End::kCancel, "cancelled in step " + step.name};
    if (outcome == StepOutcome::kContinue) return {End::kNext, ""};
    if (outcome == StepOutcome::kStop) {
      std::string why = LastLine(out.log);
      return {End::kStop, why.empty() ? "decided by step " + step.name : why,
              step.branch->decision};
    }
    if (outcome == StepOutcome::kFatalError || *attempt > step.retries) {
      return {End::kFail, FailureReason(step, out)};
    }
    const int doublings = std::min(*attempt - 1, 10);
    sleep_(std::chrono::duration_cast<std::chrono::nanoseconds>(step.retry_backoff) *
           (int64_t{1} << doublings));
  }
}

// One attempt on its own thread, watched for its deadline and for Cancel().
StepOutput Runner::Attempt(const StepFunction& fn, StepContext ctx, const Step& step) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    StepOutput out;
    std::atomic<bool> cancel{false};
  } shared;
  ctx.cancel = &shared.cancel;
  const int64_t deadline = ctx.deadline_mono_ns;
  std::thread worker([&shared, &fn, ctx = std::move(ctx)] {
    StepOutput out;
    try {
      out = fn(ctx);
    } catch (const std::exception& e) {
      out = {kExitKilled, std::string("exception: ") + e.what(), "{}"};
    } catch (...) {
      out = {kExitKilled, "exception", "{}"};
    }
    std::lock_guard lock(shared.mu);
    shared.out = std::move(out);
    shared.done = true;
    shared.cv.notify_all();
  });
  bool timed_out = false;
  {
    std::unique_lock lock(shared.mu);
    while (!shared.done) {
      const int64_t left = deadline - clock_.MonotonicNanos();
      if ((left <= 0 || cancel_) && !shared.cancel) {
        timed_out = left <= 0;
        shared.cancel = true;
      }
      const auto wait = shared.cancel ? std::chrono::nanoseconds(options_.poll)
                                      : std::min<std::chrono::nanoseconds>(
                                            options_.poll, std::chrono::nanoseconds(left));
      shared.cv.wait_for(lock, wait);
    }
  }
  worker.join();
  if (timed_out) {
    shared.out.exit_code = kExitKilled;
    shared.out.log += (shared.out.log.empty() ? "" : "\n") + std::string("timed out after ") +
                      std::to_string(step.timeout.count()) + " s";
  }
  return std::move(shared.out);
}

}  // namespace aiot::pipeline
