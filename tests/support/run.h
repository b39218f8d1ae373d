#pragma once

// Running a shell command to completion in a test and reading what it wrote and how it exited.
// Header-only. (A child that must run in the background or be killed is forked by the test.)
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace aiot::test_support {

struct RunResult {
  int exit_code = -1;  // the exit status; -1 when it could not start or was killed by a signal
  std::string output;  // what it wrote, in order
};

enum class Capture {
  kStdoutAndStderr,  // both streams, interleaved as written (the shell's stderr is its stdout)
  kStdout,           // stdout only; stderr goes to the test's stderr
};

// Runs `command` with /bin/sh and waits for it to exit. With kStdoutAndStderr the whole command
// (every part of a `a; b` or `a | b`) writes its stderr into the output, not only its last part.
// (Not named Run: inside a TEST_F that would find ::testing::Test::Run first.)
inline RunResult RunCommand(const std::string& command,
                            Capture capture = Capture::kStdoutAndStderr) {
  RunResult r;
  const std::string shell =
      capture == Capture::kStdoutAndStderr ? "exec 2>&1\n" + command : command;
  FILE* p = ::popen(shell.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace aiot::test_support
