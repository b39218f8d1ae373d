// HTTPS (`http.tls`): the server with a certificate made by openssl at test time
// (tests/support/pki.h), talked to by curl --cacert and by aiot's own HttpClient (https://): a
// client that does not trust the CA or expects another name is refused with OpenSSL's reason,
// mutual TLS with a client certificate, certificates reloaded without dropping a kept-alive
// connection, and the settings checked at load.
#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <filesystem>
#include <string>

#include "base/errc.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/ws_hub.h"
#include "tests/support/config.h"
#include "tests/support/pki.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::net {
namespace {

using aiot::test_support::LoadProblems;
using aiot::test_support::MakePki;
using aiot::test_support::RunCommand;
using aiot::test_support::TempDir;
using aiot::test_support::WaitFor;

class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v curl && command -v openssl").exit_code != 0)
      AIOT_SKIP_WITHOUT_PEER("curl or openssl not installed");
    auto [rc, out] = MakePki(dir_.path());
    ASSERT_EQ(rc, 0) << out;
    router_.Get("/hello", [](Request& r) {
      return Response(http::status::ok, "hello over " + std::string(r.path()));
    });
    config_.listen = "127.0.0.1:0";
    config_.tls.cert = File("server.pem");
    config_.tls.key = File("server.key");
  }
  void TearDown() override {
    if (server_) server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }
  void StartServer() {
    server_ = std::make_unique<HttpServer>(config_, runtime_, router_, registry_);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
    runtime_.Start();
  }
  std::string File(const std::string& name) const { return dir_.File(name); }
  std::string Url(const std::string& host = "localhost") const {
    return "https://" + host + ":" + std::to_string(server_->port());
  }
  // curl with `args`; the body it printed, or "exit <code>: <stderr>".
  std::string Curl(const std::string& args) const {
    auto [rc, out] = RunCommand("curl -sS --max-time 20 " + args);
    return rc == 0 ? out : "exit " + std::to_string(rc) + ": " + out;
  }
  HttpClientOptions ClientOptions(const std::string& ca = "ca") const {
    HttpClientOptions o;
    o.timeout = std::chrono::seconds(20);
    o.tls.ca = File(ca + ".pem");
    return o;
  }

  TempDir dir_{"aiot-https"};
  HttpServerConfig config_;
  Runtime runtime_{2};
  Router router_;
  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(Https, CurlWithTheCaGetsIn) {
  StartServer();
  EXPECT_TRUE(server_->tls());
  EXPECT_EQ(Curl("--cacert " + File("ca.pem") + " " + Url() + "/hello"), "hello over /hello");
  EXPECT_EQ(Curl("--cacert " + File("ca.pem") + " " + Url("127.0.0.1") + "/healthz"), "ok\n");
  // curl exit 60: the peer's certificate cannot be verified.
  EXPECT_EQ(Curl("--cacert " + File("otherca.pem") + " " + Url() + "/hello").substr(0, 7),
            "exit 60");
  // Plain HTTP to the HTTPS port gets no HTTP answer.
  EXPECT_EQ(Curl("http://127.0.0.1:" + std::to_string(server_->port()) + "/hello").substr(0, 5),
            "exit ");
  // TLS 1.2 and 1.3 both work by default.
  for (const char* v : {"--tlsv1.2 --tls-max 1.2", "--tlsv1.3"}) {
    EXPECT_EQ(Curl(std::string(v) + " --cacert " + File("ca.pem") + " " + Url() + "/hello"),
              "hello over /hello")
        << v;
  }
}

TEST_F(Https, MinVersion13RefusesTls12) {
  config_.tls.min_version = tls::Version::kTls13;
  StartServer();
  EXPECT_EQ(Curl("--tlsv1.3 --cacert " + File("ca.pem") + " " + Url() + "/hello"),
            "hello over /hello");
  EXPECT_EQ(Curl("--tlsv1.2 --tls-max 1.2 --cacert " + File("ca.pem") + " " + Url() + "/hello")
                .substr(0, 5),
            "exit ");
}

TEST_F(Https, HttpClientSpeaksHttps) {
  StartServer();
  HttpClient client(Url(), ClientOptions());
  ASSERT_TRUE(client.valid());
  for (int i = 0; i < 3; ++i) {  // one kept-alive connection
    auto r = client.Get("/hello");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello over /hello");
  }
  auto once = HttpRequest("GET", Url("127.0.0.1") + "/healthz", {}, ClientOptions());
  ASSERT_TRUE(once.ok()) << once.status().message();
  EXPECT_EQ(once->body, "ok\n");
}

TEST_F(Https, HttpClientRefusesAnUntrustedServer) {
  StartServer();
  HttpClient other_ca(Url(), ClientOptions("otherca"));
  auto r = other_ca.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(errc::unavailable));
  EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos)
      << r.status().message();
  HttpClientOptions o = ClientOptions();
  o.tls.server_name = "api.elsewhere.example";
  HttpClient wrong_name(Url(), o);
  r = wrong_name.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hostname mismatch"), std::string::npos)
      << r.status().message();
  o.tls.verify_server_name = false;
  HttpClient unchecked(Url(), o);
  r = unchecked.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.status().message();
}

