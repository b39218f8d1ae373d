// libFuzzer target for request parsing: Beast's request parser with the server's limits (fed in
// pieces, several pipelined requests per input, like a connection), then what the server does
// with a parsed head: target split, router lookup with path parameters, bearer token, and the
// Request (query string parsing).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/auth.h"
#include "net/http.h"
#include "net/request_parser.h"
#include "net/router.h"
#include "net/target.h"

namespace {

using aiot::net::Request;
using aiot::net::Response;
using aiot::net::Router;
namespace http = aiot::net::http;

Response Ok(Request&) { return Response(); }

const Router& TheRouter() {
  static Router* router = [] {
    auto* r = new Router();
    r->Get("/api/v1/models", Ok);
    r->Get("/api/v1/models/{name}/versions/{version}", Ok);
    r->Post("/api/v1/models/{name}", Ok);
    r->Delete("/api/v1/models/{name}", Ok);
    r->Get("/static/{file*}", Ok);
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the bytes arrive (1..256 bytes per read).
  const size_t piece = static_cast<size_t>(data[0]) + 1;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const Router& router = TheRouter();
  std::string buffer;
  size_t fed = 0;
  for (int requests = 0; requests < 8; ++requests) {
    aiot::net::RequestParser parser;
    aiot::net::ConfigureRequestParser(parser, 4096, 64 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
      if (!buffer.empty()) {
        size_t used = parser.put(boost::asio::buffer(buffer), ec);
        buffer.erase(0, used);
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          return 0;  // the server answers 4xx and closes
        }
        if (parser.is_done()) break;
        if (used > 0 && !buffer.empty()) continue;
      }
      if (fed >= input.size()) {
        parser.put_eof(ec);
        return 0;
      }
      size_t n = std::min(piece, input.size() - fed);
      buffer.append(input.substr(fed, n));
      fed += n;
    }
    auto& msg = parser.get();
    std::string_view path;
    std::string_view query;
    if (aiot::net::SplitTarget(msg.target(), path, query)) {
      Request::Params params;
      const aiot::net::Endpoint* endpoint = nullptr;
      std::string allow;
      (void)router.Find(msg.method(), path, params, &endpoint, &allow);
    }
    (void)aiot::net::BearerToken(msg[http::field::authorization]);
    Request request;
    if (request.Reset(parser.release(), {})) {
      (void)request.query("a");
      (void)request.Json();
    }
  }
  return 0;
}
