#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "mqtt/broker/broker_server.h"

namespace aiot::mqtt::test {

// The broker started in-process on a free loopback port with its own io_context threads; with
// `extra_listeners` (e.g. "mqtts://127.0.0.1:0") also on those, port(1), port(2), ...
class TestBroker {
 public:
  explicit TestBroker(broker::BrokerConfig config = {}, int cores = 2,
                      const std::vector<std::string>& extra_listeners = {}) {
    config.listeners = {"127.0.0.1:0"};
    config.listeners.insert(config.listeners.end(), extra_listeners.begin(), extra_listeners.end());
    config.sys_interval = 1;
    for (int i = 0; i < cores; ++i) {
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.push_back(boost::asio::make_work_guard(*contexts_.back()));
    }
    std::vector<boost::asio::io_context*> raw;
    for (auto& c : contexts_) raw.push_back(c.get());
    server_ = std::make_unique<broker::BrokerServer>(config, registry_, raw);
    ok_ = server_->Start().ok();
    for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  ~TestBroker() {
    server_->Stop();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_) t.join();
    guards_.clear();
    // The server's timers and acceptors are I/O objects of the contexts: they must go first.
    server_.reset();
    contexts_.clear();  // destroys pending handlers (and with them the connections)
  }
  bool ok() const { return ok_; }
  uint16_t port(size_t listener = 0) const { return server_->ports().at(listener); }
  broker::BrokerServer& server() { return *server_; }
  broker::Broker& broker() { return server_->broker(); }
  metrics::Registry& registry() { return registry_; }

 private:
  metrics::Registry registry_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::unique_ptr<broker::BrokerServer> server_;
  std::vector<std::thread> threads_;
  bool ok_ = false;
};

// A child process whose stdout is collected in the background (to run a command to completion:
// tests/support/run.h).
class Process {
 public:
  explicit Process(const std::string& command) {
    pipe_ = ::popen((command + " 2>&1").c_str(), "r");
    // read(2), not fread: Output() shows what the process has written so far, not only whole
    // 4 KiB blocks (for tests that watch a long-running subscriber).
    reader_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while (pipe_ != nullptr) {
        n = ::read(::fileno(pipe_), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        std::lock_guard lock(mu_);
        out_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  ~Process() { Wait(); }
  // Waits for the process to exit; returns its exit status.
  int Wait() {
    if (reader_.joinable()) reader_.join();
    if (pipe_ != nullptr) {
      status_ = ::pclose(pipe_);
      pipe_ = nullptr;
    }
    return WEXITSTATUS(status_);
  }
  std::string Output() {
    std::lock_guard lock(mu_);
    return out_;
  }

 private:
  FILE* pipe_ = nullptr;
  std::thread reader_;
  std::mutex mu_;
  std::string out_;
  int status_ = -1;
};

}  // namespace aiot::mqtt::test
