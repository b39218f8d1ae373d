#include "net/ws_hub.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <mutex>
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "net/target.h"

namespace aiot::net {

using tcp = asio::ip::tcp;
namespace websocket = beast::websocket;

void Describe(config::Visitor& v, WsHubConfig& c) {
  v.Field("max_queue_messages", c.max_queue_messages,
          "Messages queued per WebSocket client; a client whose queue overflows is disconnected.");
  v.Field("max_message_bytes", c.max_message_bytes, "Largest message a WebSocket client may send.");
  v.Field("max_subscriptions", c.max_subscriptions, "Channels one WebSocket client may follow.");
}

namespace {

constexpr size_t kMaxShards = 256;

bool ChannelMatches(std::string_view pattern, std::string_view channel) {
  if (pattern == "*") return true;
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // keeps the '/'
    return channel.substr(0, prefix.size()) == prefix;
  }
  return pattern == channel;
}

}  // namespace

class WsSession;

// Sessions of one io_context. `sessions` is touched only on that context's thread.
struct WsShard {
  asio::io_context* ctx = nullptr;
  std::vector<WsSession*> sessions;
  std::atomic<size_t> count{0};
};

struct WsHub::State {
  WsHubConfig config;
  std::shared_ptr<spdlog::logger> log = log::Get("http.ws");
  std::array<std::atomic<WsShard*>, kMaxShards> shards{};
  std::atomic<size_t> num_shards{0};
  std::mutex shard_mu;  // registration of new shards only
  std::vector<std::unique_ptr<WsShard>> owned;
  std::atomic<size_t> subscribers{0};
  std::atomic<uint64_t> dropped{0};

  WsShard& ShardFor(asio::io_context& ctx) {
    size_t n = num_shards.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      WsShard* s = shards[i].load(std::memory_order_acquire);
      if (s->ctx == &ctx) return *s;
    }
    std::lock_guard lock(shard_mu);
    n = num_shards.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      WsShard* s = shards[i].load(std::memory_order_acquire);
      if (s->ctx == &ctx) return *s;
    }
    AIOT_CHECK(n < kMaxShards, "WsHub: more than %zu io_contexts", kMaxShards);
    auto shard = std::make_unique<WsShard>();
    shard->ctx = &ctx;
    shards[n].store(shard.get(), std::memory_order_release);
    owned.push_back(std::move(shard));
    num_shards.store(n + 1, std::memory_order_release);
    return *owned.back();
  }
};

// One WebSocket client. Lives on its shard's io_context; every member is touched only there.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::shared_ptr<WsHub::State> hub, WsShard& shard, HttpStream socket)
      : hub_(std::move(hub)), shard_(shard), ws_(std::move(socket)), wake_(*shard.ctx) {}

  asio::awaitable<void> Run(http::request<http::string_body> request) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    // Pings keep listen-only clients (dashboards) from hitting the idle timeout; a client that
    // stops answering them is closed.
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(hub_->config.max_message_bytes);
    ws_.text(true);
    // Initial subscriptions from ?subscribe=a,b
    std::string_view path;
    std::string_view query;
    std::vector<std::pair<std::string, std::string>> params;
    if (SplitTarget(request.target(), path, query) && ParseQuery(query, params)) {
      for (const auto& [k, v] : params) {
        if (k != "subscribe") continue;
        std::string_view list = v;
        while (!list.empty()) {
          size_t comma = list.find(',');
          std::string_view one = list.substr(0, comma);
          list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
          if (!one.empty()) Subscribe(one);
        }
      }
    }
    co_await ws_.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    shard_.sessions.push_back(this);
    shard_.count.fetch_add(1, std::memory_order_relaxed);
    hub_->subscribers.fetch_add(1, std::memory_order_relaxed);
    registered_ = true;
    asio::co_spawn(*shard_.ctx, WriteLoop(), asio::detached);
    co_await ReadLoop();
    Close();
  }

  // Queues a message; disconnects the client when its queue is full.
  void Enqueue(std::shared_ptr<const std::string> message) {
    if (closed_) return;
    if (queue_.size() >= hub_->config.max_queue_messages) {
      hub_->dropped.fetch_add(1, std::memory_order_relaxed);
      hub_->log->info("dropping slow WebSocket client (queue of {} full)", queue_.size());
      Close();
      return;
    }
    queue_.push_back(std::move(message));
    if (queue_.size() == 1) wake_.cancel();
  }

  bool Wants(std::string_view channel) const {
    for (const auto& p : subscriptions_) {
      if (ChannelMatches(p, channel)) return true;
    }
    return false;
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (registered_) {
      auto& v = shard_.sessions;
      v.erase(std::remove(v.begin(), v.end(), this), v.end());
      shard_.count.fetch_sub(1, std::memory_order_relaxed);
      hub_->subscribers.fetch_sub(1, std::memory_order_relaxed);
    }
    boost::system::error_code ec;
    beast::get_lowest_layer(ws_).close(ec);
    wake_.cancel();
  }

 private:
  void Subscribe(std::string_view channel) {
    for (const auto& s : subscriptions_) {
      if (s == channel) return;
    }
    if (subscriptions_.size() < hub_->config.max_subscriptions) {
      subscriptions_.emplace_back(channel);
    }
  }
  void Unsubscribe(std::string_view channel) {
    subscriptions_.erase(std::remove(subscriptions_.begin(), subscriptions_.end(), channel),
                         subscriptions_.end());
  }

  void Apply(const nlohmann::json& value, bool subscribe) {
    auto one = [&](const nlohmann::json& v) {
      if (!v.is_string()) return;
      const auto& s = v.get_ref<const std::string&>();
      if (s.empty()) return;
      subscribe ? Subscribe(s) : Unsubscribe(s);
    };
    if (value.is_array()) {
      for (const auto& v : value) one(v);
    } else {
      one(value);
    }
  }

  asio::awaitable<void> ReadLoop() {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || closed_) co_return;
      auto data = buffer.cdata();
      std::string_view text(static_cast<const char*>(data.data()), data.size());
      auto j = nlohmann::json::parse(text, nullptr, false);
      nlohmann::json reply;
      if (j.is_discarded() || !j.is_object() ||
          (!j.contains("subscribe") && !j.contains("unsubscribe"))) {
        reply = {{"type", "error"},
                 {"message", "send {\"subscribe\": \"channel\"} or {\"unsubscribe\": ...}"}};
      } else {
        if (j.contains("subscribe")) Apply(j["subscribe"], true);
        if (j.contains("unsubscribe")) Apply(j["unsubscribe"], false);
        reply = {{"type", "subscribed"}, {"channels", subscriptions_}};
      }
      Enqueue(std::make_shared<const std::string>(reply.dump()));
    }
  }

  asio::awaitable<void> WriteLoop() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (!closed_) {
      if (queue_.empty()) {
        wake_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      std::shared_ptr<const std::string> m = queue_.front();
      co_await ws_.async_write(asio::buffer(*m), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        Close();
        co_return;
      }
      if (!queue_.empty()) queue_.pop_front();
    }
  }

  std::shared_ptr<WsHub::State> hub_;
  WsShard& shard_;
  websocket::stream<HttpStream> ws_;
  asio::steady_timer wake_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::vector<std::string> subscriptions_;
  bool closed_ = false;
  bool registered_ = false;
};

