// The embedded runner (PipelineService) with real children: a /bin/sh script stands in for
// `aiot pipeline step` (tests/pipeline runs the real steps inside `aiot up`). Triggers on a
// ManualClock, one active run per model, recovery after a killed process, shutdown in a step.
#include "pipeline/pipeline_service.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "base/errc.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;
using test_support::WaitFor;

// `$exe pipeline step NAME ...`: prints its arguments; the step named by $SLOW_STEP waits for a
// signal (SIGTERM ends it with 143).
constexpr const char* kScript = R"(#!/bin/sh
step="$3"
echo "args: $*"
if [ -n "$SLOW_STEP" ] && [ "$step" = "$SLOW_STEP" ]; then
  trap 'echo terminated; exit 143' TERM
  echo "$step waits"
  sleep 60 &
  wait $!
fi
echo "$step done"
)";

class PipelineServiceTest : public ::testing::Test {
 protected:
  PipelineServiceTest() {
    script_ = dir_.File("fake-aiot.sh");
    std::ofstream(script_) << kScript;
    ::chmod(script_.c_str(), 0755);
  }

  PipelineConfig Config() const {
    PipelineConfig c;
    c.enabled = true;
    c.executable = script_;
    c.params = {{"recipe", "fast"}};
    c.kill_grace_ms = 5000;
    return c;
  }

  std::unique_ptr<PipelineService> Service(PipelineConfig c, bool worker = false,
                                           std::string slow_step = "") {
    ServiceOptions o;
    o.data_dir = dir_.path();
    o.model = "fan-mlp";
    o.worker = worker;
    o.child_env = [slow_step]() -> std::optional<std::vector<std::string>> {
      return std::vector<std::string>{"SLOW_STEP=" + slow_step};
    };
    o.count_rows = [this](int64_t since_ns) -> Result<int64_t> {
      std::lock_guard lock(rows_mu_);
      int64_t n = 0;
      for (int64_t t : row_times_) n += t >= since_ns;
      return n;
    };
    o.count_positives = [this](int64_t since_ns) -> Result<int64_t> {
      std::lock_guard lock(rows_mu_);
      int64_t n = 0;
      for (int64_t t : positive_times_) n += t >= since_ns;
      return n;
    };
    auto s = std::make_unique<PipelineService>(std::move(c), o, clock_);
    EXPECT_TRUE(s->Open().ok());
    EXPECT_TRUE(s->Start().ok());
    return s;
  }

  RunRequest Request(RunParams params = {}) {
    return RunRequest{.model = "", .params = std::move(params), .request_id = {}};
  }

  test_support::TempDir dir_{"aiot-pipeline-service"};
  std::string script_;
  ManualClock clock_{1764669600LL * 1000000000};  // 2025-12-02T10:00:00Z
  // The labelled rows' times (the training datastore's CountRowsSince, faked).
  std::mutex rows_mu_;
  std::vector<int64_t> row_times_;
  std::vector<int64_t> positive_times_;  // of them, the positives (CountPositivesSince, faked)
  void AddRows(int64_t n, int64_t at_ns) {
    std::lock_guard lock(rows_mu_);
    row_times_.insert(row_times_.end(), static_cast<size_t>(n), at_ns);
  }
};

TEST_F(PipelineServiceTest, ASubmittedRunExecutesEveryStepAsAChildWithItsParameters) {
  auto s = Service(Config());
  auto id = s->Submit(Request({{"seed", "7"}}), "api");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(s->RunNext());
  auto run = s->store().Get(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded) << run->reason;
  EXPECT_EQ(run->decision, "completed");
  EXPECT_EQ(run->trigger, "api");
  ASSERT_EQ(run->steps.size(), 8u);
  const StepRecord& train = run->steps[3];
  EXPECT_EQ(train.step, "train");
  // The configured override (recipe) and the run's own (seed) reach the child's argv.
  EXPECT_NE(train.log_tail.find("--recipe fast"), std::string::npos) << train.log_tail;
  EXPECT_NE(train.log_tail.find("--seed 7"), std::string::npos) << train.log_tail;
  EXPECT_NE(train.log_tail.find("--run-dir " + s->runs_dir() + "/" + std::to_string(*id)),
            std::string::npos)
      << train.log_tail;
  EXPECT_FALSE(s->RunNext());  // nothing left
}

