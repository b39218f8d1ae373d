#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/http.h"

namespace aiot::net {

class WsHub;

struct RouteOptions {
  // Require `Authorization: Bearer <token>` accepted by the server's authenticator (else 401).
  bool auth = false;
  // Require the principal to have this role (else 403). Implies auth.
  std::string role;
  // Body limit for this route; 0 = the server's max_body_bytes, which a route can lower, not raise
  // (the server refuses a larger Content-Length before it knows the route).
  size_t max_body_bytes = 0;
};

// One (method, route) pair and what serves it.
struct Endpoint {
  http::verb method = http::verb::get;
  std::string pattern;  // also the `route` label of the HTTP metrics
  SyncHandler sync;
  AsyncHandler async;
  WsHub* hub = nullptr;  // set for WebSocket routes
  RouteOptions options;
  size_t id = 0;  // dense index, 0..endpoints().size()-1
};

// Maps (method, path) to an endpoint. Patterns are paths whose segments are literals, `{name}`
// (one non-empty segment, percent-decoded into Request::param("name")) or, as the last segment,
// `{name*}` (the rest of the path, possibly empty, may contain '/'):
//   router.Get("/api/v1/models/{name}/versions/{version}", handler);
//   router.Get("/static/{file*}", serve_static);
// Patterns without parameters are found by hash lookup; the others are tried in registration
// order. HEAD is served by the GET handler (the body is dropped). Registering the same method and
// pattern twice, or a malformed pattern, aborts.
//
// Thread-safety: register every route before HttpServer::Start(); after that the router is only
// read (concurrently, from every io_context) and must not be modified.
class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void Get(std::string pattern, SyncHandler h, RouteOptions o = {});
  void Get(std::string pattern, AsyncHandler h, RouteOptions o = {});
  void Post(std::string pattern, SyncHandler h, RouteOptions o = {});
  void Post(std::string pattern, AsyncHandler h, RouteOptions o = {});
  void Put(std::string pattern, SyncHandler h, RouteOptions o = {});
  void Put(std::string pattern, AsyncHandler h, RouteOptions o = {});
  void Delete(std::string pattern, SyncHandler h, RouteOptions o = {});
  void Delete(std::string pattern, AsyncHandler h, RouteOptions o = {});
  void Patch(std::string pattern, SyncHandler h, RouteOptions o = {});
  void Patch(std::string pattern, AsyncHandler h, RouteOptions o = {});
  void Add(http::verb method, std::string pattern, SyncHandler h, RouteOptions o = {});
  void Add(http::verb method, std::string pattern, AsyncHandler h, RouteOptions o = {});
  // A GET route that upgrades to WebSocket and attaches the connection to `hub` (see ws_hub.h).
  // `hub` must outlive the server.
  void WebSocket(std::string pattern, WsHub& hub, RouteOptions o = {});

  enum class Lookup { kFound, kNotFound, kMethodNotAllowed };
  // Finds the endpoint for `method` and the percent-encoded `path`. On kFound sets `*endpoint` and
  // appends decoded parameters to `params` (names point into the router). On kMethodNotAllowed
  // sets `allow` to the route's methods ("GET, HEAD, POST"). A parameter that does not decode
  // (bad escape) makes the route not match.
  Lookup Find(http::verb method, std::string_view path, Request::Params& params,
              const Endpoint** endpoint, std::string* allow) const;

  const std::vector<std::unique_ptr<Endpoint>>& endpoints() const { return endpoints_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind = kLiteral;
    std::string text;  // literal text, or the parameter name
  };
  struct Route {
    std::string pattern;
    std::vector<Segment> segments;
    std::vector<Endpoint*> endpoints;
  };

  Endpoint& AddEndpoint(http::verb method, std::string pattern, RouteOptions o);
  static bool MatchSegments(const Route& route, std::string_view path, Request::Params& params);
  Lookup Select(const Route& route, http::verb method, const Endpoint** endpoint,
                std::string* allow) const;

  std::vector<std::unique_ptr<Route>> routes_;
  std::unordered_map<std::string, Route*> by_pattern_;  // every route
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // Routes without parameters; heterogeneous lookup avoids a key allocation per request.
  std::unordered_map<std::string, Route*, StringHash, std::equal_to<>> literal_;
  std::vector<Route*> param_routes_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

}  // namespace aiot::net
