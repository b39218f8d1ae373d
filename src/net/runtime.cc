#include "net/runtime.h"

#include <pthread.h>

#include <string>

#include "base/check.h"
#include "base/log.h"

namespace aiot::net {

namespace {
thread_local int current_index = -1;
}  // namespace

void Describe(config::Visitor& v, RuntimeConfig& c) {
  v.Field("threads", c.threads, "Number of io_context threads (one per core); 0 = hardware cores.");
}

Runtime::Runtime(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  contexts_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by one thread, so asio can skip internal locking.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

Runtime::~Runtime() {
  Stop();
  if (!threads_.empty() && !OnRuntimeThread()) Join();
}

void Runtime::Start() {
  AIOT_CHECK(threads_.empty(), "Runtime::Start called twice");
  for (size_t i = 0; i < contexts_.size(); ++i) {
    guards_.push_back(asio::make_work_guard(*contexts_[i]));
  }
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      current_index = static_cast<int>(i);
      std::string name = "aiot-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      contexts_[i]->run();
      current_index = -1;
    });
  }
}

void Runtime::Stop() {
  for (auto& c : contexts_) c->stop();
}

void Runtime::Join() {
  AIOT_CHECK(!OnRuntimeThread(), "Runtime::Join called from a runtime thread");
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  guards_.clear();
}

asio::io_context& Runtime::Next() {
  size_t i = next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
  return *contexts_[i];
}

std::vector<asio::io_context*> Runtime::contexts() {
  std::vector<asio::io_context*> out;
  for (auto& c : contexts_) out.push_back(c.get());
  return out;
}

int Runtime::CurrentIndex() { return current_index; }

}  // namespace aiot::net
