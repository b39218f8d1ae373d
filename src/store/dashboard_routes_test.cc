// The dashboard routes' responses, called through the router (no sockets): every one of them, the
// page, its scripts, config.json, the redirect, a 304 and a 404, carries the security headers.
#include "store/dashboard_routes.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

namespace aiot::store {
namespace {

namespace fs = std::filesystem;
namespace http = net::http;

class DashboardRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("aiot-dashboard-{}-{}", ::getpid(), std::random_device{}());
    Write("web/index.html", "<!doctype html><script type=module src=app.js></script>");
    Write("web/app.js", "export {};");
    Write("web/favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
    Write("uplot/uPlot.esm.js", "export default {};");
    DashboardConfig c;
    c.web_root = (dir_ / "web").string();
    c.uplot_dir = (dir_ / "uplot").string();
    ASSERT_TRUE(RegisterDashboardRoutes(router_, c));
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }

  // The response of the route serving GET `target`; status 0 when no route matches.
  net::Response Get(const std::string& target, const std::string& if_none_match = "") {
    return GetFrom(router_, target, if_none_match);
  }
  static net::Response GetFrom(net::Router& router, const std::string& target,
                               const std::string& if_none_match = "") {
    http::request<http::string_body> m{http::verb::get, target, 11};
    if (!if_none_match.empty()) m.set(http::field::if_none_match, if_none_match);
    net::Request req;
    if (!req.Reset(std::move(m), {})) return net::Response(http::status::unknown, "");
    const net::Endpoint* ep = nullptr;
    std::string allow;
    if (router.Find(http::verb::get, req.path(), req.mutable_params(), &ep, &allow) !=
            net::Router::Lookup::kFound ||
        !ep->sync) {
      return net::Response(http::status::unknown, "");
    }
    return ep->sync(req);
  }

  static std::vector<std::string> Values(const net::Response& r, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [n, v] : r.headers) {
      if (n == name) out.push_back(v);
    }
    return out;
  }
  static std::string One(const net::Response& r, std::string_view name) {
    auto v = Values(r, name);
    EXPECT_EQ(v.size(), 1u) << name;
    return v.empty() ? std::string() : v.front();
  }

  // The security headers, each once, with the values the dashboard needs.
  static void ExpectSecure(const net::Response& r, const std::string& what) {
    SCOPED_TRACE(what);
    const std::string csp = One(r, "Content-Security-Policy");
    std::vector<std::string> directives;
    for (size_t pos = 0; pos < csp.size();) {
      size_t end = csp.find(';', pos);
      if (end == std::string::npos) end = csp.size();
      std::string d = csp.substr(pos, end - pos);
      d.erase(0, d.find_first_not_of(' '));
      directives.push_back(d);
      pos = end + 1;
    }
    for (const char* want :
         {"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
          "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
          "form-action 'self'", "require-trusted-types-for 'script'"}) {
      EXPECT_NE(std::find(directives.begin(), directives.end(), want), directives.end())
          << want << " missing from " << csp;
    }
    for (const char* never : {"unsafe-inline", "unsafe-eval", "*", "data:", "http:", "ws:"}) {
      EXPECT_EQ(csp.find(never), std::string::npos) << never << " in " << csp;
    }
    // nosniff is the HTTP server's, on every response (store_http_test sees it on the wire).
    EXPECT_TRUE(Values(r, "X-Content-Type-Options").empty());
    EXPECT_EQ(One(r, "X-Frame-Options"), "DENY");
    EXPECT_EQ(One(r, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(One(r, "Cross-Origin-Opener-Policy"), "same-origin");
    EXPECT_EQ(One(r, "Cross-Origin-Resource-Policy"), "same-origin");
    EXPECT_NE(One(r, "Permissions-Policy").find("camera=()"), std::string::npos);
  }

  fs::path dir_;
  net::Router router_;
};

TEST_F(DashboardRoutesTest, EveryResponseHasTheSecurityHeaders) {
  auto r = Get("/");
  EXPECT_EQ(r.status, http::status::found);
  ExpectSecure(r, "redirect");
  EXPECT_EQ(One(r, "Cache-Control"), "no-store");

  for (const char* page : {"/ui/", "/ui/index.html"}) {
    r = Get(page);
    ASSERT_EQ(r.status, http::status::ok) << page;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    ExpectSecure(r, page);
    EXPECT_EQ(One(r, "Cache-Control"), "no-cache");
  }

  r = Get("/ui/app.js");
  ASSERT_EQ(r.status, http::status::ok);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  ExpectSecure(r, "app.js");
  EXPECT_EQ(One(r, "Cache-Control"), "no-cache");

  // Unchanged: 304, with the same headers.
  const std::string etag = One(r, "ETag");
  ASSERT_FALSE(etag.empty());
  r = Get("/ui/app.js", etag);
  EXPECT_EQ(r.status, http::status::not_modified);
  ExpectSecure(r, "304");

  r = Get("/ui/favicon.svg");
  ASSERT_EQ(r.status, http::status::ok);
  EXPECT_EQ(r.content_type, "image/svg+xml");
  ExpectSecure(r, "svg");

  r = Get("/ui/vendor/uplot/uPlot.esm.js");
  ASSERT_EQ(r.status, http::status::ok);
  ExpectSecure(r, "uPlot");
  EXPECT_EQ(One(r, "Cache-Control"), "public, max-age=86400");

  r = Get("/ui/config.json");
  ASSERT_EQ(r.status, http::status::ok);
  EXPECT_EQ(r.body,
            R"({"fields":["rotation","temperature","vibration","sound"],"ws_path":"/api/v1/ws"})");
  ExpectSecure(r, "config.json");
  EXPECT_EQ(One(r, "Cache-Control"), "no-cache");

  for (const char* missing : {"/ui/nope.js", "/ui/.hidden", "/ui/node_modules/x.js",
                              "/ui/vendor/uplot/nope.js", "/ui/a%5cb"}) {
    r = Get(missing);
    EXPECT_EQ(r.status, http::status::not_found) << missing;
    ExpectSecure(r, missing);
    EXPECT_EQ(One(r, "Cache-Control"), "no-store") << missing;
  }
}

// config.json lists the fields it is given, as JSON strings: a name that is not a valid field name
// (the app never passes one) still leaves as text, never as markup or a broken document.
TEST_F(DashboardRoutesTest, ConfigListsTheFieldsAsJsonText) {
  net::Router router;
  DashboardConfig c;
  c.web_root = (dir_ / "web").string();
  const std::vector<std::string> fields = {"current", "voltage", "a\"</script><b>\n"};
  ASSERT_TRUE(RegisterDashboardRoutes(router, c, fields));
  net::Response r = GetFrom(router, "/ui/config.json");
  ASSERT_EQ(r.status, http::status::ok);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find(R"("a\"</script><b>\n")"), std::string::npos) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["fields"].get<std::vector<std::string>>(), fields);
}

}  // namespace
}  // namespace aiot::store
