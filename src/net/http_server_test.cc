#include "net/http_server.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "net/test_client.h"
#include "tests/support/config.h"
#include "tests/support/testing.h"

namespace aiot::net {
namespace {

using aiot::test_support::LoadProblems;
using aiot::test_support::WaitFor;
using testing::GetRequest;
using testing::Reply;
using testing::TestClient;

nlohmann::json Body(const Reply& r) { return nlohmann::json::parse(r.body, nullptr, false); }

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.listen = "127.0.0.1:0";
    config_.max_body_bytes = 1024;
    config_.max_header_bytes = 2048;
    config_.auth_tokens = {{"alice", "alice-secret-token"}, {"bob", "bob-secret-token"}};
    config_.auth_roles = {{"alice", "admin,viewer"}, {"bob", "viewer"}};
    router_.Get("/api/v1/models/{name}/versions/{version}", [](Request& r) {
      nlohmann::json j = {{"name", r.param("name")}, {"version", r.param("version")}};
      if (auto q = r.query("fields")) j["fields"] = *q;
      return JsonResponse(j);
    });
    router_.Post("/echo", [](Request& r) {
      auto j = r.Json();
      if (!j.ok()) return ErrorResponse(http::status::bad_request, "bad_json", "not JSON");
      return JsonResponse(http::status::created, *j);
    });
    router_.Get("/throws", [](Request&) -> Response { throw std::runtime_error("boom"); });
    router_.Get("/async", [](Request& r) -> asio::awaitable<Response> {
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
      co_return Response(http::status::ok, "async " + std::string(r.path()));
    });
    router_.Get("/slow", [this](Request&) -> asio::awaitable<Response> {
      slow_entered_ = true;
      asio::steady_timer t(co_await asio::this_coro::executor);
      while (!slow_release_) {
        t.expires_after(std::chrono::milliseconds(10));
        co_await t.async_wait(asio::use_awaitable);
      }
      co_return Response(http::status::ok, "finally");
    });
    RouteOptions auth;
    auth.auth = true;
    router_.Get(
        "/private",
        [](Request& r) { return Response(http::status::ok, "hello " + r.principal()->name); },
        auth);
    RouteOptions admin;
    admin.role = "admin";
    router_.Delete(
        "/admin/things/{id}",
        [](Request& r) {
          return Response(http::status::ok, "deleted " + std::string(r.param("id")));
        },
        admin);
  }

  void StartServer() {
    runtime_.Start();
    server_ = std::make_unique<HttpServer>(config_, runtime_, router_, registry_);
    server_->AddReadinessCheck("db", [this] { return ready_.load(); });
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    slow_release_ = true;
    if (server_) server_->Stop();
    server_.reset();
    runtime_.Stop();
    runtime_.Join();
  }

  std::optional<Reply> Get(std::string_view target, std::string_view headers = {}) {
    TestClient c(port_);
    if (!c.connected()) return std::nullopt;
    return c.Roundtrip(GetRequest(target, headers));
  }

  HttpServerConfig config_;
  Runtime runtime_{2};
  Router router_;
  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{true};
  std::atomic<bool> slow_entered_{false};
  std::atomic<bool> slow_release_{false};
};

TEST_F(HttpServerTest, HealthzAnswers) {
  StartServer();
  auto r = Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  EXPECT_FALSE(r->header("date").empty());
}

