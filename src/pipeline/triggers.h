#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/config.h"
#include "base/result.h"
#include "pipeline/cron.h"

namespace aiot::pipeline {

// The drift trigger: the online drift monitor's events start a run, at most one per cooldown.
struct DriftTriggerConfig {
  bool enabled = true;
  // After a run started by drift for a model, further drift events for it start nothing for this
  // long (seconds): a drift storm starts one run.
  int64_t cooldown_s = 3600;
  // The run starts this long (seconds) after the drift event that decided it, so that its data
  // window holds readings of the new regime (labels come after the fact); 0 = at once.
  int64_t delay_s = 0;
  // A drift run trains on the new regime: its extract window starts at the drift event (the
  // step's `since` parameter), the reference window is the one before it. Off by default: it
  // needs delay_s / min_new_positives, or a run started at once finds no rows since the event
  // and validate refuses it (the demo's defaults turn all three on).
  bool since_event = false;
  // After delay_s, the run waits until this many rows since the drift event are labelled
  // positive (the datastore's labels: a failure recorded within the label window after them),
  // so that validate finds both classes in the new regime; 0 = do not wait.
  int64_t min_new_positives = 0;
};

// When the pipeline starts a run by itself (section `triggers`).
struct TriggerConfig {
  DriftTriggerConfig drift;
  // Cron syntax (CronSchedule, UTC); empty = no scheduled runs.
  std::string schedule;
  // Start a run once this many new labelled rows arrived since the model's last run; 0 = off.
  int64_t min_new_rows = 0;
};

void Describe(config::Visitor& v, DriftTriggerConfig& c);
void Describe(config::Visitor& v, TriggerConfig& c);
// The schedule must parse as a CronSchedule.
void Validate(config::Checks& checks, const TriggerConfig& c);

// The trigger names, as RunStore keeps them in a run's `trigger`.
inline constexpr std::string_view kTriggerDrift = "drift";
inline constexpr std::string_view kTriggerSchedule = "schedule";
inline constexpr std::string_view kTriggerRows = "rows";

// One answer of the policy: start a run or not, the trigger asked, and why.
struct TriggerDecision {
  bool start = false;
  std::string trigger;  // "drift", "schedule" or "rows"
  std::string reason;
};

// Decides when a model's pipeline run starts by itself. Pure and thread-safe: no I/O, no threads;
// the time comes from the caller (event times) and the Clock (the policy's start).
//
// The caller (the embedded runner in `aiot up`) feeds it events and asks; when the answer is
// `start` it creates the run with RunStore::CreateRun and calls RecordRunStarted. CreateRun
// answering `already running` (one active run per model) is the caller's business: the policy
// does not know about active runs. A drift decision that says `start` already counts as the
// model's drift run for the cooldown (so concurrent events of one storm start one run even before
// RecordRunStarted), whether or not the caller could create it.
class TriggerPolicy {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // `models`: the models the schedule runs (Due lists them). Fails when the schedule does not
  // parse (Validate reports it at load time). The first scheduled firing of each model is the
  // schedule's first after the clock's time now.
  static Result<std::unique_ptr<TriggerPolicy>> Create(const TriggerConfig& config,
                                                       const Clock& clock,
                                                       std::vector<std::string> models);

  // A drift event for `model` at `at`: start unless drift started a run for it within the
  // cooldown ("cooldown until <time> (drift run started at <time>)").
  TriggerDecision OnDriftEvent(const std::string& model, TimePoint at);

  // The models whose next scheduled firing after their last scheduled run (or after the policy's
  // start) is at or before `now`. After a long downtime a model is listed once, not once per
  // missed firing; it stays listed until RecordRunStarted(model, "schedule", ...).
  std::vector<std::string> Due(TimePoint now) const;
  std::vector<std::string> Due() const { return Due(Now()); }

  // `count` labelled rows arrived for `model` since its last run (LastRun): start when
  // count >= min_new_rows.
  TriggerDecision OnLabelledRows(const std::string& model, int64_t count_since_last_run) const;

  // A pending drift run of `model` (after triggers.drift.delay_s) whose window holds
  // `positives_since_event` positive labelled rows: start when they reach
  // drift.min_new_positives (always when that is 0).
  TriggerDecision OnDriftLabels(const std::string& model, int64_t positives_since_event) const;

  // A run of `model` started at `at` by `trigger` (any trigger, "cli" and "api" included).
  void RecordRunStarted(const std::string& model, std::string_view trigger, TimePoint at);

  // When the model's last run (by any trigger) started; nullopt when none is known. The caller
  // counts new labelled rows from here.
  std::optional<TimePoint> LastRun(const std::string& model) const;

  // When the schedule fires next for `model`; nullopt when there is no schedule.
  std::optional<TimePoint> NextScheduled(const std::string& model) const;

  TimePoint Now() const;

 private:
  struct ModelState {
    std::optional<TimePoint> last_run;
    std::optional<TimePoint> last_drift_run;
    std::optional<TimePoint> last_scheduled_run;
  };

  TriggerPolicy(const TriggerConfig& config, const Clock& clock, std::optional<CronSchedule> cron,
                std::vector<std::string> models);
  std::optional<TimePoint> NextScheduledLocked(const std::string& model) const;

  const TriggerConfig config_;
  const Clock& clock_;
  const std::optional<CronSchedule> cron_;
  const std::vector<std::string> models_;
  const TimePoint started_;
  mutable std::mutex mu_;
  std::map<std::string, ModelState> state_;  // guarded by mu_
};

}  // namespace aiot::pipeline
