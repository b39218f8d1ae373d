#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Who made a request, as established by an Authenticator from `Authorization: Bearer <token>`.
struct Principal {
  std::string name;
  std::vector<std::string> roles;
  bool HasRole(std::string_view role) const;
};

// An incoming HTTP request. Owned by its connection and reused between requests; a handler may
// keep references only until it returns (or, for an async handler, until its awaitable completes).
class Request {
 public:
  using Params = std::vector<std::pair<std::string_view, std::string>>;
  using Query = std::vector<std::pair<std::string, std::string>>;

  http::verb method() const { return message_.method(); }
  std::string_view method_string() const { return message_.method_string(); }
  // The request target as received ("/api/v1/models?limit=10").
  std::string_view target() const { return message_.target(); }
  // The path part of the target, still percent-encoded ("/api/v1/models").
  std::string_view path() const { return path_; }
  // The raw query string without '?' ("limit=10"), empty if none.
  std::string_view query_string() const { return query_string_; }
  // Decoded query parameters in order of appearance ('+' is a space).
  const Query& query_params() const { return query_; }
  // The first value of query parameter `key`, if present.
  std::optional<std::string_view> query(std::string_view key) const;
  // Decoded path parameter `{name}` of the matched route; empty if the route has no such parameter.
  std::string_view param(std::string_view name) const;
  const Params& params() const { return params_; }
  // A header value, empty when absent.
  std::string_view header(http::field f) const;
  std::string_view header(std::string_view name) const;
  const std::string& body() const { return message_.body(); }
  std::string& body() { return message_.body(); }
  // The body parsed as JSON; errc::parse_error when it is not valid JSON.
  Result<nlohmann::json> Json() const;
  // The authenticated caller, or nullptr on routes without auth (or with no token presented).
  const Principal* principal() const { return principal_ ? &*principal_ : nullptr; }
  const asio::ip::tcp::endpoint& remote() const { return remote_; }
  // The underlying Beast message, for anything not covered above.
  const http::request<http::string_body>& message() const { return message_; }
  http::request<http::string_body>& message() { return message_; }

  // Framework use: fill a request from a parsed message (path parameters are left as they are:
  // the router fills them through mutable_params()). Returns false when the target is malformed
  // (not origin-form, bad percent-encoding).
  bool Reset(http::request<http::string_body>&& message, const asio::ip::tcp::endpoint& remote);
  Params& mutable_params() { return params_; }
  void set_principal(std::optional<Principal> p) { principal_ = std::move(p); }

 private:
  http::request<http::string_body> message_;
  std::string_view path_;
  std::string_view query_string_;
  Query query_;
  Params params_;
  std::optional<Principal> principal_;
  asio::ip::tcp::endpoint remote_;
};

// A file region to stream as the response body (see ServeFile). Closes the descriptor.
struct FileBody {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
  FileBody() = default;
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;
  ~FileBody();
};

// An HTTP response. The server adds Content-Length, Date and Connection itself, and
// X-Content-Type-Options: nosniff unless the handler set it.
struct Response {
  http::status status = http::status::ok;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers (name, value), e.g. {"Location", "/api/v1/models/x"}.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed from this file region instead of `body`.
  std::unique_ptr<FileBody> file;

  Response() = default;
  Response(http::status s, std::string b, std::string type = "text/plain; charset=utf-8")
      : status(s), content_type(std::move(type)), body(std::move(b)) {}

  Response& Header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// `application/json` response of `body.dump()`.
Response JsonResponse(http::status status, const nlohmann::json& body);
inline Response JsonResponse(const nlohmann::json& body) {
  return JsonResponse(http::status::ok, body);
}
// `{"error":{"code":"<code>","message":"<message>"}}` with the given status.
Response ErrorResponse(http::status status, std::string_view code, std::string_view message);

// Serves a file with conditional and range support: If-None-Match against `etag` (304), a single
// `Range: bytes=` range (206, or 416 when unsatisfiable; If-Range honoured), HEAD-friendly.
// `etag` is the quoted entity tag (e.g. "\"sha256-abc\""); when empty a weak tag from size and
// mtime is used. Missing or unreadable files give a JSON 404.
Response ServeFile(const Request& request, const std::string& path, std::string_view content_type,
                   std::string_view etag = {});

// Handlers. Sync handlers run on the connection's io_context thread and must not block for long;
// async handlers may co_await (timers, other sockets, asio::post to a worker pool...). A handler
// that throws yields a JSON 500.
using SyncHandler = std::function<Response(Request&)>;
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
using AsyncHandler = std::function<asio::awaitable<Response>(Request&)>;
#else
// Asio 1.74 enables coroutines only where it finds them (g++ 12 yes; clang 14 with libstdc++, used
// for the fuzz targets, no). Without them only sync handlers exist; this keeps the overloads.
struct NoCoroutineSupport {};
using AsyncHandler = std::function<NoCoroutineSupport(Request&)>;
#endif

}  // namespace aiot::net
