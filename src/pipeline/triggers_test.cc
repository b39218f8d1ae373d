#include "pipeline/triggers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/config.h"
#include "pipeline/test_time.h"
#include "tests/support/config.h"

namespace aiot::pipeline {
namespace {

using test_time::At;
using TimePoint = TriggerPolicy::TimePoint;
using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t Nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::unique_ptr<TriggerPolicy> Make(const TriggerConfig& config, const Clock& clock,
                                    std::vector<std::string> models = {"fan-mlp"}) {
  auto p = TriggerPolicy::Create(config, clock, std::move(models));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

TEST(TriggerPolicy, DriftStormStartsOneRun) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  int started = 0;
  TriggerDecision last;
  for (int i = 0; i < 100; ++i) {  // 100 events within one second
    TimePoint at = At(2026, 12, 2, 10, 0) + milliseconds(10 * i);
    TriggerDecision d = policy->OnDriftEvent("fan-mlp", at);
    EXPECT_EQ(d.trigger, "drift");
    if (d.start) {
      ++started;
      policy->RecordRunStarted("fan-mlp", kTriggerDrift, at);
    }
    last = d;
  }
  EXPECT_EQ(started, 1);
  EXPECT_FALSE(last.start);
  EXPECT_EQ(last.reason,
            "cooldown until 2026-12-02T11:00:00.000Z (drift run started at "
            "2026-12-02T10:00:00.000Z)");
  // Another model has its own cooldown.
  EXPECT_TRUE(policy->OnDriftEvent("pump-mlp", At(2026, 12, 2, 10, 0, 1)).start);
}

TEST(TriggerPolicy, DriftStormFromManyThreadsStartsOneRun) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (policy->OnDriftEvent("fan-mlp", At(2026, 12, 2, 10, 0, 1)).start) ++started;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(started.load(), 1);
}

TEST(TriggerPolicy, DriftCooldownExpires) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  TriggerConfig config;
  config.drift.cooldown_s = 600;
  auto policy = Make(config, clock);
  TimePoint t0 = At(2026, 12, 2, 10, 0);
  ASSERT_TRUE(policy->OnDriftEvent("fan-mlp", t0).start);
  EXPECT_FALSE(policy->OnDriftEvent("fan-mlp", t0 + seconds(599)).start);
  TriggerDecision after = policy->OnDriftEvent("fan-mlp", t0 + seconds(600));
  EXPECT_TRUE(after.start) << after.reason;
  EXPECT_EQ(after.reason, "drift detected for fan-mlp at 2026-12-02T10:10:00.000Z");
  // The cooldown now counts from the second run.
  TriggerDecision again = policy->OnDriftEvent("fan-mlp", t0 + seconds(900));
  EXPECT_FALSE(again.start);
  EXPECT_NE(again.reason.find("cooldown until 2026-12-02T10:20:00.000Z"), std::string::npos)
      << again.reason;
}

TEST(TriggerPolicy, OnlyDriftRunsStartTheCooldown) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 2, 10, 0));
  policy->RecordRunStarted("fan-mlp", "cli", At(2026, 12, 2, 10, 1));
  EXPECT_TRUE(policy->OnDriftEvent("fan-mlp", At(2026, 12, 2, 10, 2)).start);
  // A drift run recorded by the caller (e.g. after a restart) starts one too.
  policy->RecordRunStarted("pump-mlp", kTriggerDrift, At(2026, 12, 2, 9, 30));
  EXPECT_FALSE(policy->OnDriftEvent("pump-mlp", At(2026, 12, 2, 10, 2)).start);
  EXPECT_TRUE(policy->OnDriftEvent("pump-mlp", At(2026, 12, 2, 10, 30)).start);
}