TEST_F(PipelineServiceTest, SubmitRefusesWhatItCannotRun) {
  auto s = Service(Config());
  auto bad_param = s->Submit(Request({{"nope", "1"}}), "api");
  ASSERT_FALSE(bad_param.ok());
  EXPECT_EQ(bad_param.status().code(), errc::invalid_argument);
  EXPECT_NE(bad_param.status().message().find("`nope`"), std::string::npos);
  auto other = s->Submit(RunRequest{.model = "pump", .params = {}, .request_id = {}}, "api");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), errc::invalid_argument);
  // An extract-data run takes only the extract step's parameters.
  auto extract_bad = s->Submit(Request({{"recipe", "fast"}}), "control", /*extract=*/true);
  EXPECT_EQ(extract_bad.status().code(), errc::invalid_argument);

  ASSERT_TRUE(s->Submit(Request(), "api").ok());
  auto again = s->Submit(Request(), "api");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), errc::already_exists);

  PipelineConfig off = Config();
  off.enabled = false;
  s.reset();
  auto disabled = Service(off);
  EXPECT_EQ(disabled->Submit(Request(), "api").status().code(), errc::unavailable);
}

TEST_F(PipelineServiceTest, ExtractDataRunsOnlyTheExtractStep) {
  auto s = Service(Config());
  auto id = s->Submit(Request({{"window", "1d"}}), "control", /*extract=*/true);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(s->RunNext());
  auto run = s->store().Get(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->pipeline, "extract-data");
  EXPECT_EQ(run->status, RunStatus::kSucceeded) << run->reason;
  ASSERT_EQ(run->steps.size(), 1u);
  EXPECT_EQ(run->steps[0].step, "extract");
  EXPECT_NE(run->steps[0].log_tail.find("--window 1d"), std::string::npos);
  EXPECT_EQ(run->steps[0].log_tail.find("--recipe"), std::string::npos);  // train's, not here
}

TEST_F(PipelineServiceTest, ADriftStormStartsOneRunAndOtherModelsNone) {
  auto s = Service(Config());
  const auto now = std::chrono::system_clock::time_point(1764669600s);
  s->OnDrift("pump", now);
  for (int i = 0; i < 20; ++i) s->OnDrift("fan-mlp", now + std::chrono::milliseconds(i));
  auto runs = s->store().List();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger, "drift");
  EXPECT_EQ((*runs)[0].model, "fan-mlp");
  ASSERT_TRUE(s->RunNext());
  // Within the cooldown (1 h by default) a later event starts nothing, even with no run active.
  s->OnDrift("fan-mlp", now + 30min);
  EXPECT_EQ(s->store().List()->size(), 1u);
  s->OnDrift("fan-mlp", now + 61min);
  EXPECT_EQ(s->store().List()->size(), 2u);
}

// triggers.drift.delay_s: the run of a drift event starts once the delay passed on the service's
// clock (its data window then holds the new regime's readings); the cooldown still holds.
TEST_F(PipelineServiceTest, ADelayedDriftRunStartsOnceTheDelayPassed) {
  PipelineConfig c = Config();
  c.triggers.drift.delay_s = 30;
  auto s = Service(c);
  const auto now = std::chrono::system_clock::time_point(1764669600s);
  s->OnDrift("fan-mlp", now);
  s->OnDrift("fan-mlp", now + 1s);  // the same storm
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());
  clock_.Advance(29s);
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());
  clock_.Advance(1s);
  s->PollTriggers();
  auto runs = s->store().List();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger, "drift");
  ASSERT_TRUE(s->RunNext());
  clock_.Advance(60s);
  s->PollTriggers();  // started once
  EXPECT_EQ(s->store().List()->size(), 1u);
}

