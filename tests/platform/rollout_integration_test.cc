// The MLOps loop over the platform's own pieces, end to end: telemetry over the embedded MQTT
// broker (the one `aiot up` runs, over TCP) into the ingest service -> CSV export over HTTP ->
// train (src/ml) -> push -> promote -> OTA rollout to 20 simulated devices with a 10% canary ->
// all report the new version. Then a deliberately broken model (correctly signed and a valid
// .tflite, but it wants a sensor the devices do not have): the canary devices refuse to activate
// it and keep v2 (their install rolls back), the rollout halts at the canary, and the fleet keeps
// scoring and sending telemetry throughout.
//
// The devices are sim::DeviceAgent, the code `aiot agent` and the simulated fleet run: they
// download over HTTP with their device token, verify size, sha256 and the Ed25519 signature,
// swap models, roll back a model that cannot score, and report on fan/status/<id>. A monitor
// client on the broker watches the control commands and the telemetry independently.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/errc.h"
#include "datastore/ingest_service.h"
#include "ml/data/dataset.h"
#include "ml/tflite/graph.h"
#include "ml/train/export.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"
#include "mqtt/broker/broker_server.h"
#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"
#include "net/runtime.h"
#include "ota/rollout_service.h"
#include "platform_harness.h"
#include "registry/crypto.h"
#include "sim/device_agent.h"
#include "sim/tflite_model.h"
#include "tests/support/testing.h"

namespace aiot::platform_test {
namespace {

using Json = nlohmann::json;
using aiot::test_support::WaitFor;

std::shared_ptr<mqtt::Client> MakeClient(boost::asio::io_context& io, const std::string& url,
                                         const std::string& id) {
  mqtt::MqttClientConfig c;
  c.url = url;
  c.client_id = id;
  c.offline_queue_limit = 100000;
  return mqtt::Client::Create(io, c);
}

// Counts what crosses the broker: control commands per device and model version, telemetry per
// device.
class Monitor {
 public:
  Monitor(boost::asio::io_context& io, const std::string& url)
      : client_(MakeClient(io, url, "test-monitor")) {}

  void Start() {
    client_->Subscribe("fan/control/+", mqtt::QoS::kAtLeastOnce, [this](const mqtt::Message& m) {
      auto j = Json::parse(m.payload.view(), nullptr, false);
      if (!j.is_object() || j.value("command", "") != "download-model") return;
      std::string device = m.topic.substr(m.topic.rfind('/') + 1);
      std::lock_guard lock(mu_);
      ++commands_[device][j["payload"].value("version", int64_t{0})];
    });
    client_->Subscribe("fan/messages", mqtt::QoS::kAtMostOnce, [this](const mqtt::Message& m) {
      auto j = Json::parse(m.payload.view(), nullptr, false);
      if (!j.is_object() || !j.contains("deviceID")) return;
      std::lock_guard lock(mu_);
      ++telemetry_[j["deviceID"].get<std::string>()];
    });
    client_->Start();
  }
  void Stop() {
    std::promise<void> done;
    client_->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
  }
  int commands(const std::string& device, int64_t version) {
    std::lock_guard lock(mu_);
    return commands_[device][version];
  }
  uint64_t telemetry(const std::string& device) {
    std::lock_guard lock(mu_);
    return telemetry_[device];
  }

 private:
  std::shared_ptr<mqtt::Client> client_;
  std::mutex mu_;
  std::map<std::string, std::map<int64_t, int>> commands_;
  std::map<std::string, uint64_t> telemetry_;
};

// One simulated device as `aiot agent` runs it: its own MQTT connection with the status will,
// a simulated machine as the sensor, the .tflite loader, models kept in memory.
struct FleetDevice {
  std::string id;
  std::shared_ptr<mqtt::Client> client;
  std::shared_ptr<sim::DeviceAgent> agent;