WsHub::WsHub(WsHubConfig config) : state_(std::make_shared<State>()) {
  state_->config = std::move(config);
  if (state_->config.max_queue_messages == 0) state_->config.max_queue_messages = 1;
}

WsHub::~WsHub() = default;

void WsHub::Publish(std::string_view channel, std::string text) {
  if (state_->subscribers.load(std::memory_order_relaxed) == 0) return;
  std::string framed;
  std::string quoted = nlohmann::json(std::string(channel)).dump();
  framed.reserve(text.size() + quoted.size() + 24);
  framed.append("{\"channel\":").append(quoted).append(",\"data\":").append(text).append("}");
  auto payload = std::make_shared<const std::string>(std::move(framed));
  size_t n = state_->num_shards.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    WsShard* shard = state_->shards[i].load(std::memory_order_acquire);
    if (shard->count.load(std::memory_order_relaxed) == 0) continue;
    asio::post(*shard->ctx, [state = state_, shard, ch = std::string(channel), payload] {
      // Enqueue may close a session, which erases it from the vector: iterate over a copy of
      // the pointers only when needed.
      auto& v = shard->sessions;
      for (size_t k = 0; k < v.size();) {
        WsSession* s = v[k];
        if (s->Wants(ch)) {
          s->Enqueue(payload);
          if (k < v.size() && v[k] != s) continue;  // s was removed; v[k] is the next one
        }
        ++k;
      }
    });
  }
}

size_t WsHub::subscribers() const { return state_->subscribers.load(); }

uint64_t WsHub::dropped() const { return state_->dropped.load(); }

void WsHub::CloseAll() {
  size_t n = state_->num_shards.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    WsShard* shard = state_->shards[i].load(std::memory_order_acquire);
    asio::post(*shard->ctx, [state = state_, shard] {
      while (!shard->sessions.empty()) shard->sessions.back()->Close();
    });
  }
}

void WsHub::Accept(asio::io_context& context, HttpStream socket,
                   http::request<http::string_body> request, std::optional<Principal> principal) {
  (void)principal;
  WsShard& shard = state_->ShardFor(context);
  auto session = std::make_shared<WsSession>(state_, shard, std::move(socket));
  asio::co_spawn(
      context,
      [session, req = std::move(request)]() mutable -> asio::awaitable<void> {
        try {
          co_await session->Run(std::move(req));
        } catch (const std::exception&) {
          session->Close();
        }
      },
      asio::detached);
}

}  // namespace aiot::net
