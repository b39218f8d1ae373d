// The blocking HTTP client against the project's own HTTP server (in-process, loopback) and against
// hostile servers (raw sockets writing exactly the bytes a test gives): oversized, truncated and
// malformed replies, a server that never answers, a refused connection.
#include "net/http_client.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "base/metrics.h"
#include "net/http_server.h"
#include "tests/support/testing.h"

namespace aiot::net {
namespace {

using aiot::test_support::WaitFor;

std::error_code Code(errc e) { return make_error_code(e); }

HttpClientOptions Options(std::chrono::milliseconds timeout, size_t max_body_bytes = 64u << 20,
                          std::string token = {}) {
  HttpClientOptions o;
  o.timeout = timeout;
  o.max_body_bytes = max_body_bytes;
  o.token = std::move(token);
  return o;
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.listen = "127.0.0.1:0";
    config_.idle_timeout_ms = 300;
    config_.auth_tokens = {{"alice", "alice-secret-token"}};
    config_.auth_roles = {{"alice", "admin"}};
    router_.Get("/hello", [](Request& r) {
      return JsonResponse({{"hello", "world"}, {"q", std::string(r.query("q").value_or(""))}});
    });
    router_.Post("/echo", [](Request& r) {
      return Response(http::status::created, r.body(), std::string(r.header("content-type")));
    });
    router_.Get("/big",
                [](Request&) { return Response(http::status::ok, std::string(4096, 'x')); });
    router_.Get("/secret",
                [](Request& r) { return Response(http::status::ok, r.principal()->name); },
                {.auth = true, .role = "admin"});
    server_ = std::make_unique<HttpServer>(config_, runtime_, router_, metrics_);
    runtime_.Start();
    ASSERT_TRUE(server_->Start().ok());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }

  HttpServerConfig config_;
  Runtime runtime_{1};
  Router router_;
  metrics::Registry metrics_;
  std::unique_ptr<HttpServer> server_;
  std::string url_;
};

TEST_F(HttpClientTest, CallsKeepOneConnectionAlive) {
  HttpClient client(url_);
  ASSERT_TRUE(client.valid());
  for (int i = 0; i < 3; ++i) {
    auto r = client.Get("/hello?q=" + HttpClient::Escape("a b&c"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-type"), "application/json");
    auto j = r->Json();
    ASSERT_TRUE(j.ok());
    EXPECT_EQ((*j)["hello"], "world");
    EXPECT_EQ((*j)["q"], "a b&c");
  }
  EXPECT_EQ(server_->connections(), 1u);
  auto posted = client.Call("POST", "/echo", "{\"a\":1}");
  ASSERT_TRUE(posted.ok());
  EXPECT_EQ(posted->status, 201);
  EXPECT_EQ(posted->body, "{\"a\":1}");
  EXPECT_EQ(posted->header("content-type"), "application/json");
  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  HttpReply broken;
  broken.body = "{";
  EXPECT_FALSE(broken.Json().ok());
}

TEST_F(HttpClientTest, SendsTheBearerToken) {
  auto anonymous = HttpClient(url_).Get("/secret");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401);
  HttpClient client(url_, Options(std::chrono::seconds(30), 64u << 20, "alice-secret-token"));
  auto r = client.Get("/secret");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "alice");
}

TEST_F(HttpClientTest, ReconnectsWhenTheServerClosedAnIdleConnection) {
  HttpClient client(url_);
  ASSERT_TRUE(client.Get("/hello").ok());
  ASSERT_TRUE(WaitFor([&] { return server_->connections() == 0; },
                      std::chrono::seconds(20)));  // idle timeout
  auto r = client.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpClientTest, BodyOverTheLimitIsRefused) {
  HttpClient client(url_, Options(std::chrono::seconds(30), 4095));
  auto r = client.Get("/big");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Code(errc::resource_exhausted));
  client.options().max_body_bytes = 4096;  // exactly the limit is fine, on a new connection
  auto ok = client.Get("/big");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->body.size(), 4096u);
}

