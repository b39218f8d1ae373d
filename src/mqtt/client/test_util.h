#pragma once

// Test helpers for MQTT clients: a real Debian mosquitto on a free loopback port and an io_context
// thread. Shared by the client tests and the bench tests; for waiting on a condition use
// aiot::test_support::WaitFor (tests/support/testing.h).
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "tests/support/testing.h"

#include <sys/types.h>

namespace aiot::mqtt::testing {

// A loopback TCP port that was free a moment ago (tests/support/testing.h).
using aiot::test_support::FreePort;

// /usr/sbin/mosquitto with `listener <port> 127.0.0.1` and anonymous access, in a temp dir.
class Mosquitto {
 public:
  explicit Mosquitto(uint16_t port = 0, std::string extra_config = "");
  ~Mosquitto();
  static bool Available();
  // Starts the broker and waits until it accepts connections. Returns false on failure.
  bool Start();
  // SIGKILL (no clean shutdown) and wait.
  void Kill();
  // SIGTERM (a clean shutdown: with `persistence true` the database is saved) and wait.
  void Stop();
  // The directory of its configuration and log (and of a persistence database written there).
  const std::string& dir() const { return dir_; }
  uint16_t port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// Runs an io_context on a background thread until destroyed.
class IoThread {
 public:
  IoThread();
  ~IoThread();
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

}  // namespace aiot::mqtt::testing
