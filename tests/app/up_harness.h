#pragma once

// What the end-to-end tests of `aiot up` share: running the real binary (and mosquitto_pub/sub,
// curl) as child processes, and a free loopback port for its listeners.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>
#include "tests/support/run.h"
#include "tests/support/testing.h"

namespace aiot::up_test {

// Runs a shell command and returns its standard output.
inline std::string Shell(const std::string& command) {
  return test_support::RunCommand(command, test_support::Capture::kStdout).output;
}

using aiot::test_support::FreePort;

// A child process whose stdout (and stderr) we read line by line.
struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string buffer;

  // `log_file` non-empty: output goes there instead of a pipe (a long-running child must never
  // block on a pipe nobody reads).
  static Child Spawn(const std::vector<std::string>& argv, bool capture,
                     const std::string& log_file = "") {
    int fds[2];
    if (pipe(fds) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int devnull = log_file.empty() ? open("/dev/null", O_WRONLY)
                                     : open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(capture ? fds[1] : devnull, STDOUT_FILENO);
      dup2(capture ? fds[1] : devnull, STDERR_FILENO);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    return Child{pid, fds[0], {}};
  }

  // The next complete line, waiting at most `ms`; false on timeout or EOF.
  bool ReadLine(std::string* line, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (true) {
      auto nl = buffer.find('\n');
      if (nl != std::string::npos) {
        *line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        return true;
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) return false;
      pollfd p{out, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) return false;
      char buf[4096];
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return false;
      buffer.append(buf, static_cast<size_t>(n));
    }
  }

  int Stop(int sig) {
    if (pid <= 0) return -1;
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out >= 0) close(out);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

}  // namespace aiot::up_test
