#include "pipeline/dag.h"

#include <gtest/gtest.h>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

Step S(std::string name, std::vector<std::string> depends = {}) {
  Step s;
  s.name = std::move(name);
  s.depends = std::move(depends);
  s.argv = {"true"};
  return s;
}

std::string ErrorOf(const Dag& d) {
  Status s = d.Validate();
  if (s.ok()) return "ok";
  EXPECT_EQ(s.code(), make_error_code(errc::invalid_argument));
  return s.message();
}

std::vector<std::string> Names(const Dag& d) {
  std::vector<std::string> out;
  auto order = d.TopologicalOrder();
  EXPECT_TRUE(order.ok()) << order.status().ToString();
  if (order.ok()) {
    for (const Step* s : *order) out.push_back(s->name);
  }
  return out;
}

TEST(DagTest, TrainingPipelineIsValidAndInOrder) {
  Dag d = TrainingPipeline();
  ASSERT_TRUE(d.Validate().ok()) << d.Validate().ToString();
  EXPECT_EQ(Names(d), (std::vector<std::string>{"extract", "validate", "drift", "train", "evaluate",
                                                "quantize", "register", "rollout"}));
  const Step* drift = d.Find("drift");
  ASSERT_NE(drift, nullptr);
  ASSERT_TRUE(drift->branch.has_value());
  EXPECT_EQ(drift->branch->stop_exit_code, kStepStop);
  EXPECT_EQ(drift->branch->decision, "no_drift");
  EXPECT_EQ(d.Find("evaluate")->branch->decision, "not_promoted");
  EXPECT_FALSE(d.Find("train")->branch.has_value());
  EXPECT_EQ(d.Find("nope"), nullptr);
  for (const Step& s : d.steps) {
    ASSERT_GE(s.argv.size(), 4u) << s.name;
    EXPECT_EQ(s.argv[0], "aiot");
    EXPECT_EQ(s.argv[1], "pipeline");
    EXPECT_EQ(s.argv[2], "step");
    EXPECT_EQ(s.argv[3], s.name);
  }
  EXPECT_EQ(d.Find("train")->timeout, std::chrono::minutes(30));
  EXPECT_EQ(d.Find("extract")->retries, 2);
}

TEST(DagTest, RenderArgvUsesOverridesThenDefaults) {
  Dag d = TrainingPipeline();
  const Step* drift = d.Find("drift");
  auto argv = d.RenderArgv(*drift, {{"run_dir", "/var/run/r-7"},
                                    {"model", "fan-mlp"},
                                    {"psi_threshold", "0.3"},
                                    {"unused", "x"}});
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_EQ(*argv,
            (std::vector<std::string>{"aiot", "pipeline", "step", "drift", "--run-dir",
                                      "/var/run/r-7", "--model", "fan-mlp", "--force", "false",
                                      "--ks-alpha", "0.05", "--psi-threshold", "0.3"}));
  // A built-in without a value cannot be rendered.
  auto missing = d.RenderArgv(*drift, {{"model", "fan-mlp"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "step `drift`: no value for {run_dir}");
  // Placeholders inside a longer argument.
  Dag small{"p", {S("a")}};
  small.steps[0].argv = {"echo", "--out={run_dir}/{name}.csv"};
  small.steps[0].params = {{"name", "rows"}};
  auto a = small.RenderArgv(small.steps[0], {{"run_dir", "/tmp/r"}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)[1], "--out=/tmp/r/rows.csv");
}

TEST(DagTest, ValidateRejectsCyclesUnknownAndDuplicateSteps) {
  EXPECT_EQ(ErrorOf(Dag{"p", {S("a", {"c"}), S("b", {"a"}), S("c", {"b"}), S("d")}}),
            "pipeline `p`: dependency cycle among a, b, c");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("a"), S("b", {"x"})}}), "step `b`: depends on unknown step `x`");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("a"), S("a")}}), "step `a`: is defined twice");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("a", {"a"})}}), "step `a`: depends on itself");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("a"), S("b", {"a", "a"})}}),
            "step `b`: lists dependency `a` twice");
  EXPECT_EQ(ErrorOf(Dag{"p", {}}), "pipeline `p` has no steps");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("Train")}}),
            "step `Train`: a step name must be 1..63 of [a-z0-9-] starting with a letter");
  EXPECT_EQ(ErrorOf(Dag{"p", {S("")}}),
            "step ``: a step name must be 1..63 of [a-z0-9-] starting with a letter");
}

