#include "net/ws_hub.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <thread>

#include "net/http_server.h"
#include "net/test_client.h"
#include "tests/support/testing.h"

namespace aiot::net {
namespace {

using aiot::test_support::WaitFor;

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// A blocking WebSocket client (Beast) for the tests.
class WsClient {
 public:
  WsClient(uint16_t port, const std::string& target, int rcvbuf = 0) : ws_(io_) {
    auto& sock = ws_.next_layer();
    sock.open(tcp::v4());
    if (rcvbuf > 0) sock.set_option(asio::socket_base::receive_buffer_size(rcvbuf));
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.handshake("127.0.0.1", target);
  }
  std::string Read() {
    buffer_.clear();
    ws_.read(buffer_);
    return beast::buffers_to_string(buffer_.cdata());
  }
  // Read() that reports failure instead of throwing.
  bool TryRead(std::string& out) {
    beast::error_code ec;
    buffer_.clear();
    ws_.read(buffer_, ec);
    if (ec) return false;
    out = beast::buffers_to_string(buffer_.cdata());
    return true;
  }
  void Write(const std::string& text) { ws_.write(asio::buffer(text)); }
  void Shutdown() {
    beast::error_code ec;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
};

class WsHubTest : public ::testing::Test {
 protected:
  void Start(WsHubConfig hub_config = {}, RouteOptions opts = {}) {
    hub_ = std::make_unique<WsHub>(hub_config);
    router_.WebSocket("/ws", *hub_, opts);
    runtime_.Start();
    HttpServerConfig c;
    c.listen = "127.0.0.1:0";
    c.auth_tokens = {{"dash", "dash-secret-token"}};
    server_ = std::make_unique<HttpServer>(c, runtime_, router_, registry_);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    runtime_.Stop();
    runtime_.Join();
  }

  Runtime runtime_{2};
  Router router_;
  metrics::Registry registry_;
  std::unique_ptr<WsHub> hub_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(WsHubTest, PublishWithoutSubscribersIsANoop) {
  Start();
  hub_->Publish("telemetry/fan-0001", "{}");
  EXPECT_EQ(hub_->subscribers(), 0u);
}

TEST_F(WsHubTest, DeliversByChannelPattern) {
  Start();
  WsClient exact(port_, "/ws?subscribe=telemetry/fan-0001");
  WsClient prefix(port_, "/ws");
  prefix.Write(R"({"subscribe":["anomaly/*"]})");
  auto ack = nlohmann::json::parse(prefix.Read());
  EXPECT_EQ(ack["type"], "subscribed");
  EXPECT_EQ(ack["channels"], nlohmann::json::array({"anomaly/*"}));
  WsClient all(port_, "/ws?subscribe=*");
  ASSERT_TRUE(WaitFor([&] { return hub_->subscribers() == 3; }));

  hub_->Publish("telemetry/fan-0002", R"({"n":1})");
  hub_->Publish("telemetry/fan-0001", R"({"n":2})");
  hub_->Publish("anomaly/fan-0001", R"({"n":3})");

  auto m = nlohmann::json::parse(exact.Read());
  EXPECT_EQ(m["channel"], "telemetry/fan-0001");
  EXPECT_EQ(m["data"]["n"], 2);
  m = nlohmann::json::parse(prefix.Read());
  EXPECT_EQ(m["channel"], "anomaly/fan-0001");
  EXPECT_EQ(m["data"]["n"], 3);
  for (int n = 1; n <= 3; ++n) {
    m = nlohmann::json::parse(all.Read());
    EXPECT_EQ(m["data"]["n"], n);
  }

  // Unsubscribe, then only the other channel arrives.
  exact.Write(R"({"unsubscribe":"telemetry/fan-0001","subscribe":"x"})");
  ack = nlohmann::json::parse(exact.Read());
  EXPECT_EQ(ack["channels"], nlohmann::json::array({"x"}));
  hub_->Publish("telemetry/fan-0001", R"({"n":4})");
  hub_->Publish("x", R"({"n":5})");
  m = nlohmann::json::parse(exact.Read());
  EXPECT_EQ(m["data"]["n"], 5);

  // Nonsense gets an error message, not a disconnect.
  exact.Write("not json");
  EXPECT_EQ(nlohmann::json::parse(exact.Read())["type"], "error");
}

TEST_F(WsHubTest, SlowSubscriberIsDroppedWhileFastOneGetsEverythingInOrder) {
  WsHubConfig hc;
  hc.max_queue_messages = 256;
  Start(hc);
  // The slow client has a tiny receive buffer and never reads.
  WsClient slow(port_, "/ws?subscribe=telemetry/*", 4096);
  WsClient fast(port_, "/ws?subscribe=telemetry/*");
  ASSERT_TRUE(WaitFor([&] { return hub_->subscribers() == 2; }));

  std::atomic<int> received{0};
  std::atomic<bool> in_order{true};
  std::thread reader([&] {
    std::string text;
    while (fast.TryRead(text)) {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || j["data"]["seq"] != received.load()) in_order = false;
      received.fetch_add(1);
    }
  });

  const std::string pad(1000, 'p');
  int published = 0;
  // Publish in batches; the fast reader keeps up, the slow one fills its socket buffers and then
  // its hub queue. Stop a few batches after the slow one is gone (50 MB at most).
  int after_drop = 0;
  while (published < 50000 && after_drop < 5) {
    for (int i = 0; i < 100; ++i, ++published) {
      hub_->Publish("telemetry/fan-0001",
                    "{\"seq\":" + std::to_string(published) + ",\"pad\":\"" + pad + "\"}");
    }
    ASSERT_TRUE(WaitFor([&] { return received.load() == published; }))
        << "fast client stuck at " << received.load() << " of " << published;
    if (hub_->dropped() > 0) ++after_drop;
  }
  EXPECT_EQ(hub_->dropped(), 1u);
  EXPECT_EQ(hub_->subscribers(), 1u);
  EXPECT_EQ(received.load(), published);
  EXPECT_TRUE(in_order.load());

  fast.Shutdown();
  reader.join();
}

TEST_F(WsHubTest, PlainGetGets426AndAuthIsEnforced) {
  RouteOptions opts;
  opts.auth = true;
  Start({}, opts);
  testing::TestClient c(port_);
  auto r = c.Roundtrip(testing::GetRequest("/ws"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  testing::TestClient d(port_);
  r = d.Roundtrip(testing::GetRequest("/ws", "Authorization: Bearer dash-secret-token\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 426);
  EXPECT_THROW(WsClient(port_, "/ws"), boost::system::system_error);
}

}  // namespace
}  // namespace aiot::net
