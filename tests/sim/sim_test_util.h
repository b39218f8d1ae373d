#pragma once

// Helpers for the Things-tier integration tests: a mosquitto broker and a static HTTP server
// (python3 -m http.server) on free loopback ports, started and stopped by the test.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/testing.h"

namespace aiot::sim::testing {

using aiot::test_support::FreePort;

inline bool PortOpen(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process, killed (SIGTERM) and reaped on destruction.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

inline bool HaveProgram(const char* path) { return ::access(path, X_OK) == 0; }

// mosquitto on 127.0.0.1:port, anonymous, from a config file in `dir`.
class Mosquitto {
 public:
  explicit Mosquitto(const std::filesystem::path& dir) : port_(FreePort()) {
    const auto conf = dir / "mosquitto.conf";
    std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                        << "max_queued_messages 100000\nlog_type error\nlog_type warning\n";
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf.string()});
    test_support::WaitFor([&] { return PortOpen(port_); });
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  uint16_t port_;
  std::unique_ptr<Child> child_;
};

// python3 -m http.server serving `dir` on 127.0.0.1:port.
class StaticHttp {
 public:
  explicit StaticHttp(const std::filesystem::path& dir) : port_(FreePort()) {
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(port_),
                                 "--bind", "127.0.0.1", "--directory", dir.string()});
    test_support::WaitFor([&] { return PortOpen(port_); });
  }
  std::string url(const std::string& file) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + file;
  }

 private:
  uint16_t port_;
  std::unique_ptr<Child> child_;
};

}  // namespace aiot::sim::testing