  void Stop() {
    std::promise<void> stopped;
    agent->Stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(10));
    std::promise<void> done;
    client->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
  }
};

FleetDevice StartDevice(boost::asio::io_context& io, const std::string& broker_url,
                        const std::string& id, const std::string& token,
                        const std::string& public_key) {
  sim::DeviceAgentConfig ac;
  ac.id = id;
  ac.rate = 5;
  ac.token = token;
  ac.public_key_pem = public_key;  // fetched once at activation, as a device does
  ac.protect_after = 0;
  mqtt::MqttClientConfig cc;
  cc.url = broker_url;
  cc.client_id = id;
  sim::DeviceAgent::SetWill(ac, &cc);
  FleetDevice d;
  d.id = id;
  d.client = mqtt::Client::Create(io, cc);
  sim::PhysicsConfig physics;
  auto machine = std::make_unique<sim::SimulatedDevice>(id, physics, std::hash<std::string>{}(id),
                                                        /*will_fail=*/false,
                                                        SystemClock::Instance().NowNanos());
  d.agent = sim::DeviceAgent::Create(ac, d.client,
                                     std::make_unique<sim::SimulatedSensor>(std::move(machine)),
                                     sim::TfliteModelLoader());
  std::weak_ptr<sim::DeviceAgent> weak = d.agent;
  d.client->SetConnectionHandler([weak](const mqtt::ConnectionEvent& e) {
    if (e.state != mqtt::ConnectionState::kConnected) return;
    if (auto a = weak.lock()) a->OnConnected();
  });
  d.client->Start();
  d.agent->Start();
  return d;
}

// Trains a small MLP on a CSV and returns the .tflite bytes. `broken`: the metadata names a
// feature ("pressure") the devices do not measure, so a device cannot load the model.
std::string TrainModel(const std::string& csv_path, int epochs, uint64_t seed,
                       bool broken = false) {
  ml::DatasetSchema schema;
  schema.label = "faulty";
  schema.drop = {"DeviceID", "Time"};
  auto data = ml::LoadDataset(csv_path, schema);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (!data.ok()) return {};
  ml::TrainConfig cfg;
  cfg.hidden = {8};
  cfg.epochs = epochs;
  cfg.seed = seed;
  auto result = ml::Train(*data, cfg, {});
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (!result.ok()) return {};
  auto test = data->Subset(result->split.test);
  auto report = ml::Evaluate(result->model.PredictAll(test), test.y, data->num_classes());
  auto meta = ml::MakeMetadata(*data, result->split.train, result->model, report, "fan-mlp");
  if (broken) meta.features[0].name = "pressure";
  auto bytes = ml::WriteTflite(ml::BuildFloatGraph(result->model, meta));
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : std::string();
}

class RolloutIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("AIOT_SOURCE_DIR");
    fan_csv_ = std::string(src ? src : ".") + "/../shared/data/fan-pdm/fan.csv";
    if (!std::filesystem::exists(fan_csv_)) GTEST_SKIP() << "no " << fan_csv_;
    // The embedded broker `aiot up` runs, on a free loopback port.
    mqtt::broker::BrokerConfig bc;
    bc.listeners = {"127.0.0.1:0"};
    broker_ = std::make_unique<mqtt::broker::BrokerServer>(bc, broker_metrics_,
                                                           broker_runtime_.contexts());
    broker_runtime_.Start();
    ASSERT_TRUE(broker_->Start().ok());
    broker_url_ = "tcp://127.0.0.1:" + std::to_string(broker_->ports()[0]);
  }

  void TearDown() override {
    if (broker_) broker_->Stop();
    broker_runtime_.Stop();
    broker_runtime_.Join();
  }

  Json Call(net::HttpClient& c, std::string_view method, std::string_view target,
            std::string body = {}, int want = 200, std::string_view type = "application/json") {
    auto r = c.Call(method, target, std::move(body), {}, type);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, want) << method << " " << target << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  std::string fan_csv_;
  metrics::Registry broker_metrics_;
  net::Runtime broker_runtime_{2};
  std::unique_ptr<mqtt::broker::BrokerServer> broker_;
  std::string broker_url_;
};

