// Hundreds of malformed and truncated requests against a live server, interleaved with good ones:
// every bad one gets a JSON error (400/404/405/413/431/501) or a close, never a 2xx/5xx for the
// handcrafted ones, and the server keeps answering good requests throughout.
#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <random>

#include "net/http_server.h"
#include "net/test_client.h"

namespace aiot::net {
namespace {

using testing::GetRequest;
using testing::TestClient;

struct Parsed {
  std::vector<int> statuses;
  bool garbage = false;  // bytes that are not HTTP responses
};

// Splits whatever the server sent before closing into responses.
Parsed ParseResponses(std::string_view bytes) {
  Parsed out;
  while (!bytes.empty()) {
    http::response_parser<http::string_body> p;
    p.eager(true);
    beast::error_code ec;
    size_t used = 0;
    // Feed all at once; Beast may need several put() calls (header, then body).
    while (!p.is_done()) {
      size_t n = p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
      if (ec == http::error::need_more) {
        ec = {};
        if (n == 0) break;
      }
      if (ec) break;
      used += n;
      if (n == 0) break;
    }
    if (!p.is_done()) {
      out.garbage = true;
      return out;
    }
    int status = static_cast<int>(p.get().result_int());
    out.statuses.push_back(status);
    if (status >= 400) {
      auto j = nlohmann::json::parse(p.get().body(), nullptr, false);
      if (j.is_discarded() || !j["error"]["code"].is_string()) out.garbage = true;
    }
    bytes.remove_prefix(used);
  }
  return out;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Get("/api/v1/models/{name}", [](Request& r) {
      return JsonResponse({{"name", r.param("name")}});
    });
    router_.Post("/echo", [](Request& r) { return Response(http::status::ok, r.body()); });
    router_.Post(
        "/small", [](Request& r) { return Response(http::status::ok, r.body()); },
        RouteOptions{.auth = false, .role = {}, .max_body_bytes = 100});
    runtime_.Start();
    HttpServerConfig c;
    c.listen = "127.0.0.1:0";
    c.max_header_bytes = 4096;
    c.max_body_bytes = 4096;
    c.request_timeout_ms = 2000;
    server_ = std::make_unique<HttpServer>(c, runtime_, router_, registry_);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
    good_ = std::make_unique<TestClient>(port_);
  }
  void TearDown() override {
    good_.reset();
    server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }

  // Sends `bytes` on a fresh connection, half-closes, and returns what came back.
  Parsed SendBad(std::string_view bytes) {
    TestClient c(port_);
    EXPECT_TRUE(c.connected());
    c.Send(bytes);  // the server may close early; a failed send is fine
    c.ShutdownWrite();
    auto all = c.ReadUntilClosed();
    EXPECT_TRUE(all.has_value()) << "server neither answered nor closed";
    return all ? ParseResponses(*all) : Parsed{{}, true};
  }

  // A good request on the long-lived keep-alive connection and on a fresh one.
  void CheckGood(int i) {
    auto r = good_->Roundtrip(GetRequest("/api/v1/models/m" + std::to_string(i)));
    ASSERT_TRUE(r) << "keep-alive connection failed after bad input #" << i;
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(nlohmann::json::parse(r->body)["name"], "m" + std::to_string(i));
    if (i % 10 == 0) {
      TestClient fresh(port_);
      auto f = fresh.Roundtrip(GetRequest("/healthz"));
      ASSERT_TRUE(f) << "fresh connection failed after bad input #" << i;
      ASSERT_EQ(f->status, 200);
    }
  }

