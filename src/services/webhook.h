#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <memory>
#include <string>

#include "base/result.h"
#include "services/predictor_config.h"

namespace aiot::services {

// Delivers alerts to an HTTP endpoint: POST application/json, one alert per request, retried with
// exponential backoff (initial_backoff_ms doubling to max_backoff_ms) up to max_attempts; 2xx is
// success, anything else (or a timeout) a failure. A bounded queue decouples it from scoring:
// Enqueue never blocks; when queue_limit alerts are waiting the oldest is dropped and counted.
//
// Thread-safety: Enqueue, Start and Stop may be called from any thread; delivery runs on a strand
// of `io`. Stop() must not be called on that io_context's thread.
class AlertWebhook {
 public:
  AlertWebhook(const WebhookConfig& config, boost::asio::io_context& io,
               prometheus::Registry& metrics);
  ~AlertWebhook();

  void Start();
  void Enqueue(std::string payload);
  // Abandons what is queued and waits for the delivery loop to end.
  void Stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace aiot::services
