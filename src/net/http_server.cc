#include "net/http_server.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <set>

#include "base/check.h"
#include "base/errc.h"
#include "base/log.h"
#include "net/http_stream.h"
#include "net/request_parser.h"
#include "net/target.h"
#include "net/ws_hub.h"

namespace aiot::net {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

void Describe(config::Visitor& v, HttpServerConfig& c) {
  v.Field("listen", c.listen,
          "Address to listen on, host:port or [v6]:port (loopback by default; port 0 = any free).");
  v.Field("max_header_bytes", c.max_header_bytes,
          "Largest request line + headers in bytes; larger gets 431 and a close.");
  v.Field("max_body_bytes", c.max_body_bytes,
          "Largest request body in bytes (routes may override); larger gets 413 and a close.");
  v.Field("idle_timeout_ms", c.idle_timeout_ms,
          "Close a keep-alive connection idle (no request in progress) for this long.");
  v.Field("request_timeout_ms", c.request_timeout_ms,
          "Time to receive a whole request once it started (and per response write); then close.");
  v.Field("max_connections", c.max_connections,
          "Connections beyond this are accepted and closed at once.");
  v.Field("drain_timeout_ms", c.drain_timeout_ms,
          "On stop, wait this long for in-flight requests before closing their connections.");
  v.Field("auth_tokens", c.auth_tokens,
          "Bearer tokens by principal name ({name: token}); no defaults, keep them out of the repo "
          "(e.g. AIOT_HTTP_AUTH_TOKENS or a private config file).");
  v.Field("auth_roles", c.auth_roles,
          "Comma-separated roles by principal name ({name: \"admin,operator\"}).");
  v.Field("metrics_endpoint", c.metrics_endpoint, "Serve GET /metrics (Prometheus text format).");
  config::Section(v, "tls", c.tls,
                  "HTTPS when cert is set (the same settings as broker.tls); WebSocket routes are "
                  "then wss://");
}

void Validate(config::Checks& checks, const HttpServerConfig& c) {
  ValidateTokens(checks, c.auth_tokens, c.auth_roles);
}

namespace {

constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};
constexpr size_t kMinStatus = 100;
constexpr size_t kMaxStatus = 600;
constexpr size_t kFileChunk = 64 * 1024;
// HTTPS: how long a closing connection waits for the client's close_notify (or its close).
constexpr uint32_t kCloseNotifyMs = 2000;

bool ParseListen(std::string_view listen, tcp::endpoint& out) {
  std::string_view host;
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return false;
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return false;
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) return false;
  boost::system::error_code aec;
  auto addr = asio::ip::make_address(std::string(host), aec);
  if (aec) return false;
  out = tcp::endpoint(addr, static_cast<uint16_t>(p));
  return true;
}

// Per io_context, per endpoint. Only the context's thread records; /metrics on any context drains
// every context's stats with exchange(), so a response is counted by the next scrape whichever
// thread serves it.
struct LocalStats {
  std::array<std::atomic<uint32_t>, kMaxStatus - kMinStatus> status{};
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
  std::atomic<uint64_t> sum_ns{0};
  std::atomic<bool> dirty{false};

  void Record(unsigned code, double seconds) {
    if (code >= kMinStatus && code < kMaxStatus) {
      status[code - kMinStatus].fetch_add(1, std::memory_order_relaxed);
    }
    size_t b = 0;
    while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
    buckets[b].fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
    dirty.store(true, std::memory_order_release);
  }
};

// Registry side of one endpoint: counters resolved once per status, under `mu` (flush path only).
struct EndpointMetrics {
  std::string route;
  std::string method;
  prometheus::Histogram* histogram = nullptr;
  std::mutex mu;
  std::array<prometheus::Counter*, kMaxStatus - kMinStatus> counters{};
};

void FormatDate(std::string& out) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  out.assign(buf, n);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void AppendHeaderValue(std::string& out, std::string_view v) {
  for (char c : v) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

}  // namespace

class Connection;

