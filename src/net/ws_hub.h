#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/config.h"
#include "net/http.h"
#include "net/http_stream.h"

namespace aiot::net {

struct WsHubConfig {
  // Messages queued per client before it counts as too slow and is disconnected.
  size_t max_queue_messages = 1024;
  // Largest message a client may send (subscribe requests are small).
  size_t max_message_bytes = 64 * 1024;
  // Channels one client may subscribe to.
  size_t max_subscriptions = 64;
};

void Describe(config::Visitor& v, WsHubConfig& c);

// Fans JSON text messages out to WebSocket clients by channel.
//
// Clients connect to a route registered with Router::WebSocket(pattern, hub). They subscribe with
// `?subscribe=a,b` on the URL and/or by sending {"subscribe": "telemetry/fan-0001"} (a string or
// an array); {"unsubscribe": ...} removes. A channel pattern is an exact channel, "*" (all), or
// "prefix/*" (every channel under prefix/). After each (un)subscribe message the hub answers
// {"type":"subscribed","channels":[...]}. Each published message reaches the client as
// {"channel":"<channel>","data":<text>} in publish order (per publishing thread).
//
// Every client has a bounded queue; when it is full the client is disconnected (counted in
// dropped()) and nobody else waits for it. One message is built per Publish() and shared by all
// clients (shared_ptr<const std::string>).
//
// Thread-safety: Publish, subscribers, dropped and CloseAll from any thread. Sessions live on the
// io_context of their connection; the hub keeps one shard per context and Publish posts one task
// per shard that has clients (nothing when there are none).
class WsHub {
 public:
  explicit WsHub(WsHubConfig config = {});
  ~WsHub();
  WsHub(const WsHub&) = delete;
  WsHub& operator=(const WsHub&) = delete;

  // `text` must be JSON (an object, array, number, string literal...). Cheap when nobody listens.
  void Publish(std::string_view channel, std::string text);
  // Connected clients.
  size_t subscribers() const;
  // Clients disconnected because their queue overflowed.
  uint64_t dropped() const;
  // Closes every session (HttpServer::BeginStop calls it for the hubs of its routes).
  void CloseAll();

  // Framework use (HttpServer): completes the WebSocket handshake for `request` on `socket` and
  // serves the client on `context`, which must be the socket's io_context.
  // REQUIRES: called on `context`'s thread.
  void Accept(asio::io_context& context, HttpStream socket,
              http::request<http::string_body> request, std::optional<Principal> principal);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aiot::net
