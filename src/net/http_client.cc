#include "net/http_client.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <optional>

#include <nlohmann/json.hpp>

#include "base/errc.h"

namespace aiot::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpReply::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<nlohmann::json> HttpReply::Json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return errc::parse_error;
  return j;
}

bool SplitHttpUrl(std::string_view url, std::string* host, std::string* port, std::string* target,
                  bool* https) {
  constexpr std::string_view kScheme = "http://";
  constexpr std::string_view kTlsScheme = "https://";
  const bool tls = https != nullptr && url.substr(0, kTlsScheme.size()) == kTlsScheme;
  if (!tls && url.substr(0, kScheme.size()) != kScheme) return false;
  if (https != nullptr) *https = tls;
  url.remove_prefix(tls ? kTlsScheme.size() : kScheme.size());
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  *target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  *port = tls ? "443" : "80";
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return false;
      *port = std::string(authority.substr(close + 2));
    }
  } else {
    const size_t colon = authority.rfind(':');
    *host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) *port = std::string(authority.substr(colon + 1));
  }
  if (host->empty() || port->empty()) return false;
  for (char c : *port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return port->size() <= 5;
}

struct HttpClient::Impl {
  HttpClientOptions options;
  std::string host, port;
  bool valid = false;
  bool https = false;
  std::shared_ptr<asio::ssl::context> tls_context;  // https: made on the first call
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;                         // http
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;  // https
  beast::flat_buffer buffer;

  bool connected() const { return stream || tls_stream; }
  beast::tcp_stream& lowest() {
    return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream;
  }

  // Runs the io_context until the operations started finish (the stream's deadline bounds them).
  void Run() {
    io.restart();
    io.run();
  }
  void Reset() {
    if (connected()) {
      beast::error_code ignored;
      lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      lowest().close();
    }
    tls_stream.reset();
    stream.reset();
    buffer.clear();
  }

  // Resolves and connects a new stream (bounded by `deadline`). errc::unavailable, or
  // errc::timeout; the stream is reset on failure.
  Status Connect(std::chrono::steady_clock::time_point deadline) {
    buffer.clear();
    if (https) {
      if (!tls_context) {
        auto ctx = tls::MakeClientContext(options.tls);
        if (!ctx.ok()) return ctx.status();
        tls_context = *ctx;
      }
      tls_stream.emplace(io, *tls_context);
    } else {
      stream.emplace(io);
    }
    lowest().expires_at(deadline);
    beast::error_code ec = asio::error::would_block;
    asio::ip::tcp::resolver resolver(io);
    std::optional<asio::ip::tcp::resolver::results_type> endpoints;
    resolver.async_resolve(host, port,
                           [&](beast::error_code e, asio::ip::tcp::resolver::results_type r) {
                             ec = e;
                             if (!e) endpoints = std::move(r);
                           });
    Run();
    if (ec || !endpoints) {
      Reset();
      return errc::unavailable;
    }
    ec = asio::error::would_block;
    lowest().async_connect(*endpoints,
                           [&](beast::error_code e, const asio::ip::tcp::endpoint&) { ec = e; });
    Run();
    if (ec) {
      Reset();
      return ec == beast::error::timeout ? errc::timeout : errc::unavailable;
    }
    return https ? Handshake() : Status::Ok();
  }

  // TLS: SNI, the server name check, the handshake (bounded by the stream's deadline).
  Status Handshake() {
    if (Status s = tls::PrepareClient(tls_stream->native_handle(), options.tls, host); !s.ok()) {
      Reset();
      return s;
    }
    beast::error_code ec = asio::error::would_block;
    tls_stream->async_handshake(asio::ssl::stream_base::client,
                                [&](beast::error_code e) { ec = e; });
    Run();
    if (!ec) return Status::Ok();
    std::string why = tls::HandshakeError(tls_stream->native_handle(), ec);
    Reset();
    if (ec == beast::error::timeout) return errc::timeout;
    return Status(errc::unavailable, "TLS handshake with " + host + ":" + port + " failed: " + why);
  }

