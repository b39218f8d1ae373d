#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::sim {

struct HttpFetchOptions {
  std::string bearer_token;     // sent as "Authorization: Bearer <token>" when set
  size_t max_bytes = 16 << 20;  // larger bodies fail with resource_exhausted
  int timeout_ms = 30000;       // whole request
};

// GET http://host[:port]/path, blocking the calling thread (it runs its own io_context), so a
// device can download a model off its event loop. Returns the body of a 200 response;
// errc::unavailable for connection failures, errc::not_found / errc::permission_denied /
// errc::io_error for other statuses, errc::timeout, errc::invalid_argument for a url that is not
// http://. `status` gets the HTTP status when one arrived. No TLS: put the device behind a
// TLS-terminating proxy or use the in-cluster network.
Result<std::string> HttpGet(const std::string& url, const HttpFetchOptions& options,
                            int* status = nullptr);

struct HttpResponse {
  int status = 0;
  std::string body;
};

// Any request (`method` "GET", "POST", ...; `body` sent as application/json when not empty),
// blocking like HttpGet. Returns the response whatever its status; errors only when no response
// arrived: errc::unavailable (cannot connect), errc::timeout, errc::resource_exhausted (body over
// max_bytes), errc::io_error, errc::invalid_argument for a url that is not http://.
Result<HttpResponse> HttpCall(std::string_view method, const std::string& url, std::string body,
                              const HttpFetchOptions& options);

}  // namespace aiot::sim
