// The store's HTTP API and dashboard routes over a real HTTP server on loopback, and the
// StoreService fed by a real MQTT broker (mosquitto) with messages published by mosquitto_pub.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mqtt/client/test_util.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "store/dashboard_routes.h"
#include "store/store_routes.h"
#include "store/store_service.h"
#include "tests/store/store_mqtt.h"
#include "tests/support/testing.h"

namespace aiot::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr int64_t kT0 = 1'795'000'020'000;  // a whole minute

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            fmt::format("aiot-store-http-{}-{}", ::getpid(), std::random_device{}());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& n) const { return (path_ / n).string(); }

 private:
  fs::path path_;
};

// `router()` served on a free loopback port (one io thread), and a client of it.
class ServedRouter {
 public:
  explicit ServedRouter(metrics::Registry& registry) : registry_(registry) {}
  ~ServedRouter() { Stop(); }
  net::Router& router() { return router_; }
  net::HttpClient& client() { return *client_; }
  // False when the server or its client did not come up.
  bool Start() {
    net::HttpServerConfig hc;
    hc.listen = "127.0.0.1:0";
    server_ = std::make_unique<net::HttpServer>(hc, runtime_, router_, registry_);
    runtime_.Start();
    if (!server_->Start()) return false;
    client_ =
        std::make_unique<net::HttpClient>(fmt::format("http://127.0.0.1:{}", server_->port()));
    return client_->valid();
  }
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    client_.reset();
    if (server_) server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }

 private:
  metrics::Registry& registry_;
  net::Runtime runtime_{1};
  net::Router router_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
  bool stopped_ = false;
};

class StoreHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreConfig c;
    c.path = dir_.File("t.db");
    auto s = TelemetryStore::Open(c, clock_);
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    RegisterStoreRoutes(api_.router(), *store_);
    DashboardConfig dc;
    dc.web_root = std::string(std::getenv("AIOT_SOURCE_DIR") ? std::getenv("AIOT_SOURCE_DIR")
                                                             : AIOT_TEST_SOURCE_DIR) +
                  "/web";
    ASSERT_TRUE(RegisterDashboardRoutes(api_.router(), dc));
    ASSERT_TRUE(api_.Start());
  }
  net::HttpReply Get(const std::string& target) {
    auto r = api_.client().Get(target);
    EXPECT_TRUE(r) << target;
    return r ? *r : net::HttpReply{};
  }

  TempDir dir_;
  ManualClock clock_{(kT0 + 3600 * 1000) * 1000000};
  metrics::Registry registry_;
  std::unique_ptr<TelemetryStore> store_;
  ServedRouter api_{registry_};  // stopped before the store goes
};

TEST_F(StoreHttpTest, SeriesDevicesAnomalies) {
  for (int i = 0; i < 120; ++i) {
    ASSERT_TRUE(store_->Ingest(
        "fan/messages",
        fmt::format(R"({{"deviceID":"fan 1","timeStamp":{},"rotation":{},"sound":{}}})",
                    kT0 + i * 1000, i, 50)));
  }
  ASSERT_TRUE(store_->Ingest(
      "fan/anomaly",
      fmt::format(
          R"({{"deviceID":"fan 1","timeStamp":{},"fault":1,"score":0.95,"level":"critical","model":"m@2"}})",
          kT0 + 5000)));
  ASSERT_TRUE(store_->Flush());

  auto r =
      Get(fmt::format("/api/v1/series?devices=fan%201&fields=rotation,score&from={}&to={}"
                      "&bucket=60s&agg=max",
                      kT0, kT0 + 120000));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j["series"].size(), 2u);
  EXPECT_EQ(j["series"][0]["field"], "rotation");
  EXPECT_EQ(j["series"][0]["v"], json({59.0, 119.0}));
  EXPECT_EQ(j["series"][0]["t"], json({kT0, kT0 + 60000}));
  EXPECT_EQ(j["series"][1]["v"], json({0.95}));

  r = Get(fmt::format("/api/v1/series?fields=rotation,sound&from={}&to={}&bucket=1m&format=csv",
                      kT0, kT0 + 60000));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.substr(0, r.body.find("\r\n")), "time,device,rotation,sound");
  EXPECT_NE(r.body.find(",fan 1,29.5,50\r\n"), std::string::npos) << r.body;

  EXPECT_EQ(Get("/api/v1/series?agg=median").status, 400);
  EXPECT_EQ(Get("/api/v1/series?format=xml").status, 400);
  EXPECT_EQ(Get("/api/v1/series?from=-1h&to=-2h").status, 400);

  r = Get("/api/v1/fleet");
  ASSERT_EQ(r.status, 200);
  j = json::parse(r.body);
  ASSERT_EQ(j["devices"].size(), 1u);
  EXPECT_EQ(j["devices"][0]["deviceID"], "fan 1");
  EXPECT_EQ(j["devices"][0]["level"], "critical");
  EXPECT_EQ(j["devices"][0]["model"], "m@2");
  EXPECT_EQ(j["devices"][0]["latest"]["rotation"], 119.0);

  r = Get("/api/v1/anomalies?from=0");
  ASSERT_EQ(r.status, 200);
  j = json::parse(r.body);
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["kind"], "anomaly");
  EXPECT_EQ(j["entries"][0]["score"], 0.95);
  EXPECT_EQ(Get("/api/v1/anomalies?limit=-1").status, 400);
}

