#include "pipeline/subprocess_step.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

extern char** environ;  // NOLINT: POSIX, the process environment

namespace aiot::pipeline {
namespace {

// The tail of a child's output: at most `max` bytes, the oldest dropped.
void Append(std::string& out, std::string_view data, size_t max) {
  out.append(data);
  if (out.size() > 2 * max) out.erase(0, out.size() - max);
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(int out_fd, pid_t parent, const char* exe, char* const* argv,
                            char* const* envp) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(137);  // the parent died before prctl
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  ::execve(exe, argv, envp);
  static const char kMsg[] = "exec failed\n";
  (void)!::write(2, kMsg, sizeof kMsg - 1);
  ::_exit(127);
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Reads the child's output until it exits (or is killed on cancel); returns its exit code.
// On cancel: SIGTERM to the group, SIGKILL once `grace` passed (at once when it is 0).
int Supervise(pid_t pid, int fd, const StepContext& ctx, const SubprocessOptions& o,
              std::string& log) {
  const size_t max = o.max_output;
  bool killed = false;
  bool termed = false;
  auto kill_at = std::chrono::steady_clock::time_point::max();
  int status = 0;
  bool reaped = false;
  char buf[8192];
  for (;;) {
    if (!termed && !killed && ctx.cancelled()) {
      termed = true;
      kill_at = std::chrono::steady_clock::now() + o.kill_grace;
      if (o.kill_grace.count() > 0) {
        ::kill(-pid, SIGTERM);
        ::kill(pid, SIGTERM);
      }
    }
    if (!killed && std::chrono::steady_clock::now() >= kill_at) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready > 0) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        Append(log, std::string_view(buf, static_cast<size_t>(n)), max);
        continue;
      }
      if (n == 0 || errno != EINTR) break;  // EOF: every writer is gone
    }
    if (ready < 0 && errno != EINTR) break;
    // A grandchild may hold the pipe after the child exited: stop at the child's exit.
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      break;
    }
  }
  if (!reaped) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (termed) ::kill(-pid, SIGKILL);  // anything the step left in its group
  return ExitCodeOf(status);
}

std::string Artifacts(const Dag& dag, const StepContext& ctx) {
  nlohmann::json a = nlohmann::json::object();
  const Step* step = dag.Find(ctx.step);
  auto dir = ctx.values.find("run_dir");
  if (step == nullptr || dir == ctx.values.end()) return a.dump();
  for (const std::string& file : step->outputs) {
    std::error_code ec;
    const std::filesystem::path path = std::filesystem::path(dir->second) / file;
    if (std::filesystem::is_regular_file(path, ec)) a[file] = path.string();
  }
  return a.dump();
}

// The child's environment: this process's, with `overrides` ("NAME=value") set over it. Built
// before fork (no allocation between fork and exec).
std::vector<std::string> ChildEnv(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& o : overrides) {
      replaced = replaced || (o.size() > name.size() && o.compare(0, name.size(), name) == 0 &&
                              o[name.size()] == '=');
    }
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

StepOutput RunChild(const SubprocessOptions& o, const StepContext& ctx) {
  const size_t max = o.max_output;
  if (ctx.argv.empty()) return {kStepUsage, "step has no command", "{}"};
  std::vector<std::string> args = {o.executable};
  args.insert(args.end(), o.global_args.begin(), o.global_args.end());
  args.insert(args.end(), ctx.argv.begin() + 1, ctx.argv.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = ChildEnv(o.env);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return {kStepFailed, std::string("pipe: ") + std::strerror(errno), "{}"};
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {kStepFailed, std::string("fork: ") + std::strerror(errno), "{}"};
  }
  if (pid == 0) ExecChild(fds[1], parent, args[0].c_str(), argv.data(), envp.data());
  ::setpgid(pid, pid);  // also here: no window in which a kill of the group misses it
  ::close(fds[1]);
  StepOutput out;
  out.exit_code = Supervise(pid, fds[0], ctx, o, out.log);
  ::close(fds[0]);
  if (out.log.size() > max) out.log.erase(0, out.log.size() - max);
  return out;
}

}  // namespace

StepFunction SubprocessStep(const Dag& dag, SubprocessOptions options) {
  if (options.executable.empty()) {
    std::error_code ec;
    options.executable = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  }
  return [dag, options](const StepContext& ctx) {
    StepOutput out = RunChild(options, ctx);
    out.artifacts = Artifacts(dag, ctx);
    return out;
  };
}

}  // namespace aiot::pipeline