struct ContextState {
  size_t index = 0;
  asio::io_context* ctx = nullptr;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> sweep;
  std::set<Connection*> connections;
  std::unique_ptr<LocalStats[]> stats;
  size_t stats_size = 0;
  std::string date;
  bool stopping = false;
  Clock::time_point drain_deadline{};
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerConfig config;
  Runtime& runtime;
  Router& router;
  metrics::Registry& registry;
  std::shared_ptr<spdlog::logger> log = log::Get("http");
  std::shared_ptr<const Authenticator> authenticator;
  std::vector<std::pair<std::string, std::function<bool()>>> readiness;
  std::vector<std::unique_ptr<ContextState>> contexts;
  std::vector<std::unique_ptr<EndpointMetrics>> endpoint_metrics;
  std::vector<WsHub*> hubs;
  tls::ContextSlot tls;  // HTTPS: the context new handshakes use (ReloadTls replaces it)
  prometheus::Family<prometheus::Counter>* requests_family = nullptr;
  prometheus::Gauge* connections_gauge = nullptr;
  size_t id_healthz = 0, id_readyz = 0, id_metrics = 0, id_unmatched = 0;
  Clock::duration tick{};

  std::atomic<uint16_t> port{0};
  std::atomic<size_t> active{0};
  std::atomic<bool> stopping{false};
  bool started = false;

  // Live coroutines (accept loops, sweepers, connections); Stop() waits for zero.
  std::mutex live_mu;
  std::condition_variable live_cv;
  size_t live = 0;

  Impl(const HttpServerConfig& c, Runtime& rt, Router& r, metrics::Registry& reg)
      : config(c), runtime(rt), router(r), registry(reg) {}

  void AddLive() {
    std::lock_guard lock(live_mu);
    ++live;
  }
  void DropLive() {
    std::lock_guard lock(live_mu);
    if (--live == 0) live_cv.notify_all();
  }

  void RegisterMetrics();
  Status BindContexts(const tcp::endpoint& ep);
  void Flush(ContextState& cs);
  void FlushAll();
  asio::awaitable<void> AcceptLoop(ContextState& cs);
  asio::awaitable<void> SweepLoop(ContextState& cs);
  void StopOnContext(ContextState& cs);
  Response Builtin(size_t id, ContextState& cs);
};

// One HTTP connection; lives on one io_context (its ContextState) and is touched only there.
class Connection {
 public:
  enum class Phase { kIdle, kReading, kBusy };

  Connection(std::shared_ptr<HttpServer::Impl> server, ContextState& cs, HttpStream socket)
      : server_(std::move(server)), cs_(cs), socket_(std::move(socket)) {
    boost::system::error_code ec;
    remote_ = socket_.socket().remote_endpoint(ec);
  }

  asio::awaitable<void> Run();

  // Called on the context's thread by stop.
  // Idle = waiting for a request with nothing received: a request whose bytes are already in
  // the socket is let through (and answered 503). The wait is cancelled rather than the socket
  // closed: a read that has already taken bytes from the socket (its completion queued, not yet
  // run) then still completes with them, and that request is answered 503 too; otherwise Run
  // ends the connection (HTTPS: with close_notify first).
  void CloseIfIdle() {
    if (phase_ != Phase::kIdle || buffer_.size() != 0 || closing_) return;
    boost::system::error_code ec;
    if (socket_.socket().available(ec) != 0 && !ec) return;
    closing_ = true;
    socket_.socket().cancel(ec);
  }
  void CloseIfExpired(Clock::time_point now) {
    if (now < deadline_) return;
    if (phase_ == Phase::kIdle && socket_.tls() && !closing_) {
      closing_ = true;  // idle timeout over HTTPS: Run sends close_notify (CloseIfIdle)
      boost::system::error_code ec;
      socket_.socket().cancel(ec);
      return;
    }
    Close();
  }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  // Who answers a request: a response decided already (`handled`: an error, a built-in), or the
  // endpoint `ep` (its handler, or its WebSocket hub).
  struct Decision {
    Response resp;
    bool handled = false;
    bool keep_alive = true;
    size_t stat_id = 0;
    const Endpoint* ep = nullptr;
    std::optional<Principal> principal;

    void Answer(Response r) {
      resp = std::move(r);
      handled = true;
    }
  };

  // Waits for a request (idle timeout), then reads its head (request timeout). False: the
  // connection ends (closed, timed out, or a bad head, answered with its 4xx).
  asio::awaitable<bool> ReadHead();
  // HTTPS: the TLS handshake, bounded by the request timeout. False: the connection ends.
  asio::awaitable<bool> Handshake();
  // Transfer-Encoding, shutdown, target, built-ins, route, authentication.
  Decision Decide();
  size_t BuiltinId(http::verb method, std::string_view path) const;
  void Authorize(Decision& d, std::string_view authorization);
  // The body for `ep` (100-continue, the route's body limit). False: the connection ends.
  asio::awaitable<bool> ReadBody(const Endpoint& ep, unsigned version);
  // True when the socket went to `d.ep`'s hub; otherwise `d` answers 426.
  bool UpgradeToWebSocket(Decision& d, Clock::time_point t0);
  asio::awaitable<Response> CallEndpoint(const Endpoint& ep, std::optional<Principal> principal);
  asio::awaitable<bool> Write(const Response& r, bool head_only, bool keep_alive, unsigned version);
  asio::awaitable<void> WriteError(http::status s, std::string_view code, std::string_view message,
                                   unsigned version);

