// The MLOps loop over real peers: telemetry over a real broker (Debian mosquitto) into the
// ingest service -> CSV export over HTTP -> train (src/ml) -> push -> promote -> OTA rollout to 20
// devices with a 10% canary -> all report the new version. Then a deliberately broken model: the
// rollout halts at the canary and rolls back the canary device that took it, and the fleet keeps
// scoring throughout.
//
// The devices are stand-ins written here that speak the documented control/status protocol
// (src/ota/README.md): they download with their device token, verify size, sha256 and the
// Ed25519 signature against the key from /.well-known/aiot/signing-key, load the model with the
// ML runtime and score readings continuously. fan-00 plays an old firmware that activates any
// correctly signed artifact without checking it loads, so the rollback path is exercised.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/errc.h"
#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/tflite/graph.h"
#include "ml/train/export.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"
#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"
#include "ota/rollout_service.h"
#include "platform_harness.h"
#include "registry/crypto.h"
#include "registry/ingest_service.h"

namespace aiot::platform_test {
namespace {

using Json = nlohmann::json;
using mqtt::testing::WaitFor;

std::shared_ptr<mqtt::Client> MakeClient(boost::asio::io_context& io, const std::string& url,
                                         const std::string& id) {
  mqtt::MqttClientConfig c;
  c.url = url;
  c.client_id = id;
  c.offline_queue_limit = 100000;
  return mqtt::Client::Create(io, c);
}

// A device that speaks the OTA protocol and scores readings with its active model.
class StandInDevice {
 public:
  StandInDevice(std::string id, std::string token, std::string platform_url, std::string public_key,
                bool validates_models, boost::asio::io_context& io, const std::string& broker_url)
      : id_(std::move(id)),
        token_(std::move(token)),
        platform_url_(std::move(platform_url)),
        public_key_(std::move(public_key)),
        validates_(validates_models) {
    client_ = MakeClient(io, broker_url, "standin-" + id_);
  }

  ~StandInDevice() { Stop(); }

  void Start(std::shared_ptr<const ml::Model> model, const std::string& ref) {
    Activate(std::move(model), ref);
    client_->Subscribe(
        "fan/control/" + id_, mqtt::QoS::kAtLeastOnce,
        [this](const mqtt::Message& m) { OnControl(std::string(m.payload.view())); });
    client_->Start();
    PublishStatus({});
    scorer_thread_ = std::thread([this] { ScoreLoop(); });
  }

  void Stop() {
    if (stop_.exchange(true)) return;
    if (scorer_thread_.joinable()) scorer_thread_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mu_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
    std::promise<void> done;
    client_->Stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(10));
  }

  std::string model_ref() const {
    std::lock_guard lock(mu_);
    return ref_;
  }
  uint64_t scored() const { return scored_.load(); }
  int commands_for(int64_t version) const {
    std::lock_guard lock(mu_);
    auto it = commands_.find(version);
    return it == commands_.end() ? 0 : it->second;
  }
  bool scored_with_broken_model() const { return broken_scores_.load() > 0; }

 private:
  void Activate(std::shared_ptr<const ml::Model> model, const std::string& ref) {
    auto scorer = ml::Scorer::Create(model);
    std::lock_guard lock(mu_);
    ref_ = ref;
    scorer_ = scorer.ok() ? std::move(*scorer) : nullptr;
  }