TEST_F(Https, MutualTls) {
  config_.tls.ca = File("ca.pem");
  config_.tls.require_client_cert = true;
  StartServer();
  const std::string base = "--cacert " + File("ca.pem") + " ";
  EXPECT_EQ(Curl(base + "--cert " + File("alice.pem") + " --key " + File("alice.key") + " " +
                 Url() + "/hello"),
            "hello over /hello");
  EXPECT_EQ(Curl(base + Url() + "/hello").substr(0, 5), "exit ");
  EXPECT_EQ(Curl(base + "--cert " + File("mallory.pem") + " --key " + File("mallory.key") + " " +
                 Url() + "/hello")
                .substr(0, 5),
            "exit ");
  HttpClientOptions o = ClientOptions();
  o.tls.cert = File("alice.pem");
  o.tls.key = File("alice.key");
  auto r = HttpRequest("GET", Url() + "/hello", {}, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "hello over /hello");
}

// ReloadTls: new handshakes get the new certificate (of another CA), a kept-alive connection
// stays; a broken file keeps the previous certificate.
TEST_F(Https, ReloadKeepsConnections) {
  namespace fs = std::filesystem;
  fs::copy_file(File("server.pem"), File("live.pem"));
  fs::copy_file(File("server.key"), File("live.key"));
  config_.tls.cert = File("live.pem");
  config_.tls.key = File("live.key");
  StartServer();
  HttpClient kept(Url(), ClientOptions());
  ASSERT_TRUE(kept.Get("/hello").ok());
  fs::copy_file(File("server2.pem"), File("live.pem"), fs::copy_options::overwrite_existing);
  fs::copy_file(File("server2.key"), File("live.key"), fs::copy_options::overwrite_existing);
  Status s = server_->ReloadTls();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Curl("--cacert " + File("otherca.pem") + " " + Url() + "/hello"), "hello over /hello");
  EXPECT_EQ(Curl("--cacert " + File("ca.pem") + " " + Url() + "/hello").substr(0, 7), "exit 60");
  auto r = kept.Get("/hello");  // the old connection, the old certificate
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "hello over /hello");
  fs::copy_file(File("alice.key"), File("live.key"), fs::copy_options::overwrite_existing);
  s = server_->ReloadTls();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("http.tls.key " + File("live.key"), 0), 0u) << s.message();
  EXPECT_EQ(Curl("--cacert " + File("otherca.pem") + " " + Url() + "/hello"), "hello over /hello");
}

TEST_F(Https, BrokenCertificateFailsStart) {
  config_.tls.cert = File("ca.key");  // not a certificate
  server_ = std::make_unique<HttpServer>(config_, runtime_, router_, registry_);
  Status s = server_->Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().substr(0, 14 + File("ca.key").size()), "http.tls.cert " + File("ca.key"))
      << s.message();
  server_.reset();
}

// A WebSocket route over HTTPS is wss://: a Beast client over TLS gets what the hub publishes, and
// the close goes through TLS.
TEST_F(Https, WebSocketRouteIsWss) {
  WsHub hub;
  router_.WebSocket("/ws", hub);
  StartServer();
  namespace ssl = asio::ssl;
  namespace websocket = beast::websocket;
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(File("ca.pem"));
  ctx.set_verify_mode(ssl::verify_peer);
  websocket::stream<ssl::stream<asio::ip::tcp::socket>> ws(io, ctx);
  ws.next_layer().next_layer().connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("localhost", "/ws?subscribe=news");
  ASSERT_TRUE(WaitFor([&] { return hub.subscribers() == 1; }));
  hub.Publish("news", R"({"over":"tls"})");
  beast::flat_buffer buffer;
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.cdata()),
            R"({"channel":"news","data":{"over":"tls"}})");
  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(WaitFor([&] { return hub.subscribers() == 0; }));
  server_->Stop();  // before `hub` goes: the server closes its hubs on stop
  server_.reset();
}

// A connection the server ends (a response with `Connection: close`, the idle timeout) ends with
// the TLS close_notify: the client reads the end of the stream (eof), not a truncation
// (ssl::error::stream_truncated, "unexpected EOF").
TEST_F(Https, ServerCloseSendsCloseNotify) {
  config_.idle_timeout_ms = 300;
  StartServer();
  namespace ssl = asio::ssl;
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(File("ca.pem"));
  ctx.set_verify_mode(ssl::verify_peer);
  for (bool close : {true, false}) {
    ssl::stream<asio::ip::tcp::socket> tls(io, ctx);
    tls.next_layer().connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    tls.handshake(ssl::stream_base::client);
    http::request<http::empty_body> req(http::verb::get, "/hello", 11);
    req.set(http::field::host, "localhost");
    req.keep_alive(!close);
    http::write(tls, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(tls, buffer, res);
    EXPECT_EQ(res.body(), "hello over /hello");
    // Then nothing more: the server closes (at once, or after 300 ms idle), with close_notify.
    char byte;
    boost::system::error_code ec;
    size_t n = tls.read_some(asio::buffer(&byte, 1), ec);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(ec, asio::error::eof)
        << (close ? "Connection: close" : "idle timeout") << ": " << ec.message();
  }
}

TEST(HttpsConfig, ProblemsAreReportedWithTheirLine) {
  HttpServerConfig cfg;
  EXPECT_EQ(LoadProblems("tls:\n  cert: /nonexistent/server.pem\n  require_client_cert: true\n",
                         "h.yaml", config::DescriberFor(cfg)),
            (std::vector<std::string>{
                "tls.cert: cannot read /nonexistent/server.pem: No such file or directory "
                "(h.yaml:2)",
                "tls.key: cert and key go together (h.yaml:2)",
                "tls.ca: require_client_cert needs the CA that signs client certificates "
                "(h.yaml:2)"}));
}

}  // namespace
}  // namespace aiot::net
