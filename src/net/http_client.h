#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "base/tls.h"

namespace aiot::net {

struct HttpClientOptions {
  // Sent as "Authorization: Bearer <token>" when not empty.
  std::string token;
  // Bounds one call: connect, write and read together. Not name resolution: asio resolves with
  // getaddrinfo on a helper thread, which cannot be interrupted, so a host name whose DNS server
  // does not answer can take longer (give an address, or a resolver that answers).
  std::chrono::milliseconds timeout{30000};
  // Replies with a larger body fail with errc::resource_exhausted.
  size_t max_body_bytes = 64u << 20;
  std::string user_agent = "aiot";
  // https:// only: the CA the server certificate must chain to (empty = the system's store), a
  // client certificate, the name to check (empty = the url's host), the lowest version.
  tls::ClientConfig tls;
};

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const;
  // The body as JSON; errc::parse_error when it is not.
  Result<nlohmann::json> Json() const;
};

// The blocking HTTP/1.1 client (Boost.Beast) of the CLI, the device agent, the predictor's
// registry follower and the InfluxDB sink: one connection to one server, kept alive between calls
// and reopened (once per call) when the server closed it. Every call is bounded by the timeout
// (name resolution aside: see HttpClientOptions::timeout); the reply is hostile input: a body
// over max_body_bytes, a malformed or truncated reply and a server that stops answering all end
// in an error, never a crash or a hang. http:// and https:// (options.tls: CA, client
// certificate, server name check on by default). Not thread-safe: one owner thread (it runs its own
// io_context, so it may be used from any thread that is not an asio handler of another context).
class HttpClient {
 public:
  // `base_url`: "http://host[:port]" or "https://host[:port]" (a path after it is ignored; [v6]
  // hosts allowed).
  explicit HttpClient(std::string_view base_url, HttpClientOptions options = {});
  // With `token` as the bearer token and the other options at their defaults.
  HttpClient(std::string_view base_url, std::string token);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // False when the base URL is not http(s)://host[:port]; every call then fails with
  // errc::invalid_argument.
  bool valid() const;
  HttpClientOptions& options();

  // Any HTTP status is a reply. Errors only when no complete reply arrived: errc::invalid_argument
  // (bad base URL or method, unusable tls files), errc::unavailable (cannot resolve or connect,
  // or the TLS handshake failed: the message says why, e.g. "certificate verify failed: ..."),
  // errc::timeout,
  // errc::resource_exhausted (body over max_body_bytes), errc::io_error (malformed or truncated
  // reply, connection lost).
  Result<HttpReply> Call(std::string_view method, std::string_view target, std::string body = {},
                         const std::map<std::string, std::string>& headers = {},
                         std::string_view content_type = "application/json");
  Result<HttpReply> Get(std::string_view target,
                        const std::map<std::string, std::string>& headers = {}) {
    return Call("GET", target, {}, headers);
  }
  void Close();

  // Percent-encodes a query parameter value.
  static std::string Escape(std::string_view s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "http://host[:port][/target]" (port 80 and target "/" by default), and with `https` also
// "https://..." (port 443; *https says which). False for anything else.
bool SplitHttpUrl(std::string_view url, std::string* host, std::string* port, std::string* target,
                  bool* https = nullptr);

// One call to a full URL on a fresh connection.
Result<HttpReply> HttpRequest(std::string_view method, std::string_view url, std::string body = {},
                              const HttpClientOptions& options = {});

}  // namespace aiot::net