// triggers.drift.min_new_positives: after the delay, the drift run waits until enough rows since
// the event are labelled positive; with since_event its window starts at the event.
TEST_F(PipelineServiceTest, ADriftRunWaitsForPositivesAndTrainsOnTheDataSinceTheEvent) {
  PipelineConfig c = Config();
  c.triggers.drift.since_event = true;
  c.triggers.drift.delay_s = 10;
  c.triggers.drift.min_new_positives = 100;
  auto s = Service(c);
  const int64_t event_ns = clock_.NowNanos();
  {
    std::lock_guard lock(rows_mu_);
    positive_times_.assign(500, event_ns - 1);  // before the event: the old regime's
  }
  s->OnDrift("fan-mlp", std::chrono::system_clock::time_point(std::chrono::nanoseconds(event_ns)));
  clock_.Advance(10s);
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());  // the delay passed, no positive since the event
  {
    std::lock_guard lock(rows_mu_);
    positive_times_.insert(positive_times_.end(), 99, event_ns + 5'000'000'000);
  }
  clock_.Advance(3s);
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());  // 99 < 100
  {
    std::lock_guard lock(rows_mu_);
    positive_times_.push_back(event_ns + 12'000'000'000);
  }
  clock_.Advance(3s);
  s->PollTriggers();
  auto runs = s->store().List();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger, "drift");
  ASSERT_TRUE(s->RunNext());
  auto run = s->store().Get((*runs)[0].id);
  ASSERT_TRUE(run.ok());
  EXPECT_NE(run->steps[0].log_tail.find("--since " + std::to_string(event_ns / 1000000000)),
            std::string::npos)
      << run->steps[0].log_tail;

  // since_event off: the window is the configured one (since 0).
  PipelineConfig off = Config();
  off.triggers.drift.since_event = false;
  s.reset();
  auto plain = Service(off);
  clock_.Advance(2h);  // past the first run's cooldown
  plain->OnDrift("fan-mlp", std::chrono::system_clock::time_point(
                                std::chrono::nanoseconds(clock_.NowNanos())));
  ASSERT_TRUE(plain->RunNext());
  auto second = plain->store().List();
  ASSERT_EQ(second->size(), 2u);
  auto r2 =
      plain->store().Get((*second)[0].id == (*runs)[0].id ? (*second)[1].id : (*second)[0].id);
  ASSERT_TRUE(r2.ok());
  EXPECT_NE(r2->steps[0].log_tail.find("--since 0"), std::string::npos) << r2->steps[0].log_tail;
}

TEST_F(PipelineServiceTest, TheScheduleStartsARunWhenDueOnTheServiceClock) {
  PipelineConfig c = Config();
  c.triggers.schedule = "*/5 * * * *";
  auto s = Service(c);
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());  // 10:00:00 is the start, not a firing after it
  clock_.Advance(4min);
  s->PollTriggers();
  EXPECT_TRUE(s->store().List()->empty());
  clock_.Advance(1min);
  s->PollTriggers();
  auto runs = s->store().List();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger, "schedule");
  s->PollTriggers();  // recorded: not due again until 10:10
  EXPECT_EQ(s->store().List()->size(), 1u);
}

// "N new labelled rows since the last run": rows are counted by their time since the last run's
// creation (the RunStore's), so rows before it never count again, not even after a restart.
TEST_F(PipelineServiceTest, NewLabelledRowsSinceTheLastRunStartARunAtTheThreshold) {
  PipelineConfig c = Config();
  c.triggers.min_new_rows = 1000;
  c.rows_check_s = 60;
  AddRows(5000, clock_.NowNanos() - 3600 * 1000000000LL);  // before the start: not new
  int64_t first = 0;
  {
    auto s = Service(c);
    s->PollTriggers();
    EXPECT_TRUE(s->store().List()->empty());
    clock_.Advance(10s);
    AddRows(999, clock_.NowNanos());
    clock_.Advance(61s);
    s->PollTriggers();
    EXPECT_TRUE(s->store().List()->empty());
    AddRows(1, clock_.NowNanos());
    clock_.Advance(30s);
    s->PollTriggers();  // not yet time to count again
    EXPECT_TRUE(s->store().List()->empty());
    clock_.Advance(31s);
    s->PollTriggers();
    auto runs = s->store().List();
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ((*runs)[0].trigger, "rows");
    first = (*runs)[0].id;
    ASSERT_TRUE(s->RunNext());  // it ends; the rows before it were its data
    clock_.Advance(61s);
    s->PollTriggers();
    EXPECT_EQ(s->store().List()->size(), 1u);
    AddRows(600, clock_.NowNanos());
  }
  // A restart: the last run comes from the store, so the 6000 rows before it are not new and the
  // 600 after it still count.
  auto s = Service(c);
  s->PollTriggers();
  EXPECT_EQ(s->store().List()->size(), 1u);
  clock_.Advance(5s);
  AddRows(400, clock_.NowNanos());
  clock_.Advance(61s);
  s->PollTriggers();
  auto runs = s->store().List();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].trigger, "rows");
  EXPECT_NE((*runs)[0].id, first);
}

