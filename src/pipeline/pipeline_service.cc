#include "pipeline/pipeline_service.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "base/errc.h"
#include "base/log.h"
#include "pipeline/subprocess_step.h"

namespace aiot::pipeline {
namespace {

namespace fs = std::filesystem;
using TimePoint = TriggerPolicy::TimePoint;

TimePoint FromNanos(int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

std::string Absolute(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  return ec ? dir : p.lexically_normal().string();
}

}  // namespace

PipelineService::PipelineService(PipelineConfig config, ServiceOptions options, const Clock& clock)
    : config_(std::move(config)),
      options_(std::move(options)),
      clock_(clock),
      dag_(WithTimeouts(TrainingPipeline(), config_.timeouts_s)),
      extract_dag_(WithTimeouts(ExtractPipeline(), config_.timeouts_s)),
      db_path_((fs::path(Absolute(options_.data_dir)) / "pipelines.db").string()),
      runs_dir_((fs::path(Absolute(options_.data_dir)) / "pipeline-runs").string()),
      store_(clock) {}

PipelineService::~PipelineService() { Stop(); }

TimePoint PipelineService::Now() const { return FromNanos(clock_.NowNanos()); }

Status PipelineService::Open() {
  std::error_code ec;
  fs::create_directories(runs_dir_, ec);
  if (ec) return Status(errc::io_error, "cannot create " + runs_dir_ + ": " + ec.message());
  return store_.Open(db_path_);
}

Status PipelineService::Start() {
  if (!config_.enabled) return Status::Ok();
  auto policy = TriggerPolicy::Create(config_.triggers, clock_, {options_.model});
  if (!policy.ok()) return policy.status();
  policy_ = std::move(*policy);
  started_ns_ = clock_.NowNanos();
  SeedPolicy();
  lock_ = std::make_unique<RunnerLock>(db_path_ + ".runner-lock");
  Ready();  // recover now when the lock is free (else the worker retries)
  auto log = log::Get("pipeline");
  log->info("pipeline runner: {} for `{}` in {} (drift trigger {}, schedule `{}`, min_new_rows {})",
            dag_.name, options_.model, runs_dir_, config_.triggers.drift.enabled ? "on" : "off",
            config_.triggers.schedule, config_.triggers.min_new_rows);
  if (options_.worker) worker_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void PipelineService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (current_ != nullptr) current_->Interrupt(current_run_);
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

// Seeds the policy with the stored runs: a restart neither repeats a scheduled run nor forgets a
// drift cooldown.
void PipelineService::SeedPolicy() {
  auto runs =
      store_.List({.model = options_.model, .status = std::nullopt, .limit = 1000, .pipeline = {}});
  if (!runs.ok()) return;
  for (const RunRecord& r : *runs) {
    if (r.pipeline == dag_.name)
      policy_->RecordRunStarted(r.model, r.trigger, FromNanos(r.created_ns));
  }
}

bool PipelineService::Ready() {
  if (recovered_) return true;
  if (!lock_ || !lock_->Acquire()) return false;
  Recover();
  recovered_ = true;
  return true;
}

void PipelineService::Recover() {
  auto log = log::Get("pipeline");
  auto recovered = store_.RecoverAfterRestart(dag_);
  if (!recovered.ok()) {
    log->error("pipeline runner: recovery failed: {}", recovered.status().message());
    return;
  }
  for (const Recovery& r : *recovered) {
    log->info("pipeline run {} ({}) {}{}", r.run_id, r.model, r.resumed ? "resumes" : "failed",
              r.interrupted_step.empty() ? "" : ": interrupted in step " + r.interrupted_step);
  }
}

Result<int64_t> PipelineService::Submit(const RunRequest& request, std::string_view trigger,
                                        bool extract) {
  if (!config_.enabled) {
    return Status(errc::unavailable, "the embedded pipeline runner is off (pipeline.enabled)");
  }
  auto id = Create(request, trigger, extract);
  if (id.ok()) {
    {
      std::lock_guard lock(mu_);
      wake_ = true;
    }
    cv_.notify_all();
  }
  return id;
}

Result<int64_t> PipelineService::Create(const RunRequest& request, std::string_view trigger,
                                        bool extract) {
  const std::string model = request.model.empty() ? options_.model : request.model;
  if (model != options_.model) {
    return Status(errc::invalid_argument, "the pipeline retrains `" + options_.model + "`, not `" +
                                              model + "` (pipeline.model)");
  }
  const Dag& dag = extract ? extract_dag_ : dag_;
  if (Status s = CheckParams(dag, request.params); !s.ok()) return s;
  std::lock_guard submit(submit_mu_);
  auto id = store_.CreateRun({dag.name, model, std::string(trigger), CodeVersion()});
  if (!id.ok()) return id.status();
  if (Status s = SaveRunParams(runs_dir_, *id, request.params); !s.ok()) {
    (void)store_.FinishRun(*id, RunStatus::kFailed, "", s.message());
    return s;
  }
  if (!extract) {
    auto run = store_.Get(*id);  // its created_ns, which SeedPolicy reads after a restart
    policy_->RecordRunStarted(model, trigger, run.ok() ? FromNanos(run->created_ns) : Now());
  }
  log::Get("pipeline")
      ->info("pipeline run {} of `{}` queued ({}{})", *id, model, trigger,
             request.request_id.empty() ? "" : ", request " + request.request_id);
  return id;
}

void PipelineService::OnDrift(const std::string& model, TimePoint at) {
  if (!config_.enabled || !policy_ || model != options_.model) return;
  auto log = log::Get("pipeline");
  TriggerDecision d = policy_->OnDriftEvent(model, at);
  if (!d.start) {
    log->info("drift event for `{}`: no run ({})", model, d.reason);
    return;
  }
  const int64_t event_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  const DriftTriggerConfig& dc = config_.triggers.drift;
  if (dc.delay_s > 0 || (dc.min_new_positives > 0 && options_.count_positives)) {
    const int64_t due = clock_.NowNanos() + dc.delay_s * 1000000000;
    {
      std::lock_guard lock(mu_);
      drift_due_ns_ = due;
      drift_event_ns_ = event_ns;
      drift_check_mono_ = 0;
      drift_positives_ = -1;
    }
    log->info("drift event for `{}`: a run starts at {} (triggers.drift.delay_s {}){}", model,
              FormatTimestamp(due), dc.delay_s,
              dc.min_new_positives > 0 && options_.count_positives
                  ? fmt::format(" once {} rows since the event are labelled positive "
                                "(triggers.drift.min_new_positives)",
                                dc.min_new_positives)
                  : "");
    return;
  }
  SubmitDriftRun(event_ns);
}

// A drift run: with triggers.drift.since_event its window starts at the event (the new regime).
void PipelineService::SubmitDriftRun(int64_t event_ns) {
  RunParams params;
  if (config_.triggers.drift.since_event && event_ns > 0) {
    params["since"] = std::to_string(event_ns / 1000000000);
  }
  auto id = Submit(RunRequest{.model = options_.model, .params = params, .request_id = {}},
                   kTriggerDrift);
  if (!id.ok()) {
    log::Get("pipeline")
        ->info("drift run of `{}`: no new run ({})", options_.model, id.status().message());
  }
}

// A pending drift run is due once delay_s has passed and (triggers.drift.min_new_positives)
// enough rows since the event are labelled positive, counted at most every 2 s.
bool PipelineService::DriftRunDue(int64_t* event_ns) {
  const int64_t need = config_.triggers.drift.min_new_positives;
  const int64_t mono = clock_.MonotonicNanos();
  {
    std::lock_guard lock(mu_);
    if (drift_due_ns_ <= 0 || clock_.NowNanos() < drift_due_ns_) return false;
    *event_ns = drift_event_ns_;
    if (need <= 0 || !options_.count_positives) {
      drift_due_ns_ = 0;
      return true;
    }
    if (drift_check_mono_ != 0 && mono - drift_check_mono_ < 2'000'000'000) return false;
    drift_check_mono_ = mono;
  }
  auto log = log::Get("pipeline");
  auto positives = options_.count_positives(*event_ns);
  if (!positives.ok()) {
    log->warn("pipeline drift trigger: {}", positives.status().message());
    return false;
  }
  const TriggerDecision d = policy_->OnDriftLabels(options_.model, *positives);
  std::lock_guard lock(mu_);
  if (drift_due_ns_ <= 0) return false;  // a concurrent poll took it
  if (!d.start) {
    if (*positives != drift_positives_) log->info("drift run waits: {}", d.reason);
    drift_positives_ = *positives;
    return false;
  }
  log->info("drift run: {}", d.reason);
  drift_due_ns_ = 0;
  return true;
}

void PipelineService::PollTriggers() {
  if (!config_.enabled || !policy_) return;
  auto log = log::Get("pipeline");
  for (const std::string& model : policy_->Due()) {
    auto id = Submit(RunRequest{.model = model, .params = {}, .request_id = {}}, kTriggerSchedule);
    if (!id.ok()) log->debug("scheduled run of `{}` waits: {}", model, id.status().message());
  }
  if (int64_t event_ns = 0; DriftRunDue(&event_ns)) SubmitDriftRun(event_ns);
  PollRows();
}

// "N new labelled rows since the last run": the rows with a time at or after the model's last
// run's creation (persisted in the RunStore, seeded into the policy at Start: a restart does not
// count them again); before any run, since Start.
void PipelineService::PollRows() {
  if (config_.triggers.min_new_rows <= 0 || !options_.count_rows) return;
  const int64_t now = clock_.MonotonicNanos();
  {
    std::lock_guard lock(mu_);
    const int64_t every = int64_t{config_.rows_check_s} * 1000000000;
    if (rows_checked_ && now - last_rows_check_mono_ < every) return;
    rows_checked_ = true;
    last_rows_check_mono_ = now;
  }
  std::optional<TimePoint> last = policy_->LastRun(options_.model);
  const int64_t since =
      last ? std::chrono::duration_cast<std::chrono::nanoseconds>(last->time_since_epoch()).count()
           : started_ns_;
  auto log = log::Get("pipeline");
  auto rows = options_.count_rows(since);
  if (!rows.ok()) {
    log->warn("pipeline rows trigger: {}", rows.status().message());
    return;
  }
  TriggerDecision d = policy_->OnLabelledRows(options_.model, *rows);
  if (!d.start) return;
  log->info("{}", d.reason);
  auto id =
      Submit(RunRequest{.model = options_.model, .params = {}, .request_id = {}}, kTriggerRows);
  if (!id.ok()) log->debug("rows run of `{}` waits: {}", options_.model, id.status().message());
}

std::optional<RunRecord> PipelineService::NextRun() {
  std::lock_guard submit(submit_mu_);
  std::optional<RunRecord> oldest;
  for (RunStatus st : {RunStatus::kRunning, RunStatus::kQueued}) {
    auto runs = store_.List({.model = "", .status = st, .limit = 1000, .pipeline = {}});
    if (!runs.ok()) continue;
    for (const RunRecord& r : *runs) {
      if (r.pipeline != dag_.name && r.pipeline != extract_dag_.name) continue;
      if (!oldest || r.id < oldest->id) oldest = r;
    }
    if (oldest) return oldest;  // resumed runs first
  }
  return oldest;
}

bool PipelineService::RunNext() {
  if (!config_.enabled || !Ready()) return false;
  std::optional<RunRecord> run = NextRun();
  if (!run) return false;
  if (options_.child_env && !options_.child_env()) return false;  // the API is not up yet
  Execute(*run);
  return true;
}

void PipelineService::Sleep(std::chrono::nanoseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
}

void PipelineService::Execute(const RunRecord& run) {
  auto log = log::Get("pipeline");
  const Dag& dag = run.pipeline == extract_dag_.name ? extract_dag_ : dag_;
  RunParams params = config_.params;
  for (auto& [k, v] : LoadRunParams(runs_dir_, run.id)) params[k] = v;
  for (auto it = params.begin(); it != params.end();) {  // config params of other steps
    it = CheckParams(dag, {{it->first, ""}}).ok() ? std::next(it) : params.erase(it);
  }
  SubprocessOptions so;
  so.executable = config_.executable;
  so.global_args = options_.global_args;
  if (options_.child_env) so.env = options_.child_env().value_or(std::vector<std::string>{});
  so.kill_grace = std::chrono::milliseconds(config_.kill_grace_ms);
  Runner runner(
      dag, store_, clock_, [this](std::chrono::nanoseconds d) { Sleep(d); },
      RunnerOptions{runs_dir_});
  const StepFunction fn = SubprocessStep(dag, so);
  for (const Step& s : dag.steps) runner.SetStep(s.name, fn);
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    current_ = &runner;
    current_run_ = run.id;
  }
  log->info("pipeline run {} of `{}` ({}) starts in {}/{}", run.id, run.model, run.trigger,
            runs_dir_, run.id);
  Result<RunRecord> done = Status(errc::internal, "not run");
  {
    CancelWatch watch(store_, runner, run.id);
    done = runner.Execute(run.id, params);
  }
  {
    std::lock_guard lock(mu_);
    current_ = nullptr;
    current_run_ = 0;
  }
  if (!done.ok()) {
    log->info("pipeline run {}: {}", run.id, done.status().message());
    if (done.status().code() != errc::cancelled) {
      // Not executable (e.g. ended by `aiot pipeline cancel` meanwhile): make sure it is not
      // picked again.
      (void)store_.FinishRun(run.id, RunStatus::kFailed, "", done.status().message());
    }
    return;
  }
  log->info("pipeline run {} of `{}` {}{}: {}", run.id, run.model, RunStatusName(done->status),
            done->decision.empty() ? "" : " (" + done->decision + ")", done->reason);
}

void PipelineService::Loop() {
  auto log = log::Get("pipeline");
  bool warned = false;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      wake_ = false;
    }
    if (!Ready()) {
      if (!warned)
        log->warn("pipeline runner: another process executes runs of {}; waiting", db_path_);
      warned = true;
    } else {
      PollTriggers();
      if (RunNext()) continue;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || wake_; });
  }
}

std::optional<TimePoint> PipelineService::NextScheduled() const {
  if (!policy_) return std::nullopt;
  return policy_->NextScheduled(options_.model);
}

}  // namespace aiot::pipeline