TEST(TriggerPolicy, DriftDisabledStartsNothing) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  TriggerConfig config;
  config.drift.enabled = false;
  auto policy = Make(config, clock);
  TriggerDecision d = policy->OnDriftEvent("fan-mlp", At(2026, 12, 2, 10, 0));
  EXPECT_FALSE(d.start);
  EXPECT_EQ(d.trigger, "drift");
  EXPECT_NE(d.reason.find("disabled"), std::string::npos) << d.reason;
}

TEST(TriggerPolicy, ScheduleFiresFromTheStartAndNotBefore) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 20)));
  TriggerConfig config;
  config.schedule = "0 * * * *";
  auto policy = Make(config, clock, {"fan-mlp", "pump-mlp"});
  EXPECT_TRUE(policy->Due().empty());  // 10:00 was before the start: no run for it
  ASSERT_TRUE(policy->NextScheduled("fan-mlp"));
  EXPECT_EQ(*policy->NextScheduled("fan-mlp"), At(2026, 12, 2, 11, 0));
  clock.Set(Nanos(At(2026, 12, 2, 10, 59, 59)));
  EXPECT_TRUE(policy->Due().empty());
  clock.Set(Nanos(At(2026, 12, 2, 11, 0)));
  EXPECT_EQ(policy->Due(), (std::vector<std::string>{"fan-mlp", "pump-mlp"}));
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 2, 11, 0, 2));
  EXPECT_EQ(policy->Due(), (std::vector<std::string>{"pump-mlp"}));
  // A run by another trigger does not count as the scheduled one.
  policy->RecordRunStarted("pump-mlp", kTriggerDrift, At(2026, 12, 2, 11, 0, 3));
  EXPECT_EQ(policy->Due(), (std::vector<std::string>{"pump-mlp"}));
}

TEST(TriggerPolicy, ScheduleAfterDowntimeRunsOnceNotPerMissedSlot) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  TriggerConfig config;
  config.schedule = "*/15 * * * *";
  auto policy = Make(config, clock);
  clock.Set(Nanos(At(2026, 12, 2, 10, 15)));
  ASSERT_EQ(policy->Due().size(), 1u);
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 2, 10, 15));
  // Down for 10 hours: 40 firings missed.
  clock.Set(Nanos(At(2026, 12, 2, 20, 7)));
  EXPECT_EQ(policy->Due(), (std::vector<std::string>{"fan-mlp"}));
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 2, 20, 7));
  EXPECT_TRUE(policy->Due().empty());
  EXPECT_EQ(*policy->NextScheduled("fan-mlp"), At(2026, 12, 2, 20, 15));
  clock.Set(Nanos(At(2026, 12, 2, 20, 15)));
  EXPECT_EQ(policy->Due().size(), 1u);
}

TEST(TriggerPolicy, ScheduleAfterRestartSeededFromTheLastRunRunsOnce) {
  // A new policy (a restarted `aiot up`) told the last scheduled run from the RunStore.
  ManualClock clock(Nanos(At(2026, 12, 3, 9, 30)));
  TriggerConfig config;
  config.schedule = "@daily";
  auto policy = Make(config, clock);
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 1, 0, 0, 5));
  EXPECT_EQ(policy->Due(), (std::vector<std::string>{"fan-mlp"}));
  policy->RecordRunStarted("fan-mlp", kTriggerSchedule, At(2026, 12, 3, 9, 30));
  EXPECT_TRUE(policy->Due().empty());
  EXPECT_TRUE(policy->Due(At(2026, 12, 4, 0, 0)).size() == 1u);
}

TEST(TriggerPolicy, NoScheduleIsNeverDue) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  EXPECT_TRUE(policy->Due(At(2030, 1, 1, 0, 0)).empty());
  EXPECT_FALSE(policy->NextScheduled("fan-mlp"));
}

