#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "base/config.h"

namespace aiot::net {

namespace asio = boost::asio;

struct RuntimeConfig {
  // Number of io_context threads; 0 = one per hardware core.
  size_t threads = 0;
};

void Describe(config::Visitor& v, RuntimeConfig& c);

// One io_context per core, each run by exactly one thread. Everything posted to a context runs on
// that context's thread, so state owned by a context needs no lock (one context = one strand).
//
// Thread-safety: Next(), contexts(), size(), Post() and Stop() may be called from any thread.
// Start() and Join() from the owning thread only.
class Runtime {
 public:
  // threads == 0 means std::thread::hardware_concurrency().
  explicit Runtime(size_t threads);
  explicit Runtime(const RuntimeConfig& config) : Runtime(config.threads) {}
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts one thread per context. The contexts keep running (work guards) until Stop().
  void Start();
  // Asks every context to stop; does not wait. Pending handlers are not run. Safe from any thread,
  // including a runtime thread.
  void Stop();
  // Waits for the threads started by Start(). Must not be called from a runtime thread.
  void Join();

  // Round-robin choice of a context, for new long-lived work (connections, clients).
  asio::io_context& Next();
  asio::io_context& context(size_t i) { return *contexts_[i]; }
  std::vector<asio::io_context*> contexts();
  size_t size() const { return contexts_.size(); }

  // Posts `fn` to the next context (round robin).
  template <typename Fn>
  void Post(Fn&& fn) {
    asio::post(Next(), std::forward<Fn>(fn));
  }

  // Index of the runtime context the calling thread runs, or -1 when called from another thread.
  static int CurrentIndex();
  // True when the calling thread is one of this process' runtime threads.
  static bool OnRuntimeThread() { return CurrentIndex() >= 0; }

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace aiot::net