  // Writes and reads on whichever stream is open (Exchange).
  beast::error_code ExchangeAny(const http::request<http::string_body>& req,
                                http::response_parser<http::string_body>& parser) {
    return tls_stream ? Exchange(*tls_stream, req, parser) : Exchange(*stream, req, parser);
  }

  // Writes `req` and reads the response into `parser`: the head first, then the body (Beast
  // 1.74 skips body_limit when a whole message is parsed eagerly in one go, as async_read does
  // when head and body arrive together).
  template <class Stream>
  beast::error_code Exchange(Stream& s, const http::request<http::string_body>& req,
                             http::response_parser<http::string_body>& parser) {
    beast::error_code ec = asio::error::would_block;
    http::async_write(s, req, [&](beast::error_code e, size_t) {
      ec = e;
      if (e) return;
      ec = asio::error::would_block;
      http::async_read_header(s, buffer, parser, [&](beast::error_code e2, size_t) {
        ec = e2;
        if (e2 || parser.is_done()) return;
        ec = asio::error::would_block;
        http::async_read(s, buffer, parser, [&](beast::error_code e3, size_t) { ec = e3; });
      });
    });
    Run();
    return ec;
  }
};

HttpClient::HttpClient(std::string_view base_url, HttpClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  std::string target;
  impl_->valid = SplitHttpUrl(base_url, &impl_->host, &impl_->port, &target, &impl_->https);
}

HttpClient::HttpClient(std::string_view base_url, std::string token)
    : HttpClient(base_url, [&token] {
        HttpClientOptions o;
        o.token = std::move(token);
        return o;
      }()) {}

HttpClient::~HttpClient() { Close(); }

bool HttpClient::valid() const { return impl_->valid; }
HttpClientOptions& HttpClient::options() { return impl_->options; }
void HttpClient::Close() { impl_->Reset(); }

std::string HttpClient::Escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

std::error_code Classify(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return errc::timeout;
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return errc::resource_exhausted;
  }
  return errc::io_error;
}

// The reply in `parser` (header names in lower case).
HttpReply ToReply(http::response_parser<http::string_body>& parser) {
  auto& res = parser.get();
  HttpReply reply;
  reply.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(f.value());
  }
  reply.body = parser.release().body();
  return reply;
}

}  // namespace

Result<HttpReply> HttpClient::Call(std::string_view method, std::string_view target,
                                   std::string body,
                                   const std::map<std::string, std::string>& headers,
                                   std::string_view content_type) {
  Impl& d = *impl_;
  if (!d.valid) return errc::invalid_argument;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown || target.empty() || target[0] != '/') {
    return errc::invalid_argument;
  }
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, d.port == (d.https ? "443" : "80") ? d.host : d.host + ":" + d.port);
  req.set(http::field::user_agent, d.options.user_agent);
  if (!d.options.token.empty()) req.set(http::field::authorization, "Bearer " + d.options.token);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();

  const auto deadline = std::chrono::steady_clock::now() + d.options.timeout;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = false;
    if (!d.connected()) {
      if (Status s = d.Connect(deadline); !s.ok()) return s;
      fresh = true;
    }
    d.lowest().expires_at(deadline);
    http::response_parser<http::string_body> parser;
    parser.body_limit(d.options.max_body_bytes);
    parser.header_limit(64 * 1024);
    parser.skip(verb == http::verb::head);
    if (beast::error_code ec = d.ExchangeAny(req, parser)) {
      d.Reset();
      // A kept-alive connection the server closed meanwhile: once more on a new one.
      if (!fresh && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::broken_pipe || ec == asio::error::eof ||
                     ec == asio::ssl::error::stream_truncated)) {
        continue;
      }
      return Classify(ec);
    }
    const bool keep_alive = parser.get().keep_alive();
    HttpReply reply = ToReply(parser);
    if (!keep_alive) d.Reset();
    return reply;
  }
  return errc::io_error;
}

Result<HttpReply> HttpRequest(std::string_view method, std::string_view url, std::string body,
                              const HttpClientOptions& options) {
  std::string host, port, target;
  bool https = false;
  if (!SplitHttpUrl(url, &host, &port, &target, &https)) return errc::invalid_argument;
  HttpClient client(url, options);
  return client.Call(method, target, std::move(body));
}

}  // namespace aiot::net
