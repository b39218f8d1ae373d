#pragma once

// The byte stream of one server-side HTTP connection: a plain TCP socket, or TLS over it (HTTPS,
// `http.tls`). Internal to the server (http_server.cc, ws_hub.cc). It models Asio's
// AsyncReadStream / AsyncWriteStream by forwarding to whichever it is, so Beast's HTTP and
// WebSocket operations run on it unchanged; socket() is the TCP socket underneath.
#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>
#include <optional>

namespace aiot::net {

class HttpStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<Socket>;
  using executor_type = Socket::executor_type;

  explicit HttpStream(Socket socket) : plain_(std::move(socket)) {}
  // TLS over `socket` with `context` (kept alive as long as the stream); handshake before use.
  HttpStream(Socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : plain_(socket.get_executor()), context_(std::move(context)) {
    tls_.emplace(std::move(socket), *context_);
  }
  HttpStream(HttpStream&&) = default;

  bool tls() const { return tls_.has_value(); }
  Socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  TlsStream& tls_stream() { return *tls_; }
  executor_type get_executor() { return socket().get_executor(); }
  void close(boost::system::error_code& ec) { socket().close(ec); }
  // Beast's close_socket (WebSocket timeouts) by argument-dependent lookup.
  friend void beast_close_socket(HttpStream& s) {
    boost::system::error_code ec;
    s.close(ec);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return plain_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return plain_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  Socket plain_;  // unused (closed) when tls_ holds the socket
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<TlsStream> tls_;
};

// WebSocket close over either (Beast finds these by argument-dependent lookup).
inline void teardown(boost::beast::role_type role, HttpStream& s, boost::system::error_code& ec) {
  if (s.tls()) {
    boost::beast::teardown(role, s.tls_stream(), ec);
  } else {
    boost::beast::websocket::teardown(role, s.socket(), ec);
  }
}

template <class Handler>
void async_teardown(boost::beast::role_type role, HttpStream& s, Handler&& handler) {
  if (s.tls()) {
    boost::beast::async_teardown(role, s.tls_stream(), std::forward<Handler>(handler));
  } else {
    boost::beast::websocket::async_teardown(role, s.socket(), std::forward<Handler>(handler));
  }
}

}  // namespace aiot::net
