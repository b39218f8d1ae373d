#include "sim/http_fetch.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "base/errc.h"

namespace aiot::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

bool SplitHttpUrl(const std::string& url, std::string* host, std::string* port,
                  std::string* target) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return false;
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  *target = slash == std::string::npos ? "/" : rest.substr(slash);
  *port = "80";
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    *host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      *port = authority.substr(close + 2);
  } else {
    const size_t colon = authority.rfind(':');
    *host = authority.substr(0, colon);
    if (colon != std::string::npos) *port = authority.substr(colon + 1);
  }
  return !host->empty() && !port->empty();
}

}  // namespace

Result<HttpResponse> HttpCall(std::string_view method, const std::string& url, std::string body,
                              const HttpFetchOptions& options) {
  std::string host, port, target;
  if (!SplitHttpUrl(url, &host, &port, &target)) return errc::invalid_argument;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return errc::invalid_argument;

  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, host + ":" + port);
  req.set(http::field::user_agent, "aiot-device");
  if (!options.bearer_token.empty()) {
    req.set(http::field::authorization, "Bearer " + options.bearer_token);
  }
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.max_bytes);
  parser.header_limit(64 * 1024);

  beast::error_code result = asio::error::would_block;
  asio::ip::tcp::resolver resolver(io);
  stream.expires_after(std::chrono::milliseconds(options.timeout_ms));
  resolver.async_resolve(
      host, port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type r) {
        if (ec) {
          result = ec;
          return;
        }
        stream.async_connect(r, [&](beast::error_code ec, const asio::ip::tcp::endpoint&) {
          if (ec) {
            result = ec;
            return;
          }
          http::async_write(stream, req, [&](beast::error_code ec, size_t) {
            if (ec) {
              result = ec;
              return;
            }
            http::async_read(stream, buffer, parser,
                             [&](beast::error_code ec, size_t) { result = ec; });
          });
        });
      });
  io.run();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);

  if (result == beast::error::timeout) return errc::timeout;
  if (result == http::error::body_limit) return errc::resource_exhausted;
  if (result) {
    if (result == asio::error::connection_refused || result == asio::error::host_not_found ||
        result == asio::error::host_not_found_try_again) {
      return errc::unavailable;
    }
    return errc::io_error;
  }
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = parser.release().body();
  return out;
}

Result<std::string> HttpGet(const std::string& url, const HttpFetchOptions& options, int* status) {
  auto r = HttpCall("GET", url, {}, options);
  if (!r.ok()) return r.error();
  if (status) *status = r->status;
  if (r->status == 200) return std::move(r->body);
  if (r->status == 404) return errc::not_found;
  if (r->status == 401 || r->status == 403) return errc::permission_denied;
  return errc::io_error;
}

}  // namespace aiot::sim
