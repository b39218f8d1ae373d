// SubprocessStep with real children (/bin/sh): output, exit codes, artifacts, cancel and timeout
// by SIGKILL of the process group, no zombie left.
#include "pipeline/subprocess_step.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;
using test_support::WaitFor;

Dag ShellDag(std::string script, std::chrono::seconds timeout = 60s) {
  Dag d;
  d.name = "shell";
  Step s;
  s.name = "work";
  s.argv = {"aiot", "-c", std::move(script), "sh", "{run_dir}"};
  s.timeout = timeout;
  s.outputs = {"out.txt", "missing.txt"};
  d.steps.push_back(s);
  return d;
}

StepContext ContextFor(const Dag& dag, const std::string& run_dir,
                       const std::atomic<bool>* cancel) {
  StepContext ctx;
  ctx.run_id = 1;
  ctx.step = "work";
  ctx.attempt = 1;
  ctx.values = {{"run_dir", run_dir}};
  ctx.argv = *dag.RenderArgv(dag.steps[0], ctx.values);
  ctx.cancel = cancel;
  return ctx;
}

SubprocessOptions Sh() {
  SubprocessOptions o;
  o.executable = "/bin/sh";
  return o;
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// Running, or a zombie nobody reaped yet (an orphan's, reaped by init).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  if (text.empty()) return false;
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

TEST(SubprocessStepTest, OutputExitCodeAndArtifacts) {
  test_support::TempDir dir;
  Dag dag = ShellDag("echo to-stdout; echo to-stderr >&2; echo x > \"$1/out.txt\"; exit 3");
  auto fn = SubprocessStep(dag, Sh());
  std::atomic<bool> cancel{false};
  StepOutput out = fn(ContextFor(dag, dir.path(), &cancel));
  EXPECT_EQ(out.exit_code, 3);
  EXPECT_NE(out.log.find("to-stdout\n"), std::string::npos) << out.log;
  EXPECT_NE(out.log.find("to-stderr\n"), std::string::npos) << out.log;
  auto artifacts = nlohmann::json::parse(out.artifacts);
  EXPECT_EQ(artifacts.size(), 1u) << out.artifacts;
  EXPECT_EQ(artifacts.value("out.txt", ""), dir.path() + "/out.txt");
}

TEST(SubprocessStepTest, KeepsTheTailOfLongOutput) {
  test_support::TempDir dir;
  Dag dag = ShellDag("i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done");
  auto fn = SubprocessStep(dag, {"/bin/sh", 1024, {}, {}, {}});
  std::atomic<bool> cancel{false};
  StepOutput out = fn(ContextFor(dag, dir.path(), &cancel));
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_LE(out.log.size(), 1024u);
  EXPECT_NE(out.log.find("line-2999\n"), std::string::npos);
  EXPECT_EQ(out.log.find("line-0\n"), std::string::npos);
}

TEST(SubprocessStepTest, CancelKillsTheProcessGroupAndReaps) {
  test_support::TempDir dir;
  // The child starts a grandchild in its group and waits; both would sleep a minute.
  Dag dag = ShellDag("echo $$ > \"$1/pid\"; sleep 60 & echo $! > \"$1/gpid\"; wait");
  auto fn = SubprocessStep(dag, Sh());
  std::atomic<bool> cancel{false};
  StepOutput out;
  std::thread t([&] { out = fn(ContextFor(dag, dir.path(), &cancel)); });
  const std::string gpid_file = dir.path() + "/gpid";
  ASSERT_TRUE(WaitFor([&] { return !ReadFirstLine(gpid_file).empty(); }));
  const pid_t pid = std::stoi(ReadFirstLine(dir.path() + "/pid"));
  const pid_t gpid = std::stoi(ReadFirstLine(gpid_file));
  EXPECT_TRUE(Alive(pid));
  EXPECT_TRUE(Alive(gpid));
  const auto t0 = std::chrono::steady_clock::now();
  cancel = true;
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(out.exit_code, 128 + SIGKILL);
  // Reaped: not even a zombie of ours is left.
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));
  EXPECT_TRUE(WaitFor([&] { return !Alive(gpid); }, 10s));
}

TEST(SubprocessStepTest, RunnerTimeoutKillsTheChild) {
  test_support::TempDir dir;
  Dag dag = ShellDag("echo $$ > \"$1/pid\"; echo working; exec sleep 60", 1s);
  RunStore store;
  ASSERT_TRUE(store.Open(":memory:").ok());
  Runner runner(
      dag, store, SystemClock::Instance(), [](std::chrono::nanoseconds) {},
      RunnerOptions{dir.path()});
  runner.SetStep("work", SubprocessStep(dag, Sh()));
  auto id = store.CreateRun({"shell", "m", "cli", "test"});
  ASSERT_TRUE(id.ok());
  std::filesystem::create_directories(dir.path() + "/" + std::to_string(*id));
  const auto t0 = std::chrono::steady_clock::now();
  auto run = runner.Execute(*id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_NE(run->reason.find("timed out after 1 s"), std::string::npos) << run->reason;
  ASSERT_EQ(run->steps.size(), 1u);
  EXPECT_EQ(run->steps[0].exit_code, 137);
  EXPECT_NE(run->steps[0].log_tail.find("working"), std::string::npos);
  const pid_t pid = std::stoi(ReadFirstLine(dir.path() + "/" + std::to_string(*id) + "/pid"));
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));
}

TEST(SubprocessStepTest, MissingExecutableFails) {
  test_support::TempDir dir;
  Dag dag = ShellDag("true");
  auto fn = SubprocessStep(dag, {dir.path() + "/no-such-program", 1024, {}, {}, {}});
  std::atomic<bool> cancel{false};
  StepOutput out = fn(ContextFor(dag, dir.path(), &cancel));
  EXPECT_EQ(out.exit_code, 127);
  EXPECT_NE(out.log.find("exec failed"), std::string::npos);
}

}  // namespace
}  // namespace aiot::pipeline