  std::shared_ptr<HttpServer::Impl> server_;
  ContextState& cs_;
  HttpStream socket_;
  tcp::endpoint remote_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request request_;
  std::string head_;
  std::string allow_;
  std::unique_ptr<char[]> file_buf_;
  Phase phase_ = Phase::kIdle;
  bool closing_ = false;  // an idle close is under way (the wait cancelled; HTTPS: close_notify)
  Clock::time_point deadline_ = Clock::time_point::max();
};

asio::awaitable<bool> Connection::Write(const Response& r, bool head_only, bool keep_alive,
                                        unsigned version) {
  unsigned code = static_cast<unsigned>(r.status);
  head_.assign("HTTP/1.1 ");
  char num[24];
  auto res = std::to_chars(num, num + sizeof(num), code);
  head_.append(num, res.ptr);
  head_.push_back(' ');
  head_.append(http::obsolete_reason(r.status));
  head_.append("\r\n");
  const bool no_body = code < 200 || code == 204 || code == 304;
  uint64_t length = r.file ? r.file->length : r.body.size();
  if (!no_body) {
    if (!r.content_type.empty()) {
      head_.append("Content-Type: ");
      AppendHeaderValue(head_, r.content_type);
      head_.append("\r\n");
    }
    head_.append("Content-Length: ");
    res = std::to_chars(num, num + sizeof(num), length);
    head_.append(num, res.ptr);
    head_.append("\r\n");
  }
  head_.append(cs_.date);
  if (!keep_alive) {
    head_.append("Connection: close\r\n");
  } else if (version == 10) {
    head_.append("Connection: keep-alive\r\n");
  }
  bool nosniff = false;
  for (const auto& [name, value] : r.headers) {
    nosniff = nosniff || beast::iequals(name, "X-Content-Type-Options");
    AppendHeaderValue(head_, name);
    head_.append(": ");
    AppendHeaderValue(head_, value);
    head_.append("\r\n");
  }
  // No body is to be sniffed into another type (JSON that holds markup is not HTML).
  if (!nosniff) head_.append("X-Content-Type-Options: nosniff\r\n");
  head_.append("\r\n");

  boost::system::error_code ec;
  deadline_ = Clock::now() + std::chrono::milliseconds(server_->config.request_timeout_ms);
  const bool send_body = !head_only && !no_body;
  if (!send_body || (!r.file && r.body.empty())) {
    co_await asio::async_write(socket_, asio::buffer(head_),
                               asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }
  if (!r.file) {
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(head_), asio::buffer(r.body)};
    co_await asio::async_write(socket_, bufs, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }
  co_await asio::async_write(socket_, asio::buffer(head_),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  if (!file_buf_) file_buf_ = std::make_unique<char[]>(kFileChunk);
  uint64_t offset = r.file->offset;
  uint64_t remain = r.file->length;
  while (remain > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(remain, kFileChunk));
    ssize_t n = ::pread(r.file->fd, file_buf_.get(), want, static_cast<off_t>(offset));
    if (n <= 0) co_return false;  // file shrank or I/O error: the length is promised, so close
    deadline_ = Clock::now() + std::chrono::milliseconds(server_->config.request_timeout_ms);
    co_await asio::async_write(socket_, asio::buffer(file_buf_.get(), static_cast<size_t>(n)),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    offset += static_cast<uint64_t>(n);
    remain -= static_cast<uint64_t>(n);
  }
  co_return true;
}

asio::awaitable<void> Connection::WriteError(http::status s, std::string_view code,
                                             std::string_view message, unsigned version) {
  Response r = ErrorResponse(s, code, message);
  co_await Write(r, false, false, version);
  server_->contexts[cs_.index]->stats[server_->id_unmatched].Record(static_cast<unsigned>(s), 0);
}

// One request after another while the connection is kept alive: read the head, decide who
// answers (an error, a built-in, an endpoint), read the body for an endpoint, call it, write.
asio::awaitable<void> Connection::Run() {
  boost::system::error_code ec;
  const bool shaken = co_await Handshake();  // HTTPS; true at once for HTTP
  while (shaken) {
    phase_ = Phase::kIdle;
    if (cs_.stopping) break;
    if (!co_await ReadHead()) break;
    const Clock::time_point t0 = Clock::now();
    const unsigned version = parser_->get().version();
    const bool head_only = parser_->get().method() == http::verb::head;
    Decision d = Decide();
    if (!d.handled && !parser_->is_done()) {
      if (!co_await ReadBody(*d.ep, version)) break;
    }
    if (!d.handled && d.ep->hub != nullptr && UpgradeToWebSocket(d, t0)) co_return;
    if (!d.handled) {
      d.resp = co_await CallEndpoint(*d.ep, std::move(d.principal));
    } else if (!parser_->is_done()) {
      // Answered before reading the body: the rest of the stream is not a request boundary.
      d.keep_alive = false;
    }
    if (cs_.stopping) d.keep_alive = false;
    bool ok = co_await Write(d.resp, head_only, d.keep_alive, version);
    cs_.stats[d.stat_id].Record(static_cast<unsigned>(d.resp.status),
                                std::chrono::duration<double>(Clock::now() - t0).count());
    if (!ok || !d.keep_alive) break;
  }
  if (socket_.socket().is_open()) {
    if (socket_.tls()) {
      // A clean TLS end: close_notify, so the client sees the end of the stream and not a
      // truncation. Bounded: the sweeper closes the socket past the deadline if the client
      // neither answers with its close_notify nor closes.
      phase_ = Phase::kBusy;
      deadline_ = Clock::now() + std::chrono::milliseconds(std::min<uint32_t>(
                                     server_->config.request_timeout_ms, kCloseNotifyMs));
      co_await socket_.tls_stream().async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
    socket_.socket().shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }
}

asio::awaitable<bool> Connection::Handshake() {
  if (!socket_.tls()) co_return true;
  phase_ = Phase::kReading;
  deadline_ = Clock::now() + std::chrono::milliseconds(server_->config.request_timeout_ms);
  boost::system::error_code ec;
  co_await socket_.tls_stream().async_handshake(asio::ssl::stream_base::server,
                                                asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    server_->log->debug("TLS handshake with {} failed: {}", remote_.address().to_string(),
                        tls::HandshakeError(socket_.tls_stream().native_handle(), ec));
  }
  co_return !ec;
}

asio::awaitable<bool> Connection::ReadHead() {
  const auto& cfg = server_->config;
  boost::system::error_code ec;
  if (buffer_.size() == 0) {
    // Give back the memory of a large request; small buffers are kept for the next one.
    if (buffer_.capacity() > 64 * 1024) buffer_.shrink_to_fit();
    deadline_ = Clock::now() + std::chrono::milliseconds(cfg.idle_timeout_ms);
    size_t n = co_await socket_.async_read_some(buffer_.prepare(4096),
                                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    buffer_.commit(n);
  }
  phase_ = Phase::kReading;
  deadline_ = Clock::now() + std::chrono::milliseconds(cfg.request_timeout_ms);
  parser_.emplace();
  ConfigureRequestParser(*parser_, cfg.max_header_bytes, cfg.max_body_bytes);
  co_await http::async_read_header(socket_, buffer_, *parser_,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_return true;
  if (ec == http::error::header_limit) {
    co_await WriteError(http::status::request_header_fields_too_large, "header_fields_too_large",
                        "request head exceeds the limit", 11);
  } else if (ec == http::error::body_limit) {
    co_await WriteError(http::status::payload_too_large, "payload_too_large",
                        "request body exceeds the limit", 11);
  } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    co_await WriteError(http::status::bad_request, "bad_request", ec.message(), 11);
  }
  co_return false;
}

Connection::Decision Connection::Decide() {
  auto& srv = *server_;
  auto& msg = parser_->get();
  const http::verb method = msg.method();
  Decision d;
  d.stat_id = srv.id_unmatched;
  d.keep_alive = msg.keep_alive();
  Request::Params& params = request_.mutable_params();
  params.clear();
  std::string_view path;
  std::string_view query;
  std::string_view te = msg[http::field::transfer_encoding];
  if (!te.empty() && !beast::iequals(Trim(te), "chunked")) {
    // Only plain chunked framing is understood; anything else ("gzip, chunked", "chunked,
    // chunked") would hand handlers an encoded body or hide a smuggled request.
    d.Answer(ErrorResponse(http::status::not_implemented, "unsupported_transfer_encoding",
                           "only Transfer-Encoding: chunked is supported"));
    d.keep_alive = false;
  } else if (cs_.stopping || srv.stopping.load(std::memory_order_relaxed)) {
    // The server-wide flag too: BeginStop has returned, but this context may not have run its
    // StopOnContext yet.
    d.Answer(ErrorResponse(http::status::service_unavailable, "shutting_down",
                           "the server is shutting down"));
    d.keep_alive = false;
  } else if (!SplitTarget(msg.target(), path, query)) {
    d.Answer(ErrorResponse(http::status::bad_request, "bad_request", "malformed request target"));
    d.keep_alive = false;
  } else if (size_t id = BuiltinId(method, path); id != srv.id_unmatched) {
    d.stat_id = id;
    d.Answer(srv.Builtin(id, cs_));
  }
  if (d.handled) return d;
  auto found = srv.router.Find(method, path, params, &d.ep, &allow_);
  if (found == Router::Lookup::kNotFound) {
    d.Answer(ErrorResponse(http::status::not_found, "not_found", "no route for this path"));
  } else if (found == Router::Lookup::kMethodNotAllowed) {
    d.Answer(ErrorResponse(http::status::method_not_allowed, "method_not_allowed",
                           "method not allowed for this path"));
    d.resp.Header("Allow", allow_);
  } else {
    d.stat_id = d.ep->id;
    if (d.ep->options.auth) Authorize(d, msg[http::field::authorization]);
  }
  return d;
}

size_t Connection::BuiltinId(http::verb method, std::string_view path) const {
  const auto& srv = *server_;
  if (method != http::verb::get && method != http::verb::head) return srv.id_unmatched;
  if (path == "/healthz") return srv.id_healthz;
  if (path == "/readyz") return srv.id_readyz;
  if (path == "/metrics" && srv.config.metrics_endpoint) return srv.id_metrics;
  return srv.id_unmatched;
}

void Connection::Authorize(Decision& d, std::string_view authorization) {
  std::string_view token = BearerToken(authorization);
  if (token.empty()) {
    d.Answer(ErrorResponse(http::status::unauthorized, "unauthenticated",
                           "this route requires an Authorization: Bearer token"));
    d.resp.Header("WWW-Authenticate", "Bearer");
    return;
  }
  if (server_->authenticator) d.principal = server_->authenticator->Authenticate(token);
  if (!d.principal) {
    d.Answer(ErrorResponse(http::status::unauthorized, "unauthenticated", "invalid token"));
    d.resp.Header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  } else if (!d.ep->options.role.empty() && !d.principal->HasRole(d.ep->options.role)) {
    d.Answer(ErrorResponse(http::status::forbidden, "forbidden",
                           "this route requires role `" + d.ep->options.role + "`"));
  }
}

asio::awaitable<bool> Connection::ReadBody(const Endpoint& ep, unsigned version) {
  boost::system::error_code ec;
  // The head was read with the server's limit, and Beast checks a Content-Length against the
  // limit only when the head completes, before the route is known: a Content-Length over the
  // route's (lower) limit is checked here. Such a body is still read (the server's limit bounds
  // it) before the 413, so that a client busy sending it reads the answer instead of a reset;
  // a client that waits for 100-continue gets the 413 at once. Chunked bodies: Beast counts
  // them against the route's limit as they arrive.
  bool too_large = false;
  if (ep.options.max_body_bytes != 0) {
    const uint64_t limit =
        std::min<uint64_t>(ep.options.max_body_bytes, server_->config.max_body_bytes);
    const auto length = parser_->content_length();
    too_large = length && *length > limit;
    if (!length) parser_->body_limit(limit);
  }
  auto expect = parser_->get()[http::field::expect];
  if (beast::iequals(expect, "100-continue")) {
    if (too_large) {
      co_await WriteError(http::status::payload_too_large, "payload_too_large",
                          "request body exceeds the limit", version);
      co_return false;
    }
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    co_await asio::async_write(socket_, asio::buffer(kContinue),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
  }
  co_await http::async_read(socket_, buffer_, *parser_,
                            asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && too_large) {
    co_await WriteError(http::status::payload_too_large, "payload_too_large",
                        "request body exceeds the limit", version);
    co_return false;
  }
  if (!ec) co_return true;
  if (ec == http::error::body_limit) {
    co_await WriteError(http::status::payload_too_large, "payload_too_large",
                        "request body exceeds the limit", version);
  } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    co_await WriteError(http::status::bad_request, "bad_request", ec.message(), version);
  }
  co_return false;
}

bool Connection::UpgradeToWebSocket(Decision& d, Clock::time_point t0) {
  if (!beast::websocket::is_upgrade(parser_->get())) {
    d.Answer(ErrorResponse(http::status::upgrade_required, "upgrade_required",
                           "this route speaks WebSocket"));
    d.resp.Header("Upgrade", "websocket");
    return false;
  }
  cs_.stats[d.stat_id].Record(101, std::chrono::duration<double>(Clock::now() - t0).count());
  phase_ = Phase::kBusy;
  deadline_ = Clock::time_point::max();
  d.ep->hub->Accept(*cs_.ctx, std::move(socket_), parser_->release(), std::move(d.principal));
  return true;
}

asio::awaitable<Response> Connection::CallEndpoint(const Endpoint& ep,
                                                   std::optional<Principal> principal) {
  phase_ = Phase::kBusy;
  deadline_ = Clock::time_point::max();
  // Keep the parsed params across Reset (they live in the request).
  if (!request_.Reset(parser_->release(), remote_)) {
    co_return ErrorResponse(http::status::bad_request, "bad_request", "malformed query string");
  }
  request_.set_principal(std::move(principal));
  Response resp;
  try {
    if (ep.sync) {
      resp = ep.sync(request_);
    } else {
      resp = co_await ep.async(request_);
    }
  } catch (const std::exception& e) {
    server_->log->warn("{} {} handler threw: {}", http::to_string(ep.method), ep.pattern, e.what());
    resp = ErrorResponse(http::status::internal_server_error, "internal", "the handler failed");
  } catch (...) {
    resp = ErrorResponse(http::status::internal_server_error, "internal", "the handler failed");
  }
  co_return resp;
}

Response HttpServer::Impl::Builtin(size_t id, ContextState& cs) {
  if (id == id_healthz) {
    return Response(http::status::ok, "ok\n");
  }
  if (id == id_readyz) {
    nlohmann::json checks = nlohmann::json::object();
    bool ready = !stopping.load(std::memory_order_relaxed);
    for (const auto& [name, check] : readiness) {
      bool ok = false;
      try {
        ok = check();
      } catch (...) {
        ok = false;
      }
      checks[name] = ok;
      ready = ready && ok;
    }
    nlohmann::json body = {{"ready", ready}, {"checks", checks}};
    if (stopping.load(std::memory_order_relaxed)) body["stopping"] = true;
    return JsonResponse(ready ? http::status::ok : http::status::service_unavailable, body);
  }
  (void)cs;
  FlushAll();
  return Response(http::status::ok, metrics::SerializeText(registry), metrics::kTextContentType);
}

void HttpServer::Impl::Flush(ContextState& cs) {
  std::vector<double> buckets(kBuckets.size() + 1);
  for (size_t id = 0; id < cs.stats_size; ++id) {
    LocalStats& s = cs.stats[id];
    if (!s.dirty.exchange(false, std::memory_order_acquire)) continue;
    EndpointMetrics& m = *endpoint_metrics[id];
    {
      std::lock_guard lock(m.mu);
      for (size_t i = 0; i < s.status.size(); ++i) {
        uint32_t n = s.status[i].exchange(0, std::memory_order_relaxed);
        if (n == 0) continue;
        prometheus::Counter*& c = m.counters[i];
        if (c == nullptr) {
          c = &requests_family->Add({{"route", m.route},
                                     {"method", m.method},
                                     {"status", std::to_string(i + kMinStatus)}});
        }
        c->Increment(n);
      }
    }
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b] = static_cast<double>(s.buckets[b].exchange(0, std::memory_order_relaxed));
    }
    m.histogram->ObserveMultiple(
        buckets, static_cast<double>(s.sum_ns.exchange(0, std::memory_order_relaxed)) / 1e9);
  }
}

void HttpServer::Impl::FlushAll() {
  for (auto& cs : contexts) Flush(*cs);
}

asio::awaitable<void> HttpServer::Impl::AcceptLoop(ContextState& cs) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  for (;;) {
    tcp::socket socket(*cs.ctx);
    co_await cs.acceptor->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (cs.stopping || !cs.acceptor->is_open()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // Out of descriptors and the like: back off a little instead of spinning.
      log->warn("accept failed: {}", ec.message());
      asio::steady_timer t(*cs.ctx, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (active.load(std::memory_order_relaxed) >= config.max_connections) {
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto ctx = tls.Get();
    auto conn = std::make_shared<Connection>(
        self, cs,
        ctx ? HttpStream(std::move(socket), std::move(ctx)) : HttpStream(std::move(socket)));
    cs.connections.insert(conn.get());
    active.fetch_add(1, std::memory_order_relaxed);
    connections_gauge->Increment();
    AddLive();
    asio::co_spawn(
        *cs.ctx,
        [conn, self, &cs]() -> asio::awaitable<void> {
          try {
            co_await conn->Run();
          } catch (const std::exception& e) {
            self->log->warn("connection failed: {}", e.what());
          }
          cs.connections.erase(conn.get());
          self->active.fetch_sub(1, std::memory_order_relaxed);
          self->connections_gauge->Decrement();
          self->DropLive();
        },
        asio::detached);
  }
  DropLive();
}

asio::awaitable<void> HttpServer::Impl::SweepLoop(ContextState& cs) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  for (;;) {
    cs.sweep->expires_after(tick);
    co_await cs.sweep->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    FormatDate(cs.date);
    Flush(cs);
    auto now = Clock::now();
    if (cs.stopping && now >= cs.drain_deadline) {
      for (Connection* c : cs.connections) c->Close();
    } else {
      for (Connection* c : cs.connections) c->CloseIfExpired(now);
    }
    if (cs.stopping && cs.connections.empty()) break;
  }
  Flush(cs);
  DropLive();
}

void HttpServer::Impl::StopOnContext(ContextState& cs) {
  if (cs.stopping) return;
  cs.stopping = true;
  cs.drain_deadline = Clock::now() + std::chrono::milliseconds(config.drain_timeout_ms);
  boost::system::error_code ec;
  if (cs.acceptor) cs.acceptor->close(ec);
  if (cs.sweep) cs.sweep->cancel();  // sweep now: it ends once no connection is left
  // Copy: closing may not erase synchronously, but be safe against iterator invalidation.
  std::vector<Connection*> conns(cs.connections.begin(), cs.connections.end());
  for (Connection* c : conns) c->CloseIfIdle();
}

HttpServer::HttpServer(const HttpServerConfig& config, Runtime& runtime, Router& router,
                       metrics::Registry& registry)
    : impl_(std::make_shared<Impl>(config, runtime, router, registry)) {
  if (!config.auth_tokens.empty() || !config.auth_roles.empty()) {
    impl_->authenticator =
        std::make_shared<StaticTokenAuthenticator>(config.auth_tokens, config.auth_roles);
  }
}

HttpServer::~HttpServer() {
  if (impl_->started) Stop();
}

void HttpServer::SetAuthenticator(std::shared_ptr<const Authenticator> authenticator) {
  impl_->authenticator = std::move(authenticator);
}

void HttpServer::AddReadinessCheck(std::string name, std::function<bool()> check) {
  impl_->readiness.emplace_back(std::move(name), std::move(check));
}

// Metrics: one entry per router endpoint, then the built-ins and "unmatched".
void HttpServer::Impl::RegisterMetrics() {
  auto& req_family = prometheus::BuildCounter()
                         .Name("aiot_http_requests_total")
                         .Help("HTTP requests by route, method and status")
                         .Register(registry);
  auto& dur_family = prometheus::BuildHistogram()
                         .Name("aiot_http_request_duration_seconds")
                         .Help("HTTP request handling time (head received to response written)")
                         .Register(registry);
  auto& conn_family = prometheus::BuildGauge()
                          .Name("aiot_http_connections")
                          .Help("Open HTTP connections")
                          .Register(registry);
  requests_family = &req_family;
  connections_gauge = &conn_family.Add({{"listen", config.listen}});
  auto add_metrics = [&](std::string route, std::string method) {
    auto m = std::make_unique<EndpointMetrics>();
    m->route = std::move(route);
    m->method = std::move(method);
    m->histogram =
        &dur_family.Add({{"route", m->route}, {"method", m->method}},
                        prometheus::Histogram::BucketBoundaries(kBuckets.begin(), kBuckets.end()));
    endpoint_metrics.push_back(std::move(m));
    return endpoint_metrics.size() - 1;
  };
  for (const auto& e : router.endpoints()) {
    add_metrics(e->pattern, std::string(http::to_string(e->method)));
    if (e->hub != nullptr && std::find(hubs.begin(), hubs.end(), e->hub) == hubs.end()) {
      hubs.push_back(e->hub);
    }
  }
  id_healthz = add_metrics("/healthz", "GET");
  id_readyz = add_metrics("/readyz", "GET");
  id_metrics = add_metrics("/metrics", "GET");
  id_unmatched = add_metrics("unmatched", "any");
}

// One SO_REUSEPORT acceptor per context; the first one decides the port when it is 0.
Status HttpServer::Impl::BindContexts(const tcp::endpoint& ep) {
  for (size_t i = 0; i < runtime.size(); ++i) {
    auto cs = std::make_unique<ContextState>();
    cs->index = i;
    cs->ctx = &runtime.context(i);
    cs->stats = std::make_unique<LocalStats[]>(endpoint_metrics.size());
    cs->stats_size = endpoint_metrics.size();
    FormatDate(cs->date);
    auto acceptor = std::make_unique<tcp::acceptor>(*cs->ctx);
    boost::system::error_code ec;
    tcp::endpoint bind_ep = ep;
    if (i > 0) bind_ep.port(port.load());
    acceptor->open(bind_ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) !=
          0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor->bind(bind_ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      contexts.clear();
      return Status(std::error_code(ec.value(), std::system_category()),
                    "cannot listen on " + config.listen + ": " + ec.message());
    }
    if (i == 0) port = acceptor->local_endpoint().port();
    cs->acceptor = std::move(acceptor);
    cs->sweep = std::make_unique<asio::steady_timer>(*cs->ctx);
    contexts.push_back(std::move(cs));
  }
  return Status::Ok();
}

Status HttpServer::Start() {
  Impl& s = *impl_;
  AIOT_CHECK(!s.started, "HttpServer::Start called twice");
  tcp::endpoint ep;
  if (!ParseListen(s.config.listen, ep)) {
    return {errc::invalid_argument,
            "http.listen `" + s.config.listen + "` is not host:port or [v6]:port"};
  }
  if (!s.config.tls.cert.empty()) {
    auto ctx = tls::MakeServerContext(s.config.tls);
    if (!ctx.ok()) return Status(ctx.status().code(), "http." + ctx.status().message());
    s.tls.Set(*ctx);
  }
  s.RegisterMetrics();
  uint32_t shortest = std::min(s.config.idle_timeout_ms, s.config.request_timeout_ms);
  s.tick = std::chrono::milliseconds(std::clamp<uint32_t>(shortest / 4, 5, 100));
  if (Status st = s.BindContexts(ep); !st.ok()) return st;
  s.started = true;
  for (auto& cs : s.contexts) {
    ContextState& ref = *cs;
    s.AddLive();
    s.AddLive();
    asio::co_spawn(*ref.ctx, s.AcceptLoop(ref), asio::detached);
    asio::co_spawn(*ref.ctx, s.SweepLoop(ref), asio::detached);
  }
  s.log->info(
      "listening on {}{} ({} contexts)", s.tls.Get() ? "https://" : "",
      s.config.listen.substr(0, s.config.listen.rfind(':')) + ":" + std::to_string(s.port.load()),
      s.contexts.size());
  return Status::Ok();
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

bool HttpServer::tls() const { return impl_->tls.Get() != nullptr; }

Status HttpServer::ReloadTls() {
  if (!tls()) return Status::Ok();
  auto ctx = tls::MakeServerContext(impl_->config.tls);
  if (!ctx.ok()) return Status(ctx.status().code(), "http." + ctx.status().message());
  impl_->tls.Set(*ctx);
  impl_->log->info("reloaded the TLS certificate {}", impl_->config.tls.cert);
  return Status::Ok();
}

size_t HttpServer::connections() const { return impl_->active.load(); }

void HttpServer::BeginStop() {
  auto self = impl_;
  if (!self->started || self->stopping.exchange(true)) return;
  for (auto& cs : self->contexts) {
    ContextState* p = cs.get();
    asio::post(*p->ctx, [self, p] { self->StopOnContext(*p); });
  }
  for (WsHub* hub : self->hubs) hub->CloseAll();
}

void HttpServer::Stop() {
  AIOT_CHECK(!Runtime::OnRuntimeThread(),
             "HttpServer::Stop would block a runtime thread; "
             "use BeginStop()");
  if (!impl_->started) return;
  BeginStop();
  std::unique_lock lock(impl_->live_mu);
  // If the Runtime was stopped first nothing can drain any more; do not wait forever (the
  // coroutines are destroyed with the io_contexts).
  auto runtime_stopped = [this] {
    for (auto& cs : impl_->contexts) {
      if (!cs->ctx->stopped()) return false;
    }
    return true;
  };
  while (!impl_->live_cv.wait_for(lock, std::chrono::milliseconds(50),
                                  [this] { return impl_->live == 0; })) {
    if (runtime_stopped()) {
      impl_->log->warn("HttpServer::Stop after Runtime::Stop: connections were not drained");
      break;
    }
  }
}

}  // namespace aiot::net