TEST_F(HttpServerTest, RoutesWithPathAndQueryParameters) {
  StartServer();
  auto r = Get("/api/v1/models/fan%2Dmlp/versions/3?fields=a%2Cb");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "application/json");
  auto j = Body(*r);
  EXPECT_EQ(j["name"], "fan-mlp");
  EXPECT_EQ(j["version"], "3");
  EXPECT_EQ(j["fields"], "a,b");
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  StartServer();
  TestClient c(port_);
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 5; ++i) {
    auto r = c.Roundtrip(GetRequest("/healthz"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // Three requests in one write.
  ASSERT_TRUE(c.Send(GetRequest("/healthz") + GetRequest("/async") + GetRequest("/healthz")));
  auto a = c.Read();
  auto b = c.Read();
  auto d = c.Read();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body, "ok\n");
  EXPECT_EQ(b->body, "async /async");
  EXPECT_EQ(d->body, "ok\n");
}

TEST_F(HttpServerTest, JsonErrorsFor404And405) {
  StartServer();
  auto r = Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Body(*r)["error"]["code"], "not_found");

  TestClient c(port_);
  auto m = c.Roundtrip(testing::Request("POST", "/api/v1/models/x/versions/1", "{}"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 405);
  EXPECT_EQ(m->header("allow"), "GET, HEAD");
  EXPECT_EQ(Body(*m)["error"]["code"], "method_not_allowed");
  // The server answered before reading the body, so the stream is out of sync: it closes.
  EXPECT_FALSE(m->keep_alive);
  EXPECT_TRUE(c.WaitClosed());
  // Without a body the connection stays usable after a 405.
  TestClient k(port_);
  auto d = k.Roundtrip(testing::Request("DELETE", "/api/v1/models/x/versions/1", ""));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 405);
  EXPECT_TRUE(d->keep_alive);
  auto h = k.Roundtrip(GetRequest("/healthz"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(HttpServerTest, EveryResponseIsNosniff) {
  StartServer();
  for (const char* target : {"/healthz", "/nope", "/api/v1/models/x/versions/1"}) {
    auto r = Get(target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->header("x-content-type-options"), "nosniff") << target;
  }
}

TEST_F(HttpServerTest, BodyTooLargeGets413AndClose) {
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip(testing::Request("POST", "/echo", std::string(4096, 'x')));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Body(*r)["error"]["code"], "payload_too_large");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, PostEchoAndMalformedJson) {
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip(testing::Request("POST", "/echo", R"({"a":1})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(Body(*r)["a"], 1);
  r = c.Roundtrip(testing::Request("POST", "/echo", "{nope"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Body(*r)["error"]["code"], "bad_json");
}

TEST_F(HttpServerTest, MalformedRequestGets400) {
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Body(*r)["error"]["code"], "bad_request");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, HandlerThatThrowsGets500) {
  StartServer();
  auto r = Get("/throws");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(Body(*r)["error"]["code"], "internal");
}

TEST_F(HttpServerTest, AuthRejectsMissingAndWrongTokensAndRoles) {
  StartServer();
  auto r = Get("/private");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Body(*r)["error"]["code"], "unauthenticated");
  EXPECT_EQ(r->header("www-authenticate"), "Bearer");

  r = Get("/private", "Authorization: Bearer wrong-token\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);

  r = Get("/private", "Authorization: Bearer bob-secret-token\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello bob");

  TestClient c(port_);
  auto d = c.Roundtrip(testing::Request("DELETE", "/admin/things/7", "",
                                        "Authorization: Bearer bob-secret-token\r\n"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403);
  EXPECT_EQ(Body(*d)["error"]["code"], "forbidden");
  d = c.Roundtrip(testing::Request("DELETE", "/admin/things/7", "",
                                   "Authorization: Bearer alice-secret-token\r\n"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 200);
  EXPECT_EQ(d->body, "deleted 7");
}

TEST_F(HttpServerTest, HeaderTooLargeGets431AndClose) {
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip(GetRequest("/healthz", "X-Big: " + std::string(8192, 'a') + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  config_.idle_timeout_ms = 200;
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip(GetRequest("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->keep_alive);
  EXPECT_TRUE(c.WaitClosed());
  // A connection that never sends anything is closed too.
  TestClient silent(port_);
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.WaitClosed());
}

TEST_F(HttpServerTest, IncompleteRequestIsClosedAfterRequestTimeout) {
  config_.request_timeout_ms = 200;
  StartServer();
  TestClient c(port_);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, HeadServedByGetWithoutBody) {
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "3");
  EXPECT_TRUE(r->body.empty());
  // The connection is still in sync.
  r = c.Roundtrip(GetRequest("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok\n");
}

TEST_F(HttpServerTest, ReadinessAndMetrics) {
  StartServer();
  auto r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ready_ = false;
  r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Body(*r)["checks"]["db"], false);

  ASSERT_TRUE(Get("/api/v1/models/a/versions/1"));
  ASSERT_TRUE(Get("/nope"));
  // Every io_context's counters are drained by the scrape, whichever context serves it. A response
  // is counted once its write completes, which may be just after the client has read it: a scrape
  // right then can miss it, the next one has it.
  const std::string ok_series =
      "aiot_http_requests_total{method=\"GET\",route=\"/api/v1/models/{name}/versions/{version}\","
      "status=\"200\"} 1";
  const std::string unmatched_series = "route=\"unmatched\",status=\"404\"} 1";
  std::string body;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto m = Get("/metrics");
        if (!m || m->status != 200) return false;
        body = m->body;
        return body.find(ok_series) != std::string::npos &&
               body.find(unmatched_series) != std::string::npos;
      },
      std::chrono::seconds(20)))
      << body;
}

TEST_F(HttpServerTest, StartFailsWhenPortIsBusy) {
  runtime_.Start();
  // Hold a port with a plain (non-SO_REUSEPORT) listener.
  asio::io_context io;
  asio::ip::tcp::acceptor holder(io,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  config_.listen = "127.0.0.1:" + std::to_string(holder.local_endpoint().port());
  HttpServer server(config_, runtime_, router_, registry_);
  Status s = server.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error(), std::errc::address_in_use);

  config_.listen = "nonsense";
  HttpServer bad(config_, runtime_, router_, registry_);
  EXPECT_FALSE(bad.Start().ok());
}

TEST_F(HttpServerTest, ServesFilesWithRangesAndEtags) {
  auto dir = std::filesystem::temp_directory_path() / ("aiot_net_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string content;
  for (int i = 0; i < 200000; ++i) content.push_back(static_cast<char>('a' + i % 26));
  {
    std::ofstream f(dir / "model.tflite", std::ios::binary);
    f << content;
  }
  std::string path = (dir / "model.tflite").string();
  router_.Get("/models/{file}", [dir](Request& r) {
    return ServeFile(r, (dir / std::string(r.param("file"))).string(), "application/octet-stream",
                     "\"v1\"");
  });
  StartServer();
  TestClient c(port_);
  auto r = c.Roundtrip(GetRequest("/models/model.tflite"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, content);
  EXPECT_EQ(r->header("etag"), "\"v1\"");
  EXPECT_EQ(r->header("accept-ranges"), "bytes");

  r = c.Roundtrip(GetRequest("/models/model.tflite", "Range: bytes=100-199\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, content.substr(100, 100));
  EXPECT_EQ(r->header("content-range"), "bytes 100-199/200000");

  r = c.Roundtrip(GetRequest("/models/model.tflite", "Range: bytes=-10\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, content.substr(content.size() - 10));

  r = c.Roundtrip(GetRequest("/models/model.tflite", "Range: bytes=999999-\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("content-range"), "bytes */200000");

  r = c.Roundtrip(GetRequest("/models/model.tflite", "If-None-Match: \"v0\", \"v1\"\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());

  r = c.Roundtrip(GetRequest("/models/missing.tflite"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  std::filesystem::remove_all(dir);
}

TEST_F(HttpServerTest, GracefulStopFinishesInFlightAndRefusesNew) {
  StartServer();
  TestClient slow(port_);
  ASSERT_TRUE(slow.connected());
  TestClient idle(port_);
  ASSERT_TRUE(idle.connected());
  auto warm = idle.Roundtrip(GetRequest("/healthz"));
  ASSERT_TRUE(warm);
  ASSERT_TRUE(slow.Send(GetRequest("/slow")));
  ASSERT_TRUE(WaitFor([&] { return slow_entered_.load(); }, std::chrono::seconds(20)));

  server_->BeginStop();
  // New connections are refused once the acceptors are closed.
  EXPECT_TRUE(WaitFor([&] { return testing::ConnectRefused(port_); }, std::chrono::seconds(20)));
  // The idle keep-alive connection is closed.
  EXPECT_TRUE(idle.WaitClosed());
  // The in-flight request still completes, with Connection: close.
  slow_release_ = true;
  auto r = slow.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "finally");
  EXPECT_FALSE(r->keep_alive);
  EXPECT_TRUE(slow.WaitClosed());
  server_->Stop();
  EXPECT_EQ(server_->connections(), 0u);
}

TEST_F(HttpServerTest, RequestArrivingDuringStopGets503) {
  StartServer();
  TestClient c(port_);
  // Half a request head: the connection has received bytes, so stop does not close it as idle.
  ASSERT_TRUE(WaitFor([&] { return server_->connections() == 1; }, std::chrono::seconds(20)));
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\n"));
  server_->BeginStop();
  EXPECT_TRUE(WaitFor([&] { return testing::ConnectRefused(port_); }, std::chrono::seconds(20)));
  ASSERT_TRUE(c.Send("Host: x\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Body(*r)["error"]["code"], "shutting_down");
  EXPECT_FALSE(r->keep_alive);
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  TestClient c(port_);
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
             "Expect: 100-continue\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send(R"({"a":2})"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(Body(*r)["a"], 2);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  config_.max_connections = 2;
  StartServer();
  TestClient a(port_);
  TestClient b(port_);
  ASSERT_TRUE(a.Roundtrip(GetRequest("/healthz")));
  ASSERT_TRUE(b.Roundtrip(GetRequest("/healthz")));
  TestClient c(port_);
  ASSERT_TRUE(c.connected());  // the kernel accepts; the server closes it at once
  EXPECT_TRUE(c.WaitClosed());
  a.Close();
  ASSERT_TRUE(WaitFor([&] { return server_->connections() == 1; }, std::chrono::seconds(20)));
  TestClient d(port_);
  auto r = d.Roundtrip(GetRequest("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, StopClosesStuckRequestsAfterDrainTimeout) {
  config_.drain_timeout_ms = 100;
  StartServer();
  TestClient slow(port_);
  ASSERT_TRUE(slow.Send(GetRequest("/slow")));
  ASSERT_TRUE(WaitFor([&] { return slow_entered_.load(); }, std::chrono::seconds(20)));
  std::thread stopper([&] { server_->Stop(); });
  EXPECT_TRUE(slow.WaitClosed());
  slow_release_ = true;  // lets the handler coroutine finish so Stop() can return
  stopper.join();
  EXPECT_EQ(server_->connections(), 0u);
}

// Bad tokens are configuration errors, reported at load with the line; the authenticator built
// from them anyway does not throw and lets no one in on an ambiguous token.
TEST(HttpServerConfigTest, BadTokensAreReportedWhenLoaded) {
  HttpServerConfig c;
  EXPECT_EQ(LoadProblems("auth_tokens:\n  alice: s3cret\n  bob: \"\"\n  carol: "
                         "s3cret\nauth_roles:\n  dave: admin\n",
                         "h.yaml", config::DescriberFor(c)),
            (std::vector<std::string>{
                "auth_tokens.bob: is empty; set a secret (h.yaml:2)",
                "auth_tokens.carol: is the token of `alice` too; give each principal its "
                "own (h.yaml:2)",
                "auth_roles.dave: names a principal with no token in auth_tokens (h.yaml:6)"}));
  StaticTokenAuthenticator auth({{"alice", "s3cret"}, {"bob", ""}, {"carol", "s3cret"}},
                                {{"dave", "admin"}});
  EXPECT_FALSE(auth.Authenticate("s3cret"));
  EXPECT_FALSE(auth.Authenticate(""));
  StaticTokenAuthenticator good({{"alice", "s3cret"}}, {{"alice", "admin"}});
  auto p = good.Authenticate("s3cret");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "alice");
  EXPECT_EQ(p->roles, std::vector<std::string>{"admin"});
}

}  // namespace
}  // namespace aiot::net
