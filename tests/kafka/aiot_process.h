#pragma once

// `aiot <args>` as a child process, for the Kafka tier's tests (`aiot bridge`, `aiot broker` with
// bridge.enabled, `aiot up` with a Kafka source): started and waited for until it is ready,
// killed with SIGKILL (kill -9) or stopped with SIGTERM, its /metrics read. Header-only; the
// including target defines AIOT_BIN (the aiot executable).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "net/test_client.h"
#include "tests/support/testing.h"

namespace aiot::kafka_test {

// The value of the first /metrics line of the HTTP server on `port` that starts with `prefix`
// (name and labels). A prefix with labels may stop before the last label; without labels, the
// name must end there. nullopt when nothing answers or no line matches.
inline std::optional<double> MetricAt(uint16_t port, const std::string& prefix) {
  net::testing::TestClient client(port);
  if (!client.connected()) return std::nullopt;
  auto reply = client.Roundtrip(net::testing::GetRequest("/metrics"), 5000);
  if (!reply || reply->status != 200) return std::nullopt;
  std::istringstream lines(reply->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix) && line.size() > prefix.size() &&
        (prefix.find('{') != std::string::npos || line[prefix.size()] == ' ' ||
         line[prefix.size()] == '{')) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return std::nullopt;
}

// The values of every /metrics line of the HTTP server on `port` that starts with `prefix` (one
// per label set of a family, e.g. prefix "aiot_bridge_consumer_lag{"); empty when nothing answers.
inline std::vector<double> MetricValuesAt(uint16_t port, const std::string& prefix) {
  net::testing::TestClient client(port);
  if (!client.connected()) return {};
  auto reply = client.Roundtrip(net::testing::GetRequest("/metrics"), 5000);
  if (!reply || reply->status != 200) return {};
  std::vector<double> values;
  std::istringstream lines(reply->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) values.push_back(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return values;
}

// `AIOT_BIN <args...>`; its output goes to the test's (stdout and stderr inherited).
class AiotProcess {
 public:
  explicit AiotProcess(std::vector<std::string> args) : args_(std::move(args)) {}
  ~AiotProcess() { Kill9(); }
  AiotProcess(const AiotProcess&) = delete;
  AiotProcess& operator=(const AiotProcess&) = delete;

  // Forks and executes, then waits (test_support::WaitFor) until `ready()`; false when it exited
  // first or did not become ready within `timeout`.
  bool Start(const std::function<bool()>& ready,
             std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::vector<std::string> argv = {AIOT_BIN};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv(AIOT_BIN, c.data());
      std::_Exit(127);
    }
    bool exited = false;
    const bool up = test_support::WaitFor(
        [&] {
          exited = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
          return exited || ready();
        },
        timeout);
    if (exited) pid_ = -1;
    return up && !exited;
  }
  void Kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM, then its exit code (-1 when a signal ended it).
  int Terminate() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool running() const { return pid_ > 0; }

 private:
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

}  // namespace aiot::kafka_test