TEST_F(PipelineServiceTest, ARunAKilledProcessLeftIsResumedAtStart) {
  int64_t id = 0;
  {
    RunStore store(clock_);
    ASSERT_TRUE(store.Open(dir_.File("pipelines.db")).ok());
    id = *store.CreateRun({"continuous-learning", "fan-mlp", "cli", "test"});
    ASSERT_TRUE(store.StartStep(id, "extract").ok());  // the process dies here
  }
  auto s = Service(Config());
  ASSERT_TRUE(s->RunNext());
  auto run = s->store().Get(id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded) << run->reason;
  ASSERT_GE(run->steps.size(), 2u);
  EXPECT_EQ(run->steps[0].status, StepStatus::kInterrupted);
  EXPECT_EQ(run->steps[1].step, "extract");
  EXPECT_EQ(run->steps[1].attempt, 2);
  EXPECT_EQ(run->steps[1].status, StepStatus::kSucceeded);
}

TEST_F(PipelineServiceTest, ShutdownInAStepTerminatesItAndLeavesTheRunToRecovery) {
  int64_t id = 0;
  {
    auto s = Service(Config(), /*worker=*/true, /*slow_step=*/"train");
    auto submitted = s->Submit(Request(), "api");
    ASSERT_TRUE(submitted.ok());
    id = *submitted;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = s->store().Get(id);
          return r.ok() && !r->steps.empty() && r->steps.back().step == "train" &&
                 r->steps.back().status == StepStatus::kRunning;
        },
        30s));
    const auto t0 = std::chrono::steady_clock::now();
    s->Stop();  // SIGTERM to the step's group; the script exits at once
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
    auto r = s->store().Get(id);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, RunStatus::kRunning);  // left for recovery, as after a crash
    EXPECT_EQ(r->steps.back().status, StepStatus::kRunning);
  }
  auto s = Service(Config());  // train has a retry: resumed
  ASSERT_TRUE(s->RunNext());
  auto run = s->store().Get(id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded) << run->reason;
  int train_attempts = 0;
  for (const auto& st : run->steps) train_attempts += st.step == "train";
  EXPECT_EQ(train_attempts, 2);
}

TEST_F(PipelineServiceTest, ConfigurationErrorsNameTheKey) {
  PipelineConfig c;
  c.params = {{"nope", "1"}};
  c.timeouts_s = {{"train", "0"}, {"bake", "10"}};
  c.control_topic = "a/#";
  config::Checks checks;
  Validate(checks, c);
  ASSERT_EQ(checks.problems().size(), 4u);
  std::string all;
  for (const auto& p : checks.problems()) all += p.ToString() + "\n";
  EXPECT_NE(all.find("`nope` is not a parameter"), std::string::npos) << all;
  EXPECT_NE(all.find("`bake` is not a step"), std::string::npos) << all;
  EXPECT_NE(all.find("`train: 0` is not a whole number"), std::string::npos) << all;
  EXPECT_NE(all.find("control_topic"), std::string::npos) << all;
  // Loaded from a file, each problem names the key and the line.
  PipelineConfig loaded;
  try {
    config::LoadYaml(
        "enabled: true\nparams:\n  seed: 3\n  nope: 1\ntriggers:\n  schedule: \"61 * * * *\"\n",
        "aiot.yaml", config::DescriberFor(loaded));
    ADD_FAILURE() << "loaded";
  } catch (const config::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("params: parameter `nope` is not a parameter"), std::string::npos) << what;
    EXPECT_NE(what.find("aiot.yaml:3)"), std::string::npos) << what;  // the map's first line
    EXPECT_NE(what.find("triggers.schedule: minute: `61` is out of range"), std::string::npos)
        << what;
    EXPECT_NE(what.find("aiot.yaml:6"), std::string::npos) << what;
  }
  const Dag dag = WithTimeouts(TrainingPipeline(), {{"train", "90"}});
  EXPECT_EQ(dag.Find("train")->timeout, 90s);
}

}  // namespace
}  // namespace aiot::pipeline
