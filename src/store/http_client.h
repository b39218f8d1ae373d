#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot::store {

struct HttpReply {
  int status = 0;
  std::string body;
};

// A small blocking HTTP/1.1 client (POSIX sockets, Beast's response parser) for the InfluxDB
// sink: one keep-alive connection, reconnecting when the server closed it. Every wait is bounded
// by the timeout. Not thread-safe: one owner thread.
class HttpClient {
 public:
  // `base_url`: "http://host:port" (no TLS).
  static Result<HttpClient> Create(std::string_view base_url, int timeout_ms);
  HttpClient(HttpClient&& o) noexcept;
  HttpClient& operator=(HttpClient&&) = delete;
  HttpClient(const HttpClient&) = delete;
  ~HttpClient();

  // Sends one request; transport failures return io_error/timeout/unavailable (connection
  // refused). Any HTTP status is a successful reply.
  Result<HttpReply> Request(std::string_view method, std::string_view target, std::string_view body,
                            const std::vector<std::pair<std::string, std::string>>& headers = {});
  void Close();

 private:
  HttpClient() = default;
  Status Connect();
  Status SendAll(std::string_view data);

  std::string host_;
  std::string port_;
  int timeout_ms_ = 10000;
  int fd_ = -1;
};

// Percent-encodes a URL query value.
std::string UrlEncode(std::string_view s);

}  // namespace aiot::store
