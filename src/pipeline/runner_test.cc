#include "pipeline/runner.h"

#include <gtest/gtest.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errc.h"
#include "tests/support/testing.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;

// A TrainingPipeline runner on a ManualClock whose backoff sleeps advance the clock and are
// recorded. Every step succeeds unless a test replaces it.
class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Open(":memory:").ok());
    for (const Step& s : TrainingPipeline().steps) {
      runner_.SetStep(s.name, [this, name = s.name](const StepContext& ctx) {
        Record(name, ctx);
        return StepOutput{kStepOk, name + " ok\n", "{}"};
      });
    }
  }

  void Record(const std::string& name, const StepContext& ctx) {
    std::lock_guard lock(mu_);
    calls_.push_back(name + "#" + std::to_string(ctx.attempt));
  }

  std::vector<std::string> Calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  int64_t NewRunId(const std::string& model = "fan-mlp") {
    auto id = store_.CreateRun(NewRun{"continuous-learning", model, "cli", "0.1.0-test"});
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  ManualClock clock_{1'000'000'000};
  RunStore store_{clock_};
  std::vector<std::chrono::nanoseconds> sleeps_;
  Runner runner_{TrainingPipeline(), store_, clock_,
                 [this](std::chrono::nanoseconds d) {
                   sleeps_.push_back(d);
                   clock_.Advance(d);
                 },
                 RunnerOptions{"/data/runs", 1ms}};
  std::mutex mu_;
  std::vector<std::string> calls_;
};

TEST_F(RunnerTest, RunsEveryStepInOrderAndRecordsThem) {
  std::vector<std::string> drift_argv;
  runner_.SetStep("drift", [&](const StepContext& ctx) {
    Record("drift", ctx);
    drift_argv = ctx.argv;
    return StepOutput{kStepOk, "max PSI 0.41 > 0.2\n", R"({"report":"drift.json"})"};
  });
  const int64_t id = NewRunId();
  auto run = runner_.Execute(id, {{"psi_threshold", "0.3"}});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(Calls(),
            (std::vector<std::string>{"extract#1", "validate#1", "drift#1", "train#1", "evaluate#1",
                                      "quantize#1", "register#1", "rollout#1"}));
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  EXPECT_EQ(run->decision, "completed");
  EXPECT_EQ(run->reason, "all 8 steps succeeded");
  ASSERT_EQ(run->steps.size(), 8u);
  for (const StepRecord& s : run->steps) EXPECT_EQ(s.status, StepStatus::kSucceeded) << s.step;
  EXPECT_EQ(run->steps[2].artifacts, R"({"report":"drift.json"})");
  EXPECT_EQ(run->steps[2].log_tail, "max PSI 0.41 > 0.2\n");
  const std::string run_dir = "/data/runs/" + std::to_string(id);
  EXPECT_EQ(drift_argv, (std::vector<std::string>{"aiot", "pipeline", "step", "drift", "--run-dir",
                                                  run_dir, "--model", "fan-mlp", "--force", "false",
                                                  "--ks-alpha", "0.05", "--psi-threshold", "0.3"}));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RunnerTest, NoDriftEndsTheRunSuccessfullyWithTheDecision) {
  runner_.SetStep("drift", [&](const StepContext& ctx) {
    Record("drift", ctx);
    return StepOutput{kStepStop, "checked 6 features\nmax PSI 0.03 < 0.2\n", "{}"};
  });
  auto run = runner_.Execute(NewRunId());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(Calls(), (std::vector<std::string>{"extract#1", "validate#1", "drift#1"}));
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  EXPECT_EQ(run->decision, "no_drift");
  EXPECT_EQ(run->reason, "max PSI 0.03 < 0.2");
  EXPECT_EQ(run->steps.back().status, StepStatus::kStopped);
  EXPECT_EQ(run->steps.back().exit_code, kStepStop);
}

TEST_F(RunnerTest, RetriesWithDoublingBackoffOnTheClock) {
  int failures = 2;  // extract has 2 retries: the third attempt succeeds
  runner_.SetStep("extract", [&](const StepContext& ctx) {
    Record("extract", ctx);
    if (failures-- > 0) return StepOutput{kStepFailed, "datastore busy\n", "{}"};
    return StepOutput{kStepOk, "", "{}"};
  });
  auto run = runner_.Execute(NewRunId());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  EXPECT_EQ(sleeps_, (std::vector<std::chrono::nanoseconds>{10s, 20s}));
  ASSERT_GE(run->steps.size(), 3u);
  EXPECT_EQ(run->steps[0].status, StepStatus::kFailed);
  EXPECT_EQ(run->steps[0].exit_code, kStepFailed);
  EXPECT_EQ(run->steps[1].attempt, 2);
  EXPECT_EQ(run->steps[2].attempt, 3);
  EXPECT_EQ(run->steps[2].status, StepStatus::kSucceeded);
  // The retry started after the backoff on the clock.
  EXPECT_EQ(run->steps[1].started_ns - run->steps[0].finished_ns, 10'000'000'000);
  EXPECT_EQ(run->steps[2].started_ns - run->steps[1].finished_ns, 20'000'000'000);
}

TEST_F(RunnerTest, AFailureWithoutRetriesLeftFailsTheRunAndStopsThere) {
  runner_.SetStep("validate", [&](const StepContext& ctx) {
    Record("validate", ctx);
    return StepOutput{kStepFailed, "validating data.csv\n412 rows < min_rows 1000\n", "{}"};
  });
  auto run = runner_.Execute(NewRunId());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Calls(), (std::vector<std::string>{"extract#1", "validate#1"}));
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->reason, "step validate failed (exit 1): 412 rows < min_rows 1000");
  EXPECT_TRUE(sleeps_.empty());  // validate has no retries
}

TEST_F(RunnerTest, UsageErrorsAreNotRetried) {
  runner_.SetStep("extract", [&](const StepContext& ctx) {
    Record("extract", ctx);
    return StepOutput{kStepUsage, "unknown flag --window\n", "{}"};
  });
  auto run = runner_.Execute(NewRunId());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Calls(), (std::vector<std::string>{"extract#1"}));  // despite 2 retries
  EXPECT_EQ(run->reason, "step extract failed (exit 2): unknown flag --window");
}

