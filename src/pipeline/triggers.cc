#include "pipeline/triggers.h"

#include <limits>
#include <utility>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

using TimePoint = TriggerPolicy::TimePoint;

std::string Text(TimePoint t) {
  return FormatTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

TriggerDecision Decide(bool start, std::string_view trigger, std::string reason) {
  return TriggerDecision{start, std::string(trigger), std::move(reason)};
}

// The latest of a recorded time and `at`, so an out-of-order record never moves time back.
void Latest(std::optional<TimePoint>& recorded, TimePoint at) {
  if (!recorded || *recorded < at) recorded = at;
}

}  // namespace

void Describe(config::Visitor& v, DriftTriggerConfig& c) {
  v.Field("enabled", c.enabled, "start a run on the online drift monitor's drift events");
  v.Field("cooldown_s", c.cooldown_s, config::Range{0, 366LL * 24 * 3600},
          "after a run started by drift, later drift events of that model start nothing for "
          "this long (seconds), so a drift storm starts one run");
  v.Field("delay_s", c.delay_s, config::Range{0, 86400},
          "start the run this long (seconds) after the drift event, so that its data window "
          "holds readings (and labels) of the new regime; 0 = at once");
  v.Field("since_event", c.since_event,
          "a drift run's data window starts at the drift event (extract's `since`): it trains "
          "and is evaluated on the new regime only; use with delay_s or min_new_positives (a run "
          "started at once finds no rows since the event)");
  v.Field("min_new_positives", c.min_new_positives,
          config::Range{0, std::numeric_limits<int64_t>::max()},
          "after delay_s, the drift run waits until this many rows since the event are labelled "
          "positive (a failure recorded after them), so its window holds both classes; 0 = no "
          "wait");
}

void Describe(config::Visitor& v, TriggerConfig& c) {
  config::Section(v, "drift", c.drift, "Runs started by drift events.");
  v.Field("schedule", c.schedule,
          "cron schedule (5 fields or @daily-style, UTC) of runs; empty = no scheduled runs");
  v.Field("min_new_rows", c.min_new_rows, config::Range{0, std::numeric_limits<int64_t>::max()},
          "start a run once this many new labelled rows arrived since the model's last run; "
          "0 = off");
}

void Validate(config::Checks& checks, const TriggerConfig& c) {
  if (c.schedule.empty()) return;
  auto cron = CronSchedule::Parse(c.schedule);
  if (!cron.ok()) checks.Fail("schedule", cron.status().message());
}

Result<std::unique_ptr<TriggerPolicy>> TriggerPolicy::Create(const TriggerConfig& config,
                                                             const Clock& clock,
                                                             std::vector<std::string> models) {
  std::optional<CronSchedule> cron;
  if (!config.schedule.empty()) {
    auto parsed = CronSchedule::Parse(config.schedule);
    if (!parsed.ok()) {
      return Status(errc::invalid_argument, "triggers.schedule: " + parsed.status().message());
    }
    cron = std::move(*parsed);
  }
  return std::unique_ptr<TriggerPolicy>(
      new TriggerPolicy(config, clock, std::move(cron), std::move(models)));
}

TriggerPolicy::TriggerPolicy(const TriggerConfig& config, const Clock& clock,
                             std::optional<CronSchedule> cron, std::vector<std::string> models)
    : config_(config),
      clock_(clock),
      cron_(std::move(cron)),
      models_(std::move(models)),
      started_(Now()) {}

TimePoint TriggerPolicy::Now() const {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(clock_.NowNanos())));
}

TriggerDecision TriggerPolicy::OnDriftEvent(const std::string& model, TimePoint at) {
  if (!config_.drift.enabled) {
    return Decide(false, kTriggerDrift, "the drift trigger is disabled (triggers.drift.enabled)");
  }
  std::lock_guard lock(mu_);
  ModelState& s = state_[model];
  if (s.last_drift_run) {
    TimePoint until = *s.last_drift_run + std::chrono::seconds(config_.drift.cooldown_s);
    if (at < until) {
      return Decide(false, kTriggerDrift,
                    "cooldown until " + Text(until) + " (drift run started at " +
                        Text(*s.last_drift_run) + ")");
    }
  }
  s.last_drift_run = at;  // claimed now: concurrent events of one storm start one run
  return Decide(true, kTriggerDrift, "drift detected for " + model + " at " + Text(at));
}

std::optional<TimePoint> TriggerPolicy::NextScheduledLocked(const std::string& model) const {
  if (!cron_) return std::nullopt;
  auto s = state_.find(model);
  TimePoint from = started_;
  if (s != state_.end() && s->second.last_scheduled_run) from = *s->second.last_scheduled_run;
  return cron_->Next(from);
}

std::optional<TimePoint> TriggerPolicy::NextScheduled(const std::string& model) const {
  std::lock_guard lock(mu_);
  return NextScheduledLocked(model);
}

std::vector<std::string> TriggerPolicy::Due(TimePoint now) const {
  std::vector<std::string> due;
  if (!cron_) return due;
  std::lock_guard lock(mu_);
  for (const std::string& model : models_) {
    std::optional<TimePoint> next = NextScheduledLocked(model);
    if (next && *next <= now) due.push_back(model);
  }
  return due;
}

TriggerDecision TriggerPolicy::OnLabelledRows(const std::string& model,
                                              int64_t count_since_last_run) const {
  const int64_t need = config_.min_new_rows;
  if (need <= 0) {
    return Decide(false, kTriggerRows, "the rows trigger is off (triggers.min_new_rows is 0)");
  }
  std::string counted = std::to_string(count_since_last_run) + " new labelled rows for " + model +
                        " since its last run";
  if (count_since_last_run < need) {
    return Decide(false, kTriggerRows, counted + ", fewer than " + std::to_string(need));
  }
  return Decide(true, kTriggerRows, counted + " (threshold " + std::to_string(need) + ")");
}

TriggerDecision TriggerPolicy::OnDriftLabels(const std::string& model,
                                             int64_t positives_since_event) const {
  const int64_t need = config_.drift.min_new_positives;
  std::string counted = std::to_string(positives_since_event) + " positive labelled rows for " +
                        model + " since the drift event";
  if (positives_since_event < need) {
    return Decide(false, kTriggerDrift, counted + ", fewer than " + std::to_string(need));
  }
  return Decide(true, kTriggerDrift,
                counted + " (triggers.drift.min_new_positives " + std::to_string(need) + ")");
}

void TriggerPolicy::RecordRunStarted(const std::string& model, std::string_view trigger,
                                     TimePoint at) {
  std::lock_guard lock(mu_);
  ModelState& s = state_[model];
  Latest(s.last_run, at);
  if (trigger == kTriggerDrift) Latest(s.last_drift_run, at);
  if (trigger == kTriggerSchedule) Latest(s.last_scheduled_run, at);
}

std::optional<TimePoint> TriggerPolicy::LastRun(const std::string& model) const {
  std::lock_guard lock(mu_);
  auto s = state_.find(model);
  if (s == state_.end()) return std::nullopt;
  return s->second.last_run;
}

}  // namespace aiot::pipeline