TEST(HttpClientUrl, Parsing) {
  std::string host, port, target;
  ASSERT_TRUE(SplitHttpUrl("http://example.org", &host, &port, &target));
  EXPECT_EQ(host, "example.org");
  EXPECT_EQ(port, "80");
  EXPECT_EQ(target, "/");
  ASSERT_TRUE(SplitHttpUrl("http://[::1]:8080/a/b?c=d", &host, &port, &target));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "8080");
  EXPECT_EQ(target, "/a/b?c=d");
  for (const char* bad :
       {"https://example.org", "ftp://x", "http://", "http://:80", "http://h:", "http://h:8o",
        "http://[::1", "http://[::1]x", "example.org:80", "http://h:123456"}) {
    EXPECT_FALSE(SplitHttpUrl(bad, &host, &port, &target)) << bad;
  }
  // https:// only where the caller asks which it is (the client does; net_https_test speaks it).
  bool https = false;
  ASSERT_TRUE(SplitHttpUrl("https://example.org/x", &host, &port, &target, &https));
  EXPECT_TRUE(https);
  EXPECT_EQ(port, "443");
  EXPECT_EQ(target, "/x");
  ASSERT_TRUE(SplitHttpUrl("http://example.org", &host, &port, &target, &https));
  EXPECT_FALSE(https);
  EXPECT_TRUE(HttpClient("https://example.org").valid());
  HttpClient client("ftp://example.org");
  EXPECT_FALSE(client.valid());
  EXPECT_EQ(client.Get("/").error(), Code(errc::invalid_argument));
  EXPECT_EQ(HttpRequest("GET", "nonsense").error(), Code(errc::invalid_argument));
}

// A server that reads one request and answers with exactly `reply` (then closes, unless `hold`:
// then it keeps the connection open without a word until the test ends).
class RawServer {
 public:
  explicit RawServer(std::string reply, bool hold = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, reply = std::move(reply), hold] {
      pollfd p{fd_, POLLIN, 0};
      while (!stop_ && ::poll(&p, 1, 50) <= 0) {
      }
      if (stop_) return;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      if (!reply.empty()) (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      pollfd q{c, POLLIN, 0};
      while (hold && !stop_) ::poll(&q, 1, 50);
      ::close(c);
    });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(HttpClientHostile, MalformedTruncatedAndOversizedReplies) {
  struct Case {
    const char* what;
    std::string reply;
    errc expected;
  };
  const Case cases[] = {
      {"bad status line", "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", errc::io_error},
      {"status not a number", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", errc::io_error},
      {"garbage", std::string("\x00\xff\x10garbage\r\n\r\n", 13), errc::io_error},
      {"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", errc::io_error},
      {"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", errc::io_error},
      {"closed without a word", "", errc::io_error},
      {"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", errc::io_error},
      {"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
       errc::io_error},
      {"declared body over the limit",
       "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + std::string(1000, 'x'),
       errc::resource_exhausted},
      {"chunked body over the limit",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string("100000\r\n") +
           std::string(70000, 'y'),
       errc::resource_exhausted},
      {"header over the limit", "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70000, 'h') + "\r\n\r\n",
       errc::resource_exhausted},
  };
  for (const auto& c : cases) {
    RawServer server(c.reply);
    auto r =
        HttpRequest("GET", server.url() + "/x", {}, Options(std::chrono::seconds(10), 64 << 10));
    ASSERT_FALSE(r.ok()) << c.what << ": status " << r->status;
    EXPECT_EQ(r.error(), Code(c.expected)) << c.what << ": " << r.error().message();
  }
  // A well-formed reply from the same kind of server parses (the cases above are not failing for
  // another reason).
  RawServer good("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok");
  auto r = HttpRequest("GET", good.url() + "/x");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 418);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->header("x-a"), "b");
}

TEST(HttpClientHostile, SilentServerTimesOut) {
  RawServer silent("", /*hold=*/true);
  const auto start = std::chrono::steady_clock::now();
  auto r = HttpRequest("GET", silent.url() + "/x", {}, Options(std::chrono::milliseconds(300)));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Code(errc::timeout));
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(10));

  // A server that sends the head and then stalls mid-body: also bounded by the timeout.
  RawServer stalls("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", /*hold=*/true);
  r = HttpRequest("GET", stalls.url() + "/x", {}, Options(std::chrono::milliseconds(300)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Code(errc::timeout));
}

TEST(HttpClientHostile, RefusedConnectionIsUnavailable) {
  uint16_t port = 0;
  {
    RawServer gone("");
    port = static_cast<uint16_t>(std::stoi(gone.url().substr(gone.url().rfind(':') + 1)));
  }  // closed: nothing listens on `port` now
  auto r = HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Code(errc::unavailable));
}

}  // namespace
}  // namespace aiot::net