TEST(DagTest, ValidateChecksCommandsLimitsBranchesAndArtifacts) {
  Dag d{"p", {S("a"), S("b", {"a"})}};
  ASSERT_EQ(ErrorOf(d), "ok");
  Dag bad = d;
  bad.steps[1].argv = {"x", "{nope}"};
  EXPECT_EQ(ErrorOf(bad), "step `b`: placeholder {nope} names no parameter");
  bad.steps[1].argv = {"x", "{unclosed"};
  EXPECT_EQ(ErrorOf(bad), "step `b`: argument `{unclosed` has an unclosed or empty {placeholder}");
  bad.steps[1].argv = {"x", "{run_id}", "{seed}"};
  bad.steps[1].params = {{"seed", "1"}};
  EXPECT_EQ(ErrorOf(bad), "ok");
  bad = d;
  bad.steps[0].argv.clear();
  EXPECT_EQ(ErrorOf(bad), "step `a`: has no command");
  bad = d;
  bad.steps[0].timeout = std::chrono::seconds(0);
  EXPECT_EQ(ErrorOf(bad), "step `a`: timeout must be positive");
  bad = d;
  bad.steps[0].retries = 11;
  EXPECT_EQ(ErrorOf(bad), "step `a`: retries must be 0..10");
  bad = d;
  bad.steps[0].branch = Branch{kStepFailed, "x"};
  EXPECT_EQ(ErrorOf(bad), "step `a`: a branch needs a decision and a stop exit code in 3..125");
  bad.steps[0].branch = Branch{kStepStop, ""};
  EXPECT_EQ(ErrorOf(bad), "step `a`: a branch needs a decision and a stop exit code in 3..125");
  bad = d;
  bad.steps[1].inputs = {"data.csv"};
  EXPECT_EQ(ErrorOf(bad), "step `b`: input `data.csv` is written by none of its dependencies");
  bad.steps[0].outputs = {"data.csv"};
  EXPECT_EQ(ErrorOf(bad), "ok");
}

TEST(DagTest, InputsMayComeFromAnyAncestor) {
  Dag d{"p", {S("a"), S("b", {"a"}), S("c", {"b"}), S("side")}};
  d.steps[0].outputs = {"x"};
  d.steps[2].inputs = {"x"};
  EXPECT_EQ(ErrorOf(d), "ok");
  d.steps[3].outputs = {"y"};  // not an ancestor of c
  d.steps[2].inputs = {"y"};
  EXPECT_EQ(ErrorOf(d), "step `c`: input `y` is written by none of its dependencies");
}

TEST(DagTest, TopologicalOrderKeepsDeclarationOrderForTies) {
  // A diamond declared out of order.
  Dag d{"p", {S("join", {"left", "right"}), S("right", {"root"}), S("left", {"root"}), S("root")}};
  ASSERT_EQ(ErrorOf(d), "ok");
  EXPECT_EQ(Names(d), (std::vector<std::string>{"root", "right", "left", "join"}));
}

TEST(DagTest, ExitCodesMapToOutcomes) {
  Dag d = TrainingPipeline();
  const Step& drift = *d.Find("drift");
  const Step& train = *d.Find("train");
  EXPECT_EQ(OutcomeOf(drift, kStepOk), StepOutcome::kContinue);
  EXPECT_EQ(OutcomeOf(drift, kStepStop), StepOutcome::kStop);
  EXPECT_EQ(OutcomeOf(drift, kStepFailed), StepOutcome::kRetryableError);
  EXPECT_EQ(OutcomeOf(drift, kStepUsage), StepOutcome::kFatalError);
  EXPECT_EQ(OutcomeOf(drift, 137), StepOutcome::kRetryableError);        // killed
  EXPECT_EQ(OutcomeOf(train, kStepStop), StepOutcome::kRetryableError);  // not a branch step
}

}  // namespace
}  // namespace aiot::pipeline