TEST_F(RolloutIntegrationTest, TrainPushPromoteRollOutThenBrokenModelRollsBack) {
  mqtt::testing::IoThread io;
  mqtt::testing::IoThread device_io;
  PlatformHarness h(16 << 20, 2);
  ota::OtaConfig oc;
  oc.device_timeout_s = 120;
  oc.tick_ms = 100;
  oc.canary_soak_s = 10;
  auto platform_client = MakeClient(io.io(), broker_url_, "platform");
  datastore::DatastoreConfig dc;
  dc.batch_rows = 1000;
  dc.flush_interval_ms = 50;
  datastore::IngestService ingest(dc, *h.datastore, platform_client);
  ASSERT_TRUE(ingest.Start().ok());

  // The server must know the rollout routes before it starts, so build the service first with a
  // placeholder URL and fix it once the port is known (the harness picks a free port).
  oc.public_url = "http://127.0.0.1:0";
  auto rollouts = std::make_unique<ota::RolloutService>(oc, *h.models, *h.devices, platform_client);
  ASSERT_TRUE(rollouts->Open().ok());
  ota::RegisterRolloutRoutes(h.router, rollouts->manager());
  ASSERT_TRUE(h.Start());
  rollouts->manager().set_public_url(h.url());
  rollouts->Start();
  platform_client->Start();
  Monitor monitor(io.io(), broker_url_);
  monitor.Start();

  // 1. Telemetry over MQTT into the datastore: the first 4000 rows of the reference data set.
  auto publisher = MakeClient(io.io(), broker_url_, "telemetry-publisher");
  publisher->Start();
  // Messages published before the ingest subscription reaches the broker are not delivered to
  // it, so probe with a payload ingest rejects (counted, never stored) until one arrives.
  const mqtt::PublishOptions qos1{
      .qos = mqtt::QoS::kAtLeastOnce, .retain = false, .properties = {}};
  uint64_t probes = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        ++probes;
        (void)publisher->Publish("fan/messages",
                                 mqtt::SharedBytes(std::string("probe: not telemetry")), qos1);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return ingest.stats().received > 0;
      },
      std::chrono::seconds(60)));
  std::ifstream in(fan_csv_);
  std::string line;
  std::getline(in, line);  // header
  int published = 0;
  std::map<std::string, int> faulty_by_device;
  while (published < 4000 && std::getline(in, line)) {
    std::stringstream ss(line);
    std::string dev, time, rot, temp, vib, sound, faulty;
    std::getline(ss, dev, ',');
    std::getline(ss, time, ',');
    std::getline(ss, rot, ',');
    std::getline(ss, temp, ',');
    std::getline(ss, vib, ',');
    std::getline(ss, sound, ',');
    std::getline(ss, faulty, ',');
    Json msg = {{"deviceID", "fan-" + dev},    {"timeStamp", time},
                {"rotation", std::stod(rot)},  {"temperature", std::stod(temp)},
                {"vibration", std::stod(vib)}, {"sound", std::stod(sound)}};
    ASSERT_TRUE(publisher
                    ->Publish("fan/messages", mqtt::SharedBytes(msg.dump()),
                              {.qos = mqtt::QoS::kAtLeastOnce, .retain = false, .properties = {}})
                    .ok());
    ++published;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto st = ingest.stats();
        return st.received - st.rejected >= 4000;
      },
      std::chrono::seconds(120)))
      << ingest.stats().received;
  ingest.Flush();
  EXPECT_EQ(ingest.stats().written, 4000u);
  EXPECT_LE(ingest.stats().rejected, probes);

  // Maintenance records label the data after the fact: in the reference data devices 5 and 6
  // are the faulty ones; record one failure per day at the end of the day for them.
  datastore::DatastoreConfig label_cfg;
  auto admin = h.Client(kAdminToken);
  auto op = h.Client(kOperatorToken);
  for (const char* dev : {"fan-5", "fan-6"}) {
    for (int day = 0; day < 366; ++day) {
      int64_t end_of_day = (1451606400LL + (day + 1) * 86400LL - 1) * 1'000'000'000;
      ASSERT_TRUE(h.datastore->AddMaintenance({dev, end_of_day, "bearing"}).ok());
    }
  }

  // 2. Export for training over HTTP.
  auto csv = op->Get("/api/v1/data/export?from=2016-01-01T00:00:00Z&to=2017-01-01T00:00:00Z");
  ASSERT_TRUE(csv.ok());
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->header("x-aiot-rows"), "4000");
  std::string csv_path = h.data_dir() + "/train.csv";
  std::ofstream(csv_path) << csv->body;
  EXPECT_NE(csv->body.find(",1\n"), std::string::npos);
  EXPECT_NE(csv->body.find(",0\n"), std::string::npos);

  // 3. Train two versions (and the broken third), push, promote v1 as the fleet's starting point.
  std::string v1_bytes = TrainModel(csv_path, 3, 1);
  std::string v2_bytes = TrainModel(csv_path, 8, 2);
  std::string v3_bytes = TrainModel(csv_path, 8, 3, /*broken=*/true);
  ASSERT_FALSE(v1_bytes.empty());
  ASSERT_NE(v1_bytes, v2_bytes);
  Json v1 =
      Call(*op, "POST",
           "/api/v1/models/fan-mlp/versions?training_data_hash=" + registry::Sha256Hex(csv->body),
           v1_bytes, 201, "application/octet-stream");
  Json v2 = Call(*op, "POST", "/api/v1/models/fan-mlp/versions?parent_version=1", v2_bytes, 201,
                 "application/octet-stream");
  ASSERT_EQ(v1["version"], 1);
  ASSERT_EQ(v2["version"], 2);
  Call(*op, "POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"production"})");

  // 4. Twenty devices, provisioned and activated over HTTP, start without a model; a first
  //    rollout (no soak) gives them v1.
  std::string key = h.Client("")->Get("/.well-known/aiot/signing-key")->body;
  ASSERT_NE(key.find("BEGIN PUBLIC KEY"), std::string::npos);
  std::vector<FleetDevice> fleet;
  for (int i = 0; i < 20; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "fan-%02d", i);
    Json creds = Call(*op, "POST", "/api/v1/devices",
                      Json{{"id", id}, {"labels", {{"site", "north"}}}}.dump(), 201);
    auto dev_http = h.Client(creds["token"]);
    Call(*dev_http, "POST", std::string("/api/v1/devices/") + id + "/activate");
    fleet.push_back(StartDevice(device_io.io(), broker_url_, id, creds["token"], key));
  }
  // Every device is online (its retained status reached the registry).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = h.devices->List({{"site", "north"}});
        return list.ok() && list->size() == 20 &&
               std::all_of(list->begin(), list->end(),
                           [](const auto& d) { return d.last_seen > 0; });
      },
      std::chrono::seconds(60)));
  auto wait_rollout = [&](const std::string& id, const std::string& state) {
    Json status;
    bool ok = WaitFor(
        [&] {
          status = Call(*op, "GET", "/api/v1/rollouts/" + id);
          return status["state"] == state;
        },
        std::chrono::seconds(180));
    EXPECT_TRUE(ok) << status.dump();
    return status;
  };
  auto fleet_reports = [&](const std::string& ref) {
    return WaitFor(
        [&] {
          for (const auto& d : fleet) {
            if (d.agent->snapshot().model != ref) return false;
            auto reg = h.devices->Get(d.id);
            if (!reg.ok() || reg->reported_model != ref) return false;
          }
          return true;
        },
        std::chrono::seconds(120));
  };
  Json r0 =
      Call(*op, "POST", "/api/v1/rollouts",
           R"({"model":"fan-mlp","version":1,"selector":"site:north","canary_soak_s":0})", 201);
  Json status = wait_rollout(r0["id"], "completed");
  EXPECT_EQ(status["counts"]["ok"], 20);
  ASSERT_TRUE(fleet_reports("fan-mlp@1"));

  // Every device scores readings and sends telemetry: each of them does at least `n` more of both
  // than at the last mark.
  std::vector<uint64_t> scored(fleet.size(), 0), sent(fleet.size(), 0);
  auto all_scoring = [&](uint64_t n) {
    bool ok = WaitFor(
        [&] {
          for (size_t i = 0; i < fleet.size(); ++i) {
            if (fleet[i].agent->snapshot().scored < scored[i] + n) return false;
            if (monitor.telemetry(fleet[i].id) < sent[i] + n) return false;
          }
          return true;
        },
        std::chrono::seconds(120));
    for (size_t i = 0; i < fleet.size(); ++i) {
      scored[i] = fleet[i].agent->snapshot().scored;
      sent[i] = monitor.telemetry(fleet[i].id);
    }
    return ok;
  };
  ASSERT_TRUE(all_scoring(5));

  // 5. Promote v2 and roll it out with a 10% canary (2 devices) and a canary soak.
  Call(*op, "POST", "/api/v1/models/fan-mlp/versions/2/stage", R"({"stage":"production"})");
  Json r1 =
      Call(*op, "POST", "/api/v1/rollouts",
           R"({"model":"fan-mlp","version":2,"selector":"site:north","canary_percent":10})", 201);
  std::string r1_id = r1["id"];
  EXPECT_EQ(r1["counts"]["sent"], 2);  // the canary
  EXPECT_EQ(r1["canary_soak_s"], 10);
  status = wait_rollout(r1_id, "completed");
  EXPECT_EQ(status["counts"]["ok"], 20);
  ASSERT_TRUE(fleet_reports("fan-mlp@2"));
  auto north = Call(*op, "GET", "/api/v1/devices?label=site:north");
  for (const auto& d : north["devices"]) {
    EXPECT_EQ(d["reported_model"], "fan-mlp@2");
    EXPECT_EQ(d["desired_model"], "fan-mlp@2");
  }
  for (const auto& d : fleet) EXPECT_EQ(monitor.commands(d.id, 2), 1) << d.id;
  ASSERT_TRUE(all_scoring(5));

  // 6. A deliberately broken model: correctly signed, verifies, but no device can load it. The
  //    canary devices report the failure and keep scoring with v2; the rollout halts before
  //    anyone else gets v3.
  ASSERT_FALSE(v3_bytes.empty());
  Json v3 = Call(*op, "POST", "/api/v1/models/fan-mlp/versions?parent_version=2", v3_bytes, 201,
                 "application/octet-stream");
  ASSERT_EQ(v3["version"], 3);
  Json r2 = Call(
      *op, "POST", "/api/v1/rollouts",
      R"({"model":"fan-mlp","version":3,"selector":"site:north","canary_percent":10,"failure_threshold":0.2,"canary_soak_s":60})",
      201);
  std::string r2_id = r2["id"];
  status = wait_rollout(r2_id, "rolled_back");
  EXPECT_EQ(status["counts"]["failed"], 2) << status.dump();
  EXPECT_EQ(status["counts"]["rolled_back"], 0);  // nobody activated v3: nothing to send back
  EXPECT_EQ(status["counts"]["pending"], 18);
  EXPECT_NE(status["reason"].get<std::string>().find("2/2 above threshold"), std::string::npos)
      << status.dump();
  for (const auto& d : status["devices"]) {
    if (d["canary"]) {
      EXPECT_EQ(d["state"], "failed");
      EXPECT_NE(d["error"].get<std::string>().find("pressure"), std::string::npos) << d.dump();
    }
  }
  ASSERT_TRUE(fleet_reports("fan-mlp@2"));
  for (size_t i = 0; i < fleet.size(); ++i) {
    EXPECT_EQ(monitor.commands(fleet[i].id, 3), i < 2 ? 1 : 0) << fleet[i].id;
    auto snap = fleet[i].agent->snapshot();
    EXPECT_EQ(snap.ota_state, i < 2 ? "failed" : "ok") << fleet[i].id;
  }
  // The fleet kept scoring (with v2) and sending telemetry through the broken rollout.
  ASSERT_TRUE(all_scoring(5));

  // The registry's audit log tells the story; the rollouts are all listed.
  Json audit = Call(*op, "GET", "/api/v1/models/fan-mlp/audit");
  EXPECT_EQ(audit["audit"].size(), 5u);  // 3 pushes, 2 promotes
  Json all = Call(*op, "GET", "/api/v1/rollouts");
  EXPECT_EQ(all["rollouts"].size(), 3u);

  for (auto& d : fleet) d.Stop();
  monitor.Stop();
  rollouts->Stop();
  ingest.Stop();
  std::promise<void> p1, p2;
  platform_client->Stop([&] { p1.set_value(); });
  publisher->Stop([&] { p2.set_value(); });
  p1.get_future().wait_for(std::chrono::seconds(10));
  p2.get_future().wait_for(std::chrono::seconds(10));
}

}  // namespace
}  // namespace aiot::platform_test
