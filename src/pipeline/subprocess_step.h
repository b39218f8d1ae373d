#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "pipeline/dag.h"
#include "pipeline/runner.h"

namespace aiot::pipeline {

struct SubprocessOptions {
  // Replaces argv[0] of every step ("aiot"): the program to run. Empty = this process's own
  // executable (/proc/self/exe, resolved when SubprocessStep is called).
  std::string executable;
  // Bytes of output kept in memory per attempt (the store keeps kMaxLogTail of them).
  size_t max_output = 64 * 1024;
  // Inserted after argv[0]: the runner's own global flags (`--config FILE`, `--set k=v`), so that
  // every step reads the configuration the runner was started with.
  std::vector<std::string> global_args;
  // "NAME=value" entries set in the child's environment (over the inherited ones): the platform
  // API's URL and token for the steps of the embedded runner, without setenv in a threaded
  // process.
  std::vector<std::string> env;
  // On cancel: SIGTERM to the child's process group, then SIGKILL after this long if it is still
  // running. 0 = SIGKILL at once.
  std::chrono::milliseconds kill_grace{0};
};

// A StepFunction that runs the step's rendered argv as a child process (`aiot pipeline step
// <name> ...`): stdout and stderr captured together (the tail is the step's log), the exit code
// (128 + signal when the child was killed by one) its result, the step's outputs that exist in
// the run directory its artifacts. The child is the leader of its own process group and is
// killed with it (SIGTERM, then after `kill_grace` SIGKILL, to the group) when the attempt's
// `cancel` flag is set (timeout, Cancel()); it also gets SIGKILL when the thread that started it
// dies (PR_SET_PDEATHSIG), so a killed runner leaves no step running behind it. The child is always
// reaped (no zombie).
StepFunction SubprocessStep(const Dag& dag, SubprocessOptions options = {});

}  // namespace aiot::pipeline
