#include "net/router.h"

#include <gtest/gtest.h>

namespace aiot::net {
namespace {

Response Ok(Request&) { return Response(http::status::ok, "ok"); }

struct Found {
  Router::Lookup lookup;
  const Endpoint* endpoint = nullptr;
  Request::Params params;
  std::string allow;
};

Found Find(const Router& r, http::verb m, std::string_view path) {
  Found f;
  f.lookup = r.Find(m, path, f.params, &f.endpoint, &f.allow);
  return f;
}

TEST(RouterTest, MatchesLiteralAndParamRoutes) {
  Router r;
  r.Get("/api/v1/models", Ok);
  r.Get("/api/v1/models/{name}/versions/{version}", Ok);
  r.Post("/api/v1/models/{name}", Ok);
  r.Get("/static/{file*}", Ok);

  auto f = Find(r, http::verb::get, "/api/v1/models");
  ASSERT_EQ(f.lookup, Router::Lookup::kFound);
  EXPECT_EQ(f.endpoint->pattern, "/api/v1/models");

  f = Find(r, http::verb::get, "/api/v1/models/fan%20mlp/versions/3");
  ASSERT_EQ(f.lookup, Router::Lookup::kFound);
  ASSERT_EQ(f.params.size(), 2u);
  EXPECT_EQ(f.params[0].first, "name");
  EXPECT_EQ(f.params[0].second, "fan mlp");
  EXPECT_EQ(f.params[1].first, "version");
  EXPECT_EQ(f.params[1].second, "3");

  f = Find(r, http::verb::get, "/static/js/app.js");
  ASSERT_EQ(f.lookup, Router::Lookup::kFound);
  EXPECT_EQ(f.params[0].second, "js/app.js");
  f = Find(r, http::verb::get, "/static/");
  ASSERT_EQ(f.lookup, Router::Lookup::kFound);
  EXPECT_EQ(f.params[0].second, "");
}

TEST(RouterTest, RejectsNearMisses) {
  Router r;
  r.Get("/api/v1/models/{name}/versions/{version}", Ok);
  EXPECT_EQ(Find(r, http::verb::get, "/api/v1/models/x/versions").lookup,
            Router::Lookup::kNotFound);
  EXPECT_EQ(Find(r, http::verb::get, "/api/v1/models/x/versions/1/extra").lookup,
            Router::Lookup::kNotFound);
  EXPECT_EQ(Find(r, http::verb::get, "/api/v1/models//versions/1").lookup,
            Router::Lookup::kNotFound);
  EXPECT_EQ(Find(r, http::verb::get, "/api/v1/models/%zz/versions/1").lookup,
            Router::Lookup::kNotFound);
  EXPECT_EQ(Find(r, http::verb::get, "/static").lookup, Router::Lookup::kNotFound);
}

TEST(RouterTest, ReportsAllowedMethods) {
  Router r;
  r.Get("/things/{id}", Ok);
  r.Delete("/things/{id}", Ok);
  auto f = Find(r, http::verb::post, "/things/7");
  ASSERT_EQ(f.lookup, Router::Lookup::kMethodNotAllowed);
  EXPECT_EQ(f.allow, "GET, HEAD, DELETE");
  EXPECT_TRUE(f.params.empty());
  // HEAD falls back to GET.
  f = Find(r, http::verb::head, "/things/7");
  ASSERT_EQ(f.lookup, Router::Lookup::kFound);
  EXPECT_EQ(f.endpoint->method, http::verb::get);
}

TEST(RouterTest, AsyncAndSyncOverloadsResolve) {
  Router r;
  r.Get("/sync", [](Request&) { return Response(http::status::ok, "s"); });
  r.Get("/async",
        [](Request&) -> asio::awaitable<Response> { co_return Response(http::status::ok, "a"); });
  const Endpoint* e = nullptr;
  Request::Params p;
  ASSERT_EQ(r.Find(http::verb::get, "/sync", p, &e, nullptr), Router::Lookup::kFound);
  EXPECT_TRUE(e->sync);
  ASSERT_EQ(r.Find(http::verb::get, "/async", p, &e, nullptr), Router::Lookup::kFound);
  EXPECT_TRUE(e->async);
}

TEST(RouterDeathTest, DuplicateRouteAborts) {
  Router r;
  r.Get("/x", Ok);
  EXPECT_DEATH(r.Get("/x", Ok), "registered twice");
}

}  // namespace
}  // namespace aiot::net