TEST(TriggerPolicy, RowsStartAtTheThreshold) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  TriggerConfig config;
  config.min_new_rows = 1000;
  auto policy = Make(config, clock);
  TriggerDecision below = policy->OnLabelledRows("fan-mlp", 999);
  EXPECT_FALSE(below.start);
  EXPECT_EQ(below.trigger, "rows");
  EXPECT_EQ(below.reason, "999 new labelled rows for fan-mlp since its last run, fewer than 1000");
  TriggerDecision at = policy->OnLabelledRows("fan-mlp", 1000);
  EXPECT_TRUE(at.start);
  EXPECT_EQ(at.reason, "1000 new labelled rows for fan-mlp since its last run (threshold 1000)");
  EXPECT_TRUE(policy->OnLabelledRows("fan-mlp", 5000).start);
}

TEST(TriggerPolicy, RowsOffByDefault) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  TriggerDecision d = policy->OnLabelledRows("fan-mlp", 1'000'000);
  EXPECT_FALSE(d.start);
  EXPECT_NE(d.reason.find("off"), std::string::npos) << d.reason;
}

TEST(TriggerPolicy, LastRunIsTheLatestOfAnyTrigger) {
  ManualClock clock(Nanos(At(2026, 12, 2, 10, 0)));
  auto policy = Make(TriggerConfig{}, clock);
  EXPECT_FALSE(policy->LastRun("fan-mlp"));
  policy->RecordRunStarted("fan-mlp", kTriggerRows, At(2026, 12, 2, 10, 0));
  policy->RecordRunStarted("fan-mlp", "cli", At(2026, 12, 2, 11, 0));
  policy->RecordRunStarted("fan-mlp", kTriggerDrift, At(2026, 12, 2, 10, 30));  // out of order
  ASSERT_TRUE(policy->LastRun("fan-mlp"));
  EXPECT_EQ(*policy->LastRun("fan-mlp"), At(2026, 12, 2, 11, 0));
}

// The problems of one `triggers` document, each as "key: what (where)".
std::vector<std::string> ProblemsOf(const std::string& yaml, TriggerConfig& c) {
  return test_support::LoadProblems(yaml, "t.yaml", [&c](config::Visitor& v) {
    config::Section(v, "triggers", c, "Pipeline triggers.");
  });
}

TEST(TriggerConfig, LoadsEveryKey) {
  TriggerConfig c;
  EXPECT_TRUE(c.drift.enabled);
  EXPECT_EQ(c.drift.cooldown_s, 3600);
  EXPECT_EQ(ProblemsOf("triggers:\n  drift:\n    enabled: false\n    cooldown_s: 60\n"
                       "  schedule: \"0 3 * * MON-FRI\"\n  min_new_rows: 500\n",
                       c),
            std::vector<std::string>{});
  EXPECT_FALSE(c.drift.enabled);
  EXPECT_EQ(c.drift.cooldown_s, 60);
  EXPECT_EQ(c.schedule, "0 3 * * MON-FRI");
  EXPECT_EQ(c.min_new_rows, 500);
}

TEST(TriggerConfig, ErrorsNameKeyAndLine) {
  TriggerConfig c;
  EXPECT_EQ(
      ProblemsOf("triggers:\n  schedule: \"0 25 * * *\"\n", c),
      std::vector<std::string>{"triggers.schedule: hour: `25` is out of range 0-23 (t.yaml:2)"});
  TriggerConfig d;
  EXPECT_EQ(ProblemsOf("triggers:\n  min_new_rows: -1\n  drift:\n    cooldown_s: x\n", d),
            (std::vector<std::string>{
                // in description order: the drift section first
                "triggers.drift.cooldown_s: must be an integer, got `x` (t.yaml:4)",
                "triggers.min_new_rows: must be between 0 and 9223372036854775807, got `-1` "
                "(t.yaml:2)"}));
}

TEST(TriggerConfig, CreateRefusesABadSchedule) {
  ManualClock clock;
  TriggerConfig c;
  c.schedule = "@reboot";
  auto p = TriggerPolicy::Create(c, clock, {"fan-mlp"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("triggers.schedule"), std::string::npos)
      << p.status().ToString();
}

}  // namespace
}  // namespace aiot::pipeline