TEST_F(StoreHttpTest, DashboardFiles) {
  auto r = Get("/");
  EXPECT_EQ(r.status, 302);
  r = Get("/ui/");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("<!doctype html>"), std::string::npos);
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");  // added by the server
  r = Get("/ui/app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  r = Get("/ui/config.json");
  EXPECT_EQ(json::parse(r.body)["ws_path"], "/api/v1/ws");
  // Traversal and hidden/dependency paths are refused.
  for (const char* bad :
       {"/ui/../CMakeLists.txt", "/ui/%2e%2e/CMakeLists.txt", "/ui/..%2fCMakeLists.txt",
        "/ui/node_modules/uplot/package.json", "/ui/.gitignore",
        "/ui/vendor/uplot/../../index.html", "/ui/a%5c..%5c..%5cCMakeLists.txt", "/ui/nope.js"}) {
    auto b = Get(bad);
    EXPECT_TRUE(b.status == 404 || b.status == 400) << bad << " -> " << b.status;
    EXPECT_EQ(b.body.find("cmake_minimum_required"), std::string::npos) << bad;
  }
  if (fs::exists(std::string(AIOT_TEST_SOURCE_DIR) + "/web/node_modules/uplot/dist/uPlot.esm.js")) {
    r = Get("/ui/vendor/uplot/uPlot.esm.js");
    EXPECT_EQ(r.status, 200);
  }
}

TEST(StoreServiceMqtt, MessagesFromMosquittoReachTheStore) {
  if (!mqtt::testing::Mosquitto::Available())
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  mqtt::testing::Mosquitto broker;
  ASSERT_TRUE(broker.Start());
  mqtt::testing::IoThread io;
  TempDir dir;
  StoreConfig c;
  c.path = dir.File("svc.db");
  metrics::Registry registry;
  StoreService svc(c, testing::ClientsOf(io.io(), broker.url()), nullptr, registry);
  ASSERT_TRUE(svc.Start());
  auto pub = [&](const std::string& topic, const std::string& payload, bool retain = false) {
    std::string cmd = fmt::format("mosquitto_pub -p {} -t '{}' {} -m '{}'", broker.port(), topic,
                                  retain ? "-r" : "", payload);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  ASSERT_TRUE(testing::PublishUntilReceived(svc, [&] {
    pub("fan/messages", R"({"deviceID":"fan-9","rotation":600,"temperature":40})");
  }));
  pub("fan/status/fan-9", R"({"online":true,"model":"fan-mlp@7"})", true);
  pub("fan/anomaly",
      R"({"deviceID":"fan-9","fault":1,"score":0.9,"level":"warning","model":"fan-mlp@7"})");
  pub("aiot/alerts", R"({"deviceID":"fan-9","level":"warning","message":"imminent failure"})");
  pub("fan/messages", "not json");
  // "not json" is the last message: once it is rejected, the ones before it have arrived (the
  // first loop may have delivered several readings, so a message count alone can be reached early).
  ASSERT_TRUE(
      test_support::WaitFor([&] { return svc.messages() >= 5 && svc.rejected() >= 1; }, 30s));
  ASSERT_TRUE(svc.store()->Flush());
  auto devices = svc.store()->Devices();
  ASSERT_TRUE(devices);
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].name, "fan-9");
  EXPECT_TRUE((*devices)[0].online);
  EXPECT_EQ((*devices)[0].model, "fan-mlp@7");
  EXPECT_EQ((*devices)[0].level, Level::kWarning);
  auto tl = svc.store()->Timeline({});
  ASSERT_TRUE(tl);
  EXPECT_EQ(tl->size(), 2u);      // the alert and the warning anomaly
  EXPECT_GE(svc.rejected(), 1u);  // "not json"
  svc.Stop();
}