  Runtime runtime_{2};
  Router router_;
  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<TestClient> good_;
  uint16_t port_ = 0;
};

const std::vector<std::string>& Handcrafted() {
  static const std::vector<std::string> cases = [] {
    std::vector<std::string> v = {
        "garbage\r\n\r\n",
        "\r\n\r\n\r\n\r\nxx",
        "GET\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1\n\n",
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n",
        "GET / HTTP/x.y\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "G\x01T / HTTP/1.1\r\n\r\n",
        "GET / HT\x00P/1.1\r\n\r\n",
        "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "BREW /api/v1/models/x HTTP/1.1\r\nHost: x\r\n\r\n",
        "DELETE /api/v1/models/x HTTP/1.1\r\nHost: x\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET nothing HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/v1/models/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/v1/models/x?a=%G0 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/v1/models/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, "
        "chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3;\x01=\r\nabc\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
        "GET / HTTP/1.1\r\nX-\x00: y\r\n\r\n",
        std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 14) + std::string(1, '\0') + "\r\n\r\n",
    };
    // Oversized request line, one huge header, many headers.
    v.push_back("GET /" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    v.push_back("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'b') + "\r\n\r\n");
    std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 500; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    v.push_back(many + "\r\n");
    // Chunked body over the limit.
    std::string chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 10; ++i) chunked += "400\r\n" + std::string(1024, 'c') + "\r\n";
    v.push_back(chunked + "0\r\n\r\n");
    return v;
  }();
  return cases;
}

TEST_F(BadInputTest, HandcraftedMalformedRequestsGet4xxOrClose) {
  int i = 0;
  for (const auto& bytes : Handcrafted()) {
    SCOPED_TRACE("case #" + std::to_string(i) + ": " + bytes.substr(0, 80));
    Parsed p = SendBad(bytes);
    EXPECT_FALSE(p.garbage);
    for (int s : p.statuses) {
      EXPECT_TRUE(s == 400 || s == 404 || s == 405 || s == 413 || s == 431 || s == 501)
          << "status " << s;
    }
    CheckGood(i++);
  }
  EXPECT_GE(i, 40);
}

// A route's own limit, lower than the server's, holds for a Content-Length body (Beast checks the
// length only when the head completes, before the route is known) and for a chunked one.
TEST_F(BadInputTest, RouteBodyLimitHoldsBelowTheServerLimit) {
  auto post = [](std::string_view path, const std::string& body) {
    return "POST " + std::string(path) +
           " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           body;
  };
  TestClient c(port_);
  auto ok = c.Roundtrip(post("/small", std::string(100, 'a')));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body.size(), 100u);
  Parsed over = SendBad(post("/small", std::string(101, 'a')));
  EXPECT_EQ(over.statuses, std::vector<int>{413});
  Parsed chunked =
      SendBad("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
              std::string(100, 'c') + "\r\n1\r\nc\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.statuses, std::vector<int>{413});
  auto server_limit = c.Roundtrip(post("/echo", std::string(1000, 'a')));  // the server's 4096
  ASSERT_TRUE(server_limit);
  EXPECT_EQ(server_limit->status, 200);
}

TEST_F(BadInputTest, TruncatedRequestsAreClosedWithoutAnAnswer) {
  const std::string full =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
      "41\r\n\r\n{\"a\":\"0123456789\",\"b\":\"0123456789\",\"c\":1}";
  ASSERT_EQ(full.size() - full.find("\r\n\r\n") - 4, 41u);
  int i = 0;
  for (size_t cut = 1; cut < full.size(); cut += 1, ++i) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    Parsed p = SendBad(std::string_view(full).substr(0, cut));
    EXPECT_FALSE(p.garbage);
    for (int s : p.statuses) EXPECT_TRUE(s == 400) << "status " << s;
    if (cut % 4 == 0) CheckGood(i);
  }
  // The whole request is fine.
  TestClient c(port_);
  auto r = c.Roundtrip(full);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(i, 100);
}

TEST_F(BadInputTest, RandomGarbageAndBitFlipsNeverHurtTheServer) {
  std::mt19937 rng(1234);
  const std::string base =
      "POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  for (int i = 0; i < 200; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      size_t n = 1 + rng() % 300;
      for (size_t k = 0; k < n; ++k) bytes.push_back(static_cast<char>(rng() & 0xff));
    } else {
      bytes = base;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        bytes[rng() % bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
      }
    }
    Parsed p = SendBad(bytes);
    EXPECT_FALSE(p.garbage) << "case " << i;
    for (int s : p.statuses) {
      // A bit flip can leave a valid request (200) or another route (404/405).
      EXPECT_TRUE(s == 200 || s == 400 || s == 404 || s == 405 || s == 413 || s == 431 || s == 501)
          << "case " << i << " status " << s;
    }
    if (i % 5 == 0) CheckGood(i);
  }
}

}  // namespace
}  // namespace aiot::net
