#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::registry {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A small blocking HTTP/1.1 client (Boost.Beast) for the CLI, tests and benchmarks: one
// connection, kept alive between calls, reconnecting when the server closed it. Not
// thread-safe; use one per thread.
class HttpClient {
 public:
  // `base_url` is "http://host:port" (https is not supported). `token` goes into
  // Authorization: Bearer when not empty.
  HttpClient(std::string base_url, std::string token = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // errc::invalid_argument for a malformed base URL, errc::unavailable when the server cannot
  // be reached, errc::timeout, errc::io_error.
  Result<HttpReply> Call(std::string_view method, std::string_view target, std::string body = {},
                         const std::map<std::string, std::string>& headers = {},
                         std::string_view content_type = "application/json");
  Result<HttpReply> Get(std::string_view target,
                        const std::map<std::string, std::string>& headers = {}) {
    return Call("GET", target, {}, headers);
  }

  // Percent-encodes a query parameter value.
  static std::string Escape(std::string_view s);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace aiot::registry