// The seeds' own sensors as users run them, over a real broker into a running StoreService, read
// back through the series API: fan.py sends a time without a zone (UTC); the motor sensor sends
// no time (the arrival time) and names its device by `deviceID` or `chipID`. A rejected message
// is counted by reason.
class SeedSensorTest : public ::testing::Test {
 protected:
  void StartStore(const std::string& telemetry_topic) {
    ASSERT_TRUE(broker_.Start());
    StoreConfig c;
    c.path = dir_.File("seed.db");
    c.telemetry_topic = telemetry_topic;
    svc_ = std::make_unique<StoreService>(c, testing::ClientsOf(io_.io(), broker_.url()), nullptr,
                                          registry_);
    ASSERT_TRUE(svc_->Start());
    RegisterStoreRoutes(api_.router(), *svc_->store());
    ASSERT_TRUE(api_.Start());
  }
  void TearDown() override {
    api_.Stop();
    if (svc_) svc_->Stop();
  }
  void Publish(const std::string& topic, const std::string& payload) {
    std::string cmd =
        fmt::format("mosquitto_pub -p {} -t '{}' -m '{}'", broker_.port(), topic, payload);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  // Publishes `first` until the service has received a message (subscriptions are asynchronous),
  // then `rest` and a message that is not JSON, and waits until that one is rejected: the ones
  // before it have been handled by then.
  void PublishAll(const std::string& topic, const std::string& first,
                  const std::vector<std::string>& rest) {
    ASSERT_TRUE(testing::PublishUntilReceived(*svc_, [&] { Publish(topic, first); }));
    for (const auto& p : rest) Publish(topic, p);
    Publish(topic, "not json");
    ASSERT_TRUE(test_support::WaitFor([&] { return svc_->rejected() >= 1; }, 30s));
    ASSERT_TRUE(svc_->store()->Flush());
  }
  json Series(const std::string& device, const std::string& fields) {
    const int64_t now_ms = SystemClock::Instance().NowNanos() / 1000000;
    std::string target = fmt::format("/api/v1/series?devices={}&fields={}&from={}&to={}", device,
                                     fields, now_ms - 3600 * 1000, now_ms + 3600 * 1000);
    auto r = api_.client().Get(target);
    EXPECT_TRUE(r) << target;
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body, nullptr, false);
  }
  void ExpectOnlyTheNonJsonRejected() {
    EXPECT_EQ(svc_->rejected(), 1u);
    const std::string text = metrics::SerializeText(registry_);
    EXPECT_NE(text.find(R"(aiot_messages_rejected_total{component="store",reason="not_json"} 1)"),
              std::string::npos)
        << text;
  }

  mqtt::testing::Mosquitto broker_;
  mqtt::testing::IoThread io_;
  TempDir dir_;
  metrics::Registry registry_;
  std::unique_ptr<StoreService> svc_;
  ServedRouter api_{registry_};
};

TEST_F(SeedSensorTest, FanPayloadWithAZonelessTimeReachesTheSeriesApi) {
  if (!mqtt::testing::Mosquitto::Available())
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  StartStore("fan/messages");
  // fan.py's format, "YYYY-MM-DD HH:MM:SS" without a zone; a minute ago, so retention keeps it.
  const int64_t fan_ms = (SystemClock::Instance().NowNanos() / 1000000000 - 60) * 1000;
  std::string time = FormatTimestamp(fan_ms * 1000000).substr(0, 19);
  time[10] = ' ';
  PublishAll("fan/messages",
             fmt::format(R"({{"deviceID": "1", "timeStamp": "{}", "rotation": 628.4, )"
                         R"("temperature": 36.6, "vibration": 163.5, "sound": 50.0}})",
                         time),
             {});
  json j = Series("1", "rotation,sound");
  ASSERT_EQ(j["series"].size(), 2u) << j;
  EXPECT_EQ(j["series"][0]["t"][0], fan_ms) << "a time without a zone is UTC";
  EXPECT_EQ(j["series"][0]["v"][0], 628.4);
  EXPECT_EQ(j["series"][1]["v"][0], 50.0);
  ExpectOnlyTheNonJsonRejected();
}

TEST_F(SeedSensorTest, MotorPayloadsWithoutATimeReachTheSeriesApi) {
  if (!mqtt::testing::Mosquitto::Available())
    AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
  StartStore("shaded-pole-motor-sensor_data");
  const int64_t before_ms = SystemClock::Instance().NowNanos() / 1000000;
  PublishAll(
      "shaded-pole-motor-sensor_data",
      R"({"deviceID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})",
      {R"({"chipID": "14333617", "current": 4.70, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})"});
  const int64_t after_ms = SystemClock::Instance().NowNanos() / 1000000;
  for (auto [device, current] : {std::pair{"14333616", 4.69}, std::pair{"14333617", 4.70}}) {
    json j = Series(device, "current,sound");
    ASSERT_EQ(j["series"].size(), 2u) << device << ": " << j;
    EXPECT_EQ(j["series"][0]["v"][0], current) << device;
    EXPECT_EQ(j["series"][1]["v"][0], 12.5) << device;
    // No time in the message: the arrival time.
    const int64_t t = j["series"][0]["t"][0].get<int64_t>();
    EXPECT_GE(t, before_ms) << device;
    EXPECT_LE(t, after_ms) << device;
  }
  ExpectOnlyTheNonJsonRejected();
}

}  // namespace
}  // namespace aiot::store
