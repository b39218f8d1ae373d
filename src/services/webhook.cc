#include "services/webhook.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <chrono>
#include <future>

#include "base/check.h"
#include "base/log.h"

namespace aiot::services {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct AlertWebhook::State : std::enable_shared_from_this<State> {
  State(const WebhookConfig& c, asio::io_context& io, prometheus::Registry& metrics)
      : config(c),
        strand(asio::make_strand(io)),
        wake(strand),
        backoff_timer(strand),
        delivered(prometheus::BuildCounter()
                      .Name("aiot_predictor_webhook_delivered_total")
                      .Help("Alerts delivered to the webhook")
                      .Register(metrics)
                      .Add({})),
        failed(prometheus::BuildCounter()
                   .Name("aiot_predictor_webhook_failed_total")
                   .Help("Alerts given up on after max_attempts")
                   .Register(metrics)
                   .Add({})),
        dropped(prometheus::BuildCounter()
                    .Name("aiot_predictor_webhook_dropped_total")
                    .Help("Alerts dropped because the webhook queue was full")
                    .Register(metrics)
                    .Add({})),
        retries(prometheus::BuildCounter()
                    .Name("aiot_predictor_webhook_retries_total")
                    .Help("Webhook attempts that failed and were retried")
                    .Register(metrics)
                    .Add({})) {}

  asio::awaitable<bool> PostOnce(const std::string& payload) {
    auto ex = co_await asio::this_coro::executor;
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(ex);
    auto endpoints =
        co_await resolver.async_resolve(host, port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    beast::tcp_stream stream(ex);
    stream.expires_after(std::chrono::milliseconds(config.timeout_ms));
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "aiot-predictor");
    req.body() = payload;
    req.prepare_payload();
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(stream, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return res.result_int() >= 200 && res.result_int() < 300;
  }

  asio::awaitable<void> Run() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (!stopping) {
      if (queue.empty()) {
        wake.expires_at(asio::steady_timer::time_point::max());
        co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      std::string payload = std::move(queue.front());
      queue.pop_front();
      uint32_t backoff = config.initial_backoff_ms;
      bool ok = false;
      for (uint32_t attempt = 1; attempt <= std::max<uint32_t>(1, config.max_attempts) && !stopping;
           ++attempt) {
        ok = co_await PostOnce(payload);
        if (ok || stopping) break;
        if (attempt == config.max_attempts) break;
        retries.Increment();
        backoff_timer.expires_after(std::chrono::milliseconds(backoff));
        co_await backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        backoff = std::min(config.max_backoff_ms, backoff * 2);
      }
      if (ok) {
        delivered.Increment();
      } else if (!stopping) {
        failed.Increment();
        log::Get("predictor")
            ->warn("webhook {}: alert not delivered after {} attempts", config.url,
                   config.max_attempts);
      }
    }
    finished.set_value();
  }

  WebhookConfig config;
  std::string host, port, path;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer wake;           // waits for work
  asio::steady_timer backoff_timer;  // waits between attempts
  std::deque<std::string> queue;     // on the strand
  bool stopping = false;             // on the strand
  bool started = false;
  std::promise<void> finished;
  prometheus::Counter& delivered;
  prometheus::Counter& failed;
  prometheus::Counter& dropped;
  prometheus::Counter& retries;
};

AlertWebhook::AlertWebhook(const WebhookConfig& config, asio::io_context& io,
                           prometheus::Registry& metrics)
    : state_(std::make_shared<State>(config, io, metrics)) {
  // The URL was checked when the configuration was loaded (Validate in predictor_config.h).
  bool parsed = ParseHttpUrl(config.url, &state_->host, &state_->port, &state_->path);
  AIOT_CHECK(parsed, "predictor.webhook.url `%s` was not validated", config.url.c_str());
}

AlertWebhook::~AlertWebhook() = default;

void AlertWebhook::Start() {
  state_->started = true;
  asio::co_spawn(state_->strand, state_->Run(), asio::detached);
}

void AlertWebhook::Enqueue(std::string payload) {
  asio::post(state_->strand, [s = state_, p = std::move(payload)]() mutable {
    if (s->stopping) return;
    if (s->queue.size() >= std::max<uint32_t>(1, s->config.queue_limit)) {
      s->queue.pop_front();
      s->dropped.Increment();
    }
    s->queue.push_back(std::move(p));
    if (s->queue.size() == 1) s->wake.cancel();
  });
}

void AlertWebhook::Stop() {
  if (!state_->started) return;
  state_->started = false;
  asio::post(state_->strand, [s = state_] {
    s->stopping = true;
    s->queue.clear();
    s->wake.cancel();
    s->backoff_timer.cancel();
  });
  // An attempt in flight ends within timeout_ms.
  state_->finished.get_future().wait_for(
      std::chrono::milliseconds(state_->config.timeout_ms + 1000));
}

}  // namespace aiot::services
