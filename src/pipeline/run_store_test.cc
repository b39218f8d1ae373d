#include "pipeline/run_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "base/errc.h"
#include "tests/support/temp_dir.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;

using test_support::TempDir;

NewRun ARun(std::string model = "fan-mlp", std::string trigger = "cli") {
  return NewRun{.pipeline = "continuous-learning",
                .model = std::move(model),
                .trigger = std::move(trigger),
                .code_version = "0.1.0-abc"};
}

StepResult Res(StepStatus status = StepStatus::kSucceeded, std::optional<int> exit_code = 0,
               std::string log = "", std::string artifacts = "{}") {
  StepResult r;
  r.status = status;
  r.exit_code = exit_code;
  r.log = std::move(log);
  r.artifacts = std::move(artifacts);
  return r;
}

RunFilter Filter(std::string model, std::optional<RunStatus> status = std::nullopt,
                 int limit = 100) {
  RunFilter f;
  f.model = std::move(model);
  f.status = status;
  f.limit = limit;
  return f;
}

class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Open(":memory:").ok()); }
  ManualClock clock_{1'000'000'000};
  RunStore store_{clock_};
};

TEST_F(RunStoreTest, ARunAndItsStepsRoundTrip) {
  auto id = store_.CreateRun(ARun());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto queued = store_.Get(*id);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->status, RunStatus::kQueued);
  EXPECT_EQ(queued->created_ns, 1'000'000'000);
  EXPECT_EQ(queued->started_ns, 0);
  EXPECT_EQ(queued->code_version, "0.1.0-abc");
  EXPECT_EQ(queued->trigger, "cli");

  clock_.Advance(1s);
  auto attempt = store_.StartStep(*id, "extract");
  ASSERT_TRUE(attempt.ok()) << attempt.status().ToString();
  EXPECT_EQ(*attempt, 1);
  clock_.Advance(2s);
  ASSERT_TRUE(store_
                  .FinishStep(*id, "extract", 1,
                              Res(StepStatus::kSucceeded, 0, "12000 rows\n",
                                  R"({"data.csv":"/r/1/data.csv","rows":12000})"))
                  .ok());
  clock_.Advance(1s);
  ASSERT_TRUE(store_.StartStep(*id, "drift").ok());
  ASSERT_TRUE(store_.FinishStep(*id, "drift", 1, Res(StepStatus::kStopped, kStepStop)).ok());
  ASSERT_TRUE(store_.FinishRun(*id, RunStatus::kSucceeded, "no_drift", "max PSI 0.03 < 0.2").ok());

  auto run = store_.Get(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  EXPECT_EQ(run->started_ns, 2'000'000'000);
  EXPECT_EQ(run->finished_ns, 5'000'000'000);
  EXPECT_EQ(run->decision, "no_drift");
  EXPECT_EQ(run->reason, "max PSI 0.03 < 0.2");
  ASSERT_EQ(run->steps.size(), 2u);
  const StepRecord& extract = run->steps[0];
  EXPECT_EQ(extract.step, "extract");
  EXPECT_EQ(extract.status, StepStatus::kSucceeded);
  EXPECT_EQ(extract.started_ns, 2'000'000'000);
  EXPECT_EQ(extract.finished_ns, 4'000'000'000);
  EXPECT_EQ(extract.exit_code, 0);
  EXPECT_EQ(extract.log_tail, "12000 rows\n");
  EXPECT_EQ(extract.artifacts, R"({"data.csv":"/r/1/data.csv","rows":12000})");
  EXPECT_EQ(run->steps[1].status, StepStatus::kStopped);
  EXPECT_EQ(run->steps[1].exit_code, kStepStop);
}

TEST_F(RunStoreTest, OneActiveRunPerModel) {
  auto first = store_.CreateRun(ARun("fan-mlp"));
  ASSERT_TRUE(first.ok());
  auto second = store_.CreateRun(ARun("fan-mlp", "drift"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(), make_error_code(errc::already_exists));
  EXPECT_EQ(second.status().message(),
            "model `fan-mlp` already has an active run (run " + std::to_string(*first) + ")");
  // Another model is independent; a running run blocks as a queued one does.
  ASSERT_TRUE(store_.CreateRun(ARun("pump-mlp")).ok());
  ASSERT_TRUE(store_.StartStep(*first, "extract").ok());
  EXPECT_EQ(store_.CreateRun(ARun("fan-mlp")).error(), make_error_code(errc::already_exists));
  // Once it is finished the model may run again.
  ASSERT_TRUE(store_.FinishRun(*first, RunStatus::kFailed, "", "extract failed").ok());
  auto third = store_.CreateRun(ARun("fan-mlp"));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_GT(*third, *first);
}

TEST_F(RunStoreTest, AttemptsCountUpAndTransitionsAreChecked) {
  auto id = store_.CreateRun(ARun());
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(*store_.StartStep(*id, "train"), 1);
  auto twice = store_.StartStep(*id, "train");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "step `train` of run " + std::to_string(*id) + " is already running");
  ASSERT_TRUE(store_.FinishStep(*id, "train", 1, Res(StepStatus::kFailed, 1)).ok());
  // Finishing it again, or an attempt that never started: not found.
  Status again = store_.FinishStep(*id, "train", 1, {});
  EXPECT_EQ(again.code(), make_error_code(errc::not_found));
  EXPECT_EQ(again.message(),
            "run " + std::to_string(*id) + " has no running step `train` attempt 1");
  EXPECT_EQ(store_.FinishStep(*id, "train", 7, {}).code(), make_error_code(errc::not_found));
  ASSERT_EQ(*store_.StartStep(*id, "train"), 2);
  EXPECT_EQ(store_.FinishStep(*id, "train", 2, Res(StepStatus::kRunning)).code(),
            make_error_code(errc::invalid_argument));
  EXPECT_EQ(store_.FinishStep(*id, "train", 2, Res(StepStatus::kSucceeded, 0, "", "[1]")).message(),
            "step `train`: artifacts must be a JSON object");
  EXPECT_EQ(store_.FinishStep(*id, "train", 2, Res(StepStatus::kSucceeded, 0, "", "{")).code(),
            make_error_code(errc::invalid_argument));
  // Finishing the run interrupts what still runs; afterwards nothing starts.
  ASSERT_TRUE(store_.FinishRun(*id, RunStatus::kCancelled, "", "cancelled by admin").ok());
  auto run = store_.Get(*id);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->steps.size(), 2u);
  EXPECT_EQ(run->steps[1].status, StepStatus::kInterrupted);
  EXPECT_EQ(run->steps[1].log_tail, "[interrupted: the run ended: cancelled by admin]");
  auto late = store_.StartStep(*id, "evaluate");
  EXPECT_EQ(late.status().message(),
            "run " + std::to_string(*id) + " is cancelled: no step can start");
  EXPECT_EQ(store_.FinishRun(*id, RunStatus::kFailed, "", "x").message(),
            "run " + std::to_string(*id) + " is already cancelled");
  EXPECT_EQ(store_.FinishRun(*id, RunStatus::kRunning, "", "x").code(),
            make_error_code(errc::invalid_argument));
}

TEST_F(RunStoreTest, UnknownRunsAndBadValues) {
  EXPECT_EQ(store_.Get(42).error(), make_error_code(errc::not_found));
  EXPECT_EQ(store_.StartStep(42, "extract").error(), make_error_code(errc::not_found));
  EXPECT_EQ(store_.FinishRun(42, RunStatus::kFailed, "", "").code(),
            make_error_code(errc::not_found));
  EXPECT_EQ(store_.CreateRun(ARun("../etc")).status().message(),
            "model `../etc` must be 1..64 of [A-Za-z0-9._-]");
  EXPECT_EQ(store_.CreateRun(ARun("fan", "")).status().message(), "trigger must be 1..128 bytes");
  auto id = store_.CreateRun(ARun());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(store_.StartStep(*id, "").status().message(), "step must be 1..128 bytes");
}

TEST_F(RunStoreTest, LogTailIsBoundedToItsEnd) {
  auto id = store_.CreateRun(ARun());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store_.StartStep(*id, "train").ok());
  // 20000 bytes of "é" (2 bytes each) after a head, ending with a marker.
  std::string log = "HEAD";
  for (int i = 0; i < 10000; ++i) log += "\xc3\xa9";
  log += "END";
  ASSERT_TRUE(store_.FinishStep(*id, "train", 1, Res(StepStatus::kSucceeded, 0, log)).ok());
  auto run = store_.Get(*id);
  ASSERT_TRUE(run.ok());
  const std::string& tail = run->steps[0].log_tail;
  EXPECT_LE(tail.size(), kMaxLogTail);
  EXPECT_GE(tail.size(), kMaxLogTail - 1);
  EXPECT_EQ(tail.substr(tail.size() - 3), "END");
  EXPECT_EQ(tail.find("HEAD"), std::string::npos);
  EXPECT_NE(static_cast<unsigned char>(tail[0]) & 0xC0, 0x80);  // not cut inside a character
}

TEST_F(RunStoreTest, ListIsNewestFirstAndFilters) {
  auto a = store_.CreateRun(ARun("fan-a"));
  auto b = store_.CreateRun(ARun("fan-b"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store_.FinishRun(*a, RunStatus::kSucceeded, "promoted", "f1 0.93 > 0.90").ok());
  auto c = store_.CreateRun(ARun("fan-a"));
  ASSERT_TRUE(c.ok());
  auto ids = [](const Result<std::vector<RunRecord>>& r) {
    std::vector<int64_t> out;
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      for (const RunRecord& x : *r) out.push_back(x.id);
    }
    return out;
  };
  EXPECT_EQ(ids(store_.List()), (std::vector<int64_t>{*c, *b, *a}));
  EXPECT_EQ(ids(store_.List(Filter("fan-a"))), (std::vector<int64_t>{*c, *a}));
  EXPECT_EQ(ids(store_.List(Filter("", RunStatus::kSucceeded))), (std::vector<int64_t>{*a}));
  EXPECT_EQ(ids(store_.List(Filter("", std::nullopt, 1))), (std::vector<int64_t>{*c}));
  EXPECT_TRUE(store_.List(Filter("none"))->empty());
  auto listed = store_.List(Filter("fan-a", RunStatus::kSucceeded));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().decision, "promoted");
  EXPECT_TRUE(listed->front().steps.empty());
}

// A store on disk: what one RunStore wrote, the next one (a restarted process) reads.
class RunStoreFileTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("pipelines.db");
  ManualClock clock_{1'000'000'000};
};

TEST_F(RunStoreFileTest, RecoveryResumesWhileAttemptsRemainThenFails) {
  const Dag dag = TrainingPipeline();  // train: 1 retry; validate: none
  int64_t resumable = 0, doomed = 0, between = 0;
  {
    RunStore store(clock_);
    ASSERT_TRUE(store.Open(path_).ok());
    resumable = *store.CreateRun(ARun("fan-a"));
    ASSERT_TRUE(store.StartStep(resumable, "extract").ok());
    ASSERT_TRUE(store.FinishStep(resumable, "extract", 1, {}).ok());
    ASSERT_TRUE(store.StartStep(resumable, "train").ok());
    doomed = *store.CreateRun(ARun("fan-b"));
    ASSERT_TRUE(store.StartStep(doomed, "validate").ok());
    between = *store.CreateRun(ARun("fan-c"));
    ASSERT_TRUE(store.StartStep(between, "extract").ok());
    ASSERT_TRUE(store.FinishStep(between, "extract", 1, {}).ok());
    // The process "dies" here: the store is dropped with steps running.
  }
  RunStore store(clock_);
  ASSERT_TRUE(store.Open(path_).ok());
  auto recovered = store.RecoverAfterRestart(dag);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  ASSERT_EQ(recovered->size(), 3u);
  EXPECT_EQ((*recovered)[0].interrupted_step, "train");
  EXPECT_TRUE((*recovered)[0].resumed);
  EXPECT_EQ((*recovered)[1].interrupted_step, "validate");
  EXPECT_FALSE((*recovered)[1].resumed);
  EXPECT_EQ((*recovered)[2].interrupted_step, "");
  EXPECT_TRUE((*recovered)[2].resumed);

  EXPECT_EQ(store.Get(resumable)->status, RunStatus::kRunning);
  EXPECT_EQ(store.Get(resumable)->steps.back().status, StepStatus::kInterrupted);
  auto failed = store.Get(doomed);
  EXPECT_EQ(failed->status, RunStatus::kFailed);
  EXPECT_EQ(failed->reason, "interrupted in step validate");
  EXPECT_EQ(store.Get(between)->status, RunStatus::kRunning);
  // The resumed run retries train as attempt 2; dying in it again exhausts train's retries.
  ASSERT_EQ(*store.StartStep(resumable, "train"), 2);
  auto again = store.RecoverAfterRestart(dag);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 2u);  // resumable and between
  EXPECT_FALSE((*again)[0].resumed);
  EXPECT_EQ(store.Get(resumable)->reason, "interrupted in step train");
  // A second recovery with nothing running changes nothing.
  auto idle = store.RecoverAfterRestart(dag);
  ASSERT_EQ(idle->size(), 1u);
  EXPECT_TRUE(idle->front().resumed);
}

// A real process is killed with SIGKILL in the middle of a step; the parent recovers.
TEST_F(RunStoreFileTest, RecoversAfterTheProcessRunningAStepIsKilled) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    RunStore store;
    bool ok = store.Open(path_).ok();
    auto id = store.CreateRun(ARun("fan-mlp", "drift"));
    ok = ok && id.ok() && store.StartStep(*id, "extract").ok() &&
         store.FinishStep(*id, "extract", 1, Res(StepStatus::kSucceeded, 0, "extracted")).ok() &&
         store.StartStep(*id, "register").ok();
    const char byte = ok ? 'y' : 'n';
    (void)!::write(ready[1], &byte, 1);
    for (;;) ::pause();  // "registering" until killed
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);  // the child has started `register`
  ::close(ready[0]);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(byte, 'y') << "the child could not set up its run";

  RunStore store;
  ASSERT_TRUE(store.Open(path_).ok());
  // The killed process's run still holds the model.
  EXPECT_EQ(store.CreateRun(ARun("fan-mlp")).error(), make_error_code(errc::already_exists));
  auto recovered = store.RecoverAfterRestart(TrainingPipeline());
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ(recovered->front().interrupted_step, "register");
  EXPECT_TRUE(recovered->front().resumed);  // register has 2 retries
  auto run = store.Get(recovered->front().run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kRunning);
  ASSERT_EQ(run->steps.size(), 2u);
  EXPECT_EQ(run->steps[0].status, StepStatus::kSucceeded);  // the last finished step
  EXPECT_EQ(run->steps[0].log_tail, "extracted");
  EXPECT_EQ(run->steps[1].status, StepStatus::kInterrupted);
  EXPECT_EQ(run->steps[1].log_tail, "[interrupted: the process running it ended]");
  EXPECT_GT(run->steps[1].finished_ns, 0);
  EXPECT_EQ(*store.StartStep(run->id, "register"), 2);
}

}  // namespace
}  // namespace aiot::pipeline