  void ScoreLoop() {
    float features[4] = {600, 40, 150, 50};
    while (!stop_) {
      {
        std::lock_guard lock(mu_);
        if (scorer_) {
          float s = scorer_->Score(features);
          if (std::isfinite(s) && s >= 0 && s <= 1) {
            ++scored_;
          } else {
            ++broken_scores_;
          }
        } else {
          ++broken_scores_;  // an activated model that cannot score
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void OnControl(std::string payload) {
    auto j = Json::parse(payload, nullptr, false);
    if (!j.is_object() || j["command"] != "download-model") return;
    std::lock_guard lock(mu_);
    ++commands_[j["payload"]["version"].get<int64_t>()];
    workers_.emplace_back([this, p = j["payload"]] { Download(p); });
  }

  void Download(const Json& p) {
    std::string rollout = p["rollout"];
    int64_t version = p["version"];
    std::string url = p["url"];
    auto fail = [&](const std::string& why) {
      PublishStatus(
          {{"rollout", rollout}, {"version", version}, {"state", "failed"}, {"error", why}});
    };
    registry::HttpClient http(platform_url_, token_);
    auto reply = http.Get(url.substr(url.find("/api/")));
    if (!reply.ok() || reply->status != 200) return fail("download failed");
    if (static_cast<int64_t>(reply->body.size()) != p["size"].get<int64_t>()) {
      return fail("size mismatch");
    }
    Status verified =
        registry::VerifyArtifact(public_key_, reply->body, p["sha256"].get<std::string>(),
                                 p["signature"].get<std::string>());
    if (!verified.ok()) return fail("signature or sha256 mismatch");
    std::string ref = p["name"].get<std::string>() + "@" + std::to_string(version);
    auto model = ml::Model::FromBytes(std::vector<uint8_t>(reply->body.begin(), reply->body.end()));
    if (validates_) {
      if (!model.ok()) return fail("invalid model");
      auto scorer = ml::Scorer::Create(*model);
      if (!scorer.ok() || (*scorer)->num_features() != 4) return fail("model does not fit");
    }
    if (model.ok()) {
      Activate(*model, ref);
    } else {
      std::lock_guard lock(mu_);
      ref_ = ref;  // old firmware: switches to whatever verified
      scorer_.reset();
    }
    PublishStatus({{"rollout", rollout}, {"version", version}, {"state", "ok"}});
  }

  void PublishStatus(const Json& ota) {
    Json status = {{"online", true}, {"model", model_ref()}};
    if (!ota.empty()) status["ota"] = ota;
    (void)client_->Publish("fan/status/" + id_, mqtt::SharedBytes(status.dump()),
                           {.qos = mqtt::QoS::kAtLeastOnce, .retain = true, .properties = {}});
  }

  std::string id_, token_, platform_url_, public_key_;
  bool validates_;
  std::shared_ptr<mqtt::Client> client_;
  mutable std::mutex mu_;
  std::string ref_;
  std::unique_ptr<ml::Scorer> scorer_;
  std::map<int64_t, int> commands_;
  std::vector<std::thread> workers_;
  std::thread scorer_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> scored_{0}, broken_scores_{0};
};

// Trains a small MLP on a CSV and returns the .tflite bytes.
std::string TrainModel(const std::string& csv_path, int epochs, uint64_t seed) {
  std::string err;
  ml::DatasetSchema schema;
  schema.label = "Faulty";
  schema.drop = {"DeviceID", "Time"};
  auto data = ml::LoadDataset(csv_path, schema, &err);
  EXPECT_TRUE(data.ok()) << err;
  if (!data.ok()) return {};
  ml::TrainConfig cfg;
  cfg.hidden = {8};
  cfg.epochs = epochs;
  cfg.seed = seed;
  auto result = ml::Train(*data, cfg, {}, &err);
  EXPECT_TRUE(result.ok()) << err;
  if (!result.ok()) return {};
  auto test = data->Subset(result->split.test);
  auto report = ml::Evaluate(result->model.PredictAll(test), test.y, data->num_classes());
  auto meta = ml::MakeMetadata(*data, result->split.train, result->model, report, "fan-mlp");
  auto bytes = ml::WriteTflite(ml::BuildFloatGraph(result->model, meta), &err);
  EXPECT_TRUE(bytes.ok()) << err;
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : std::string();
}

class RolloutIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mqtt::testing::Mosquitto::Available()) GTEST_SKIP() << "mosquitto not installed";
    const char* src = std::getenv("AIOT_SOURCE_DIR");
    fan_csv_ = std::string(src ? src : ".") + "/../shared/data/fan-pdm/fan.csv";
    if (!std::filesystem::exists(fan_csv_)) GTEST_SKIP() << "no " << fan_csv_;
    ASSERT_TRUE(broker_.Start());
  }

  Json Call(registry::HttpClient& c, std::string_view method, std::string_view target,
            std::string body = {}, int want = 200, std::string_view type = "application/json") {
    auto r = c.Call(method, target, std::move(body), {}, type);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, want) << method << " " << target << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  std::string fan_csv_;
  mqtt::testing::Mosquitto broker_;
};

TEST_F(RolloutIntegrationTest, TrainPushPromoteRollOutThenBrokenModelRollsBack) {
  mqtt::testing::IoThread io;
  PlatformHarness h(16 << 20, 2);
  ota::OtaConfig oc;
  oc.device_timeout_s = 120;
  oc.tick_ms = 100;
  auto platform_client = MakeClient(io.io(), broker_.url(), "platform");
  // The public URL is known only after the server starts; the manager reads it per rollout.
  ota::RolloutService* rollouts_ptr = nullptr;
  std::unique_ptr<ota::RolloutService> rollouts;
  registry::DatastoreConfig dc;
  dc.batch_rows = 1000;
  dc.flush_interval_ms = 50;
  registry::IngestService ingest(dc, *h.datastore, platform_client);
  ingest.Start();

  // The server must know the rollout routes before it starts, so build the service first with a
  // placeholder URL and fix it once the port is known (the harness picks a free port).
  oc.public_url = "http://127.0.0.1:0";
  rollouts = std::make_unique<ota::RolloutService>(oc, *h.models, *h.devices, platform_client);
  rollouts_ptr = rollouts.get();
  ota::RegisterRolloutRoutes(h.router, rollouts_ptr->manager());
  ASSERT_TRUE(h.Start());
  rollouts_ptr->manager().set_public_url(h.url());
  rollouts->Start();
  platform_client->Start();

  // 1. Telemetry over MQTT into the datastore: the first 4000 rows of the reference data set.
  auto publisher = MakeClient(io.io(), broker_.url(), "telemetry-publisher");
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
  registry::DatastoreConfig label_cfg;
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

  // 3. Train two versions, push, promote v1 as the fleet's starting point.
  std::string v1_bytes = TrainModel(csv_path, 3, 1);
  std::string v2_bytes = TrainModel(csv_path, 8, 2);
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

  // 4. Twenty devices, provisioned and activated over HTTP, running v1.
  std::string key = h.Client("")->Get("/.well-known/aiot/signing-key")->body;
  auto v1_model = ml::Model::FromBytes(std::vector<uint8_t>(v1_bytes.begin(), v1_bytes.end()));
  ASSERT_TRUE(v1_model.ok());
  std::vector<std::unique_ptr<StandInDevice>> fleet;
  for (int i = 0; i < 20; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "fan-%02d", i);
    Json creds = Call(*op, "POST", "/api/v1/devices",
                      Json{{"id", id}, {"labels", {{"site", "north"}}}}.dump(), 201);
    auto dev_http = h.Client(creds["token"]);
    Call(*dev_http, "POST", std::string("/api/v1/devices/") + id + "/activate");
    fleet.push_back(std::make_unique<StandInDevice>(id, creds["token"], h.url(), key,
                                                    /*validates_models=*/i != 0, io.io(),
                                                    broker_.url()));
    fleet.back()->Start(*v1_model, "fan-mlp@1");
  }
  ASSERT_TRUE(WaitFor([&] {
    auto list = h.devices->List({{"site", "north"}});
    return list.ok() && std::all_of(list->begin(), list->end(),
                                    [](const auto& d) { return d.reported_model == "fan-mlp@1"; });
  }));
  auto all_scoring = [&](std::vector<uint64_t>& marks) {
    // Every device scores at least 20 more readings than at the last mark.
    bool ok = WaitFor([&] {
      for (size_t i = 0; i < fleet.size(); ++i) {
        if (fleet[i]->scored() < marks[i] + 20) return false;
      }
      return true;
    });
    for (size_t i = 0; i < fleet.size(); ++i) marks[i] = fleet[i]->scored();
    return ok;
  };
  std::vector<uint64_t> marks(fleet.size(), 0);
  ASSERT_TRUE(all_scoring(marks));