TEST_F(RunnerTest, ATimedOutAttemptIsCancelledAndRetried) {
  runner_.SetStep("train", [&](const StepContext& ctx) {
    Record("train", ctx);
    if (ctx.attempt == 1) {
      clock_.Advance(31min);  // train's timeout is 30 min
      EXPECT_TRUE(test_support::WaitFor([&] { return ctx.cancelled(); }));
      return StepOutput{kStepOk, "epoch 7/20", "{}"};  // too late: still a timeout
    }
    EXPECT_FALSE(ctx.cancelled());
    return StepOutput{kStepOk, "trained", "{}"};
  });
  auto run = runner_.Execute(NewRunId());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  const StepRecord* first = nullptr;
  for (const StepRecord& s : run->steps) {
    if (s.step == "train" && s.attempt == 1) first = &s;
  }
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->status, StepStatus::kFailed);
  EXPECT_EQ(first->exit_code, 137);
  EXPECT_EQ(first->log_tail, "epoch 7/20\ntimed out after 1800 s");
  EXPECT_EQ(sleeps_, (std::vector<std::chrono::nanoseconds>{10s}));
}

TEST_F(RunnerTest, ExceptionsAndMissingStepsFailCleanly) {
  runner_.SetStep("quantize", [&](const StepContext&) -> StepOutput {
    throw std::runtime_error("no int8 kernel");
  });
  auto run = runner_.Execute(NewRunId("fan-a"));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->reason, "step quantize failed (exit 137): exception: no int8 kernel");

  runner_.SetStep("quantize", [](const StepContext&) { return StepOutput{kStepOk, "", "{}"}; });
  runner_.SetStep("rollout", nullptr);
  auto missing = runner_.Execute(NewRunId("fan-b"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->reason, "no function for step rollout");

  // Artifacts that are not a JSON object.
  runner_.SetStep("extract", [](const StepContext&) { return StepOutput{kStepOk, "", "[]"}; });
  auto not_object = runner_.Execute(NewRunId("fan-d"));
  ASSERT_TRUE(not_object.ok());
  EXPECT_EQ(not_object->status, RunStatus::kFailed);
  EXPECT_EQ(not_object->reason, "step `extract`: artifacts must be a JSON object");
  EXPECT_EQ(not_object->steps[0].status, StepStatus::kFailed);
  // A finished run cannot be executed again.
  EXPECT_EQ(runner_.Execute(not_object->id).error(), make_error_code(errc::invalid_argument));
}

TEST_F(RunnerTest, AResumedRunContinuesFromItsLastFinishedStep) {
  const int64_t id = NewRunId();
  for (const char* step : {"extract", "validate", "drift"}) {
    auto attempt = store_.StartStep(id, step);
    ASSERT_TRUE(attempt.ok());
    ASSERT_TRUE(store_.FinishStep(id, step, *attempt, StepResult()).ok());
  }
  ASSERT_TRUE(store_.StartStep(id, "train").ok());  // then the process was killed
  auto recovered = store_.RecoverAfterRestart(TrainingPipeline());
  ASSERT_TRUE(recovered.ok());
  ASSERT_TRUE(recovered->at(0).resumed);

  auto run = runner_.Execute(id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Calls(), (std::vector<std::string>{"train#2", "evaluate#1", "quantize#1", "register#1",
                                               "rollout#1"}));
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
}

TEST_F(RunnerTest, AResumedStepWithoutAttemptsLeftFailsTheRun) {
  const int64_t id = NewRunId();
  ASSERT_TRUE(store_.StartStep(id, "extract").ok());
  ASSERT_TRUE(store_.FinishStep(id, "extract", 1, StepResult()).ok());
  ASSERT_TRUE(store_.StartStep(id, "validate").ok());
  StepResult failed;
  failed.status = StepStatus::kFailed;
  failed.exit_code = kStepFailed;
  ASSERT_TRUE(store_.FinishStep(id, "validate", 1, failed).ok());  // then killed before FinishRun
  auto run = runner_.Execute(id);
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(Calls().empty());
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->reason, "step validate has no attempts left (1 used)");
}

TEST_F(RunnerTest, CancelStopsTheCurrentStepAndEndsTheRunCancelled) {
  const int64_t id = NewRunId();
  runner_.SetStep("train", [&](const StepContext& ctx) {
    Record("train", ctx);
    runner_.Cancel(id);  // as `aiot pipeline cancel` would, from another thread
    EXPECT_TRUE(test_support::WaitFor([&] { return ctx.cancelled(); }));
    return StepOutput{kStepFailed, "cancelled", "{}"};
  });
  auto run = runner_.Execute(id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kCancelled);
  EXPECT_EQ(run->reason, "cancelled in step train");
  EXPECT_EQ(Calls().back(), "train#1");  // no retry
  EXPECT_TRUE(sleeps_.empty());
}

}  // namespace
}  // namespace aiot::pipeline
