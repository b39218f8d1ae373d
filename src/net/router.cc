#include "net/router.h"

#include "base/check.h"
#include "net/target.h"

namespace aiot::net {

Endpoint& Router::AddEndpoint(http::verb method, std::string pattern, RouteOptions o) {
  AIOT_CHECK(!pattern.empty() && pattern[0] == '/', "route pattern must start with '/': %s",
             pattern.c_str());
  Route* route = nullptr;
  auto it = by_pattern_.find(pattern);
  if (it != by_pattern_.end()) {
    route = it->second;
  } else {
    auto r = std::make_unique<Route>();
    r->pattern = pattern;
    bool has_params = false;
    std::string_view rest = std::string_view(pattern).substr(1);
    for (;;) {
      size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      Segment s;
      if (!seg.empty() && seg.front() == '{') {
        AIOT_CHECK(seg.size() > 2 && seg.back() == '}', "malformed parameter in route %s",
                   pattern.c_str());
        std::string_view name = seg.substr(1, seg.size() - 2);
        if (name.back() == '*') {
          AIOT_CHECK(slash == std::string_view::npos, "{%s} must be the last segment of %s",
                     std::string(name).c_str(), pattern.c_str());
          name.remove_suffix(1);
          s.kind = Segment::kRest;
        } else {
          s.kind = Segment::kParam;
        }
        AIOT_CHECK(!name.empty() && name.find_first_of("{}/") == std::string_view::npos,
                   "malformed parameter name in route %s", pattern.c_str());
        s.text = std::string(name);
        has_params = true;
      } else {
        AIOT_CHECK(seg.find_first_of("{}") == std::string_view::npos,
                   "braces inside a literal segment of route %s", pattern.c_str());
        s.text = std::string(seg);
      }
      r->segments.push_back(std::move(s));
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
    route = r.get();
    by_pattern_[pattern] = route;
    if (has_params) {
      param_routes_.push_back(route);
    } else {
      literal_[pattern] = route;
    }
    routes_.push_back(std::move(r));
  }
  for (const Endpoint* e : route->endpoints) {
    AIOT_CHECK(e->method != method, "route %s %s registered twice",
               std::string(http::to_string(method)).c_str(), pattern.c_str());
  }
  auto e = std::make_unique<Endpoint>();
  e->method = method;
  e->pattern = std::move(pattern);
  e->options = std::move(o);
  if (!e->options.role.empty()) e->options.auth = true;
  e->id = endpoints_.size();
  route->endpoints.push_back(e.get());
  endpoints_.push_back(std::move(e));
  return *endpoints_.back();
}

void Router::Add(http::verb method, std::string pattern, SyncHandler h, RouteOptions o) {
  AIOT_CHECK(h != nullptr, "null handler for %s", pattern.c_str());
  AddEndpoint(method, std::move(pattern), std::move(o)).sync = std::move(h);
}

void Router::Add(http::verb method, std::string pattern, AsyncHandler h, RouteOptions o) {
  AIOT_CHECK(h != nullptr, "null handler for %s", pattern.c_str());
  AddEndpoint(method, std::move(pattern), std::move(o)).async = std::move(h);
}

void Router::Get(std::string p, SyncHandler h, RouteOptions o) {
  Add(http::verb::get, std::move(p), std::move(h), std::move(o));
}
void Router::Get(std::string p, AsyncHandler h, RouteOptions o) {
  Add(http::verb::get, std::move(p), std::move(h), std::move(o));
}
void Router::Post(std::string p, SyncHandler h, RouteOptions o) {
  Add(http::verb::post, std::move(p), std::move(h), std::move(o));
}
void Router::Post(std::string p, AsyncHandler h, RouteOptions o) {
  Add(http::verb::post, std::move(p), std::move(h), std::move(o));
}
void Router::Put(std::string p, SyncHandler h, RouteOptions o) {
  Add(http::verb::put, std::move(p), std::move(h), std::move(o));
}
void Router::Put(std::string p, AsyncHandler h, RouteOptions o) {
  Add(http::verb::put, std::move(p), std::move(h), std::move(o));
}
void Router::Delete(std::string p, SyncHandler h, RouteOptions o) {
  Add(http::verb::delete_, std::move(p), std::move(h), std::move(o));
}
void Router::Delete(std::string p, AsyncHandler h, RouteOptions o) {
  Add(http::verb::delete_, std::move(p), std::move(h), std::move(o));
}
void Router::Patch(std::string p, SyncHandler h, RouteOptions o) {
  Add(http::verb::patch, std::move(p), std::move(h), std::move(o));
}
void Router::Patch(std::string p, AsyncHandler h, RouteOptions o) {
  Add(http::verb::patch, std::move(p), std::move(h), std::move(o));
}

void Router::WebSocket(std::string pattern, WsHub& hub, RouteOptions o) {
  AddEndpoint(http::verb::get, std::move(pattern), std::move(o)).hub = &hub;
}

bool Router::MatchSegments(const Route& route, std::string_view path, Request::Params& params) {
  if (path.empty() || path[0] != '/') return false;
  std::string_view rest = path.substr(1);
  size_t base = params.size();
  const size_t n = route.segments.size();
  for (size_t i = 0; i < n; ++i) {
    const Segment& s = route.segments[i];
    if (rest.data() == nullptr) break;  // path has fewer segments
    if (s.kind == Segment::kRest) {
      std::string value;
      if (!PercentDecode(rest, value, false)) break;
      params.emplace_back(s.text, std::move(value));
      return true;
    }
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (s.kind == Segment::kLiteral) {
      if (seg != s.text) break;
    } else {
      std::string value;
      if (seg.empty() || !PercentDecode(seg, value, false)) break;
      params.emplace_back(s.text, std::move(value));
    }
    if (slash == std::string_view::npos) {
      if (i + 1 == n) return true;
      rest = std::string_view();
    } else {
      rest = rest.substr(slash + 1);
      if (i + 1 == n) break;  // path has more segments
    }
  }
  params.resize(base);
  return false;
}

Router::Lookup Router::Select(const Route& route, http::verb method, const Endpoint** endpoint,
                              std::string* allow) const {
  const Endpoint* get = nullptr;
  for (const Endpoint* e : route.endpoints) {
    if (e->method == method) {
      *endpoint = e;
      return Lookup::kFound;
    }
    if (e->method == http::verb::get) get = e;
  }
  if (method == http::verb::head && get != nullptr && get->hub == nullptr) {
    *endpoint = get;
    return Lookup::kFound;
  }
  if (allow != nullptr) {
    allow->clear();
    for (const Endpoint* e : route.endpoints) {
      if (!allow->empty()) allow->append(", ");
      allow->append(http::to_string(e->method));
      if (e->method == http::verb::get && e->hub == nullptr) allow->append(", HEAD");
    }
  }
  return Lookup::kMethodNotAllowed;
}

Router::Lookup Router::Find(http::verb method, std::string_view path, Request::Params& params,
                            const Endpoint** endpoint, std::string* allow) const {
  if (!literal_.empty()) {
    auto it = literal_.find(path);
    if (it != literal_.end()) return Select(*it->second, method, endpoint, allow);
  }
  Lookup result = Lookup::kNotFound;
  std::string first_allow;
  for (const Route* r : param_routes_) {
    size_t base = params.size();
    if (!MatchSegments(*r, path, params)) continue;
    Lookup l = Select(*r, method, endpoint, allow);
    if (l == Lookup::kFound) return l;
    params.resize(base);
    if (result == Lookup::kNotFound && allow != nullptr) first_allow = *allow;
    result = Lookup::kMethodNotAllowed;
  }
  if (allow != nullptr && result == Lookup::kMethodNotAllowed) *allow = std::move(first_allow);
  return result;
}

}  // namespace aiot::net