  // 5. Promote v2 and roll it out with a 10% canary.
  Call(*op, "POST", "/api/v1/models/fan-mlp/versions/2/stage", R"({"stage":"production"})");
  Json r1 =
      Call(*op, "POST", "/api/v1/rollouts",
           R"({"model":"fan-mlp","version":2,"selector":"site:north","canary_percent":10})", 201);
  std::string r1_id = r1["id"];
  EXPECT_EQ(r1["counts"]["sent"], 2);  // the canary
  Json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = Call(*op, "GET", "/api/v1/rollouts/" + r1_id);
        return status["state"] == "completed";
      },
      std::chrono::seconds(120)))
      << status.dump();
  EXPECT_EQ(status["counts"]["ok"], 20);
  for (const auto& d : fleet) EXPECT_EQ(d->model_ref(), "fan-mlp@2");
  auto north = Call(*op, "GET", "/api/v1/devices?label=site:north");
  for (const auto& d : north["devices"]) {
    EXPECT_EQ(d["reported_model"], "fan-mlp@2");
    EXPECT_EQ(d["desired_model"], "fan-mlp@2");
  }
  ASSERT_TRUE(all_scoring(marks));

  // 6. A deliberately broken model (a truncated .tflite): the canary fails, the rollout halts,
  //    the canary device that took it (fan-00, no load check) is rolled back to v2.
  std::string broken = v2_bytes.substr(0, v2_bytes.size() / 2);
  Json v3 = Call(*op, "POST", "/api/v1/models/fan-mlp/versions?parent_version=2", broken, 201,
                 "application/octet-stream");
  ASSERT_EQ(v3["version"], 3);
  Json r2 = Call(
      *op, "POST", "/api/v1/rollouts",
      R"({"model":"fan-mlp","version":3,"selector":"site:north","canary_percent":10,"failure_threshold":0.2})",
      201);
  std::string r2_id = r2["id"];
  ASSERT_TRUE(WaitFor(
      [&] {
        status = Call(*op, "GET", "/api/v1/rollouts/" + r2_id);
        return status["state"] == "rolled_back";
      },
      std::chrono::seconds(120)))
      << status.dump();
  EXPECT_EQ(status["counts"]["failed"], 1);
  EXPECT_EQ(status["counts"]["rolled_back"], 1);
  EXPECT_EQ(status["counts"]["pending"], 18);
  EXPECT_NE(status["reason"].get<std::string>().find("1/2"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return fleet[0]->model_ref() == "fan-mlp@2"; }));
  ASSERT_TRUE(WaitFor([&] {
    auto d = h.devices->Get("fan-00");
    return d.ok() && d->reported_model == "fan-mlp@2" && d->desired_model == "fan-mlp@2";
  }));
  EXPECT_EQ(fleet[0]->commands_for(3), 1);
  EXPECT_EQ(fleet[1]->commands_for(3), 1);
  for (size_t i = 2; i < fleet.size(); ++i) {
    EXPECT_EQ(fleet[i]->commands_for(3), 0) << i;
    EXPECT_EQ(fleet[i]->model_ref(), "fan-mlp@2") << i;
  }
  EXPECT_EQ(fleet[1]->model_ref(), "fan-mlp@2");

  // The fleet kept scoring: every validating device scored throughout and never with a broken
  // model; fan-00 scored again after its rollback.
  ASSERT_TRUE(all_scoring(marks));
  for (size_t i = 1; i < fleet.size(); ++i) EXPECT_FALSE(fleet[i]->scored_with_broken_model()) << i;

  // The registry's audit log tells the story.
  Json audit = Call(*op, "GET", "/api/v1/models/fan-mlp/audit");
  EXPECT_EQ(audit["audit"].size(), 5u);  // 3 pushes, 2 promotes

  for (auto& d : fleet) d->Stop();
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
