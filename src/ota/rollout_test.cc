#include "ota/rollout.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "base/errc.h"
#include "tests/support/temp_dir.h"

namespace aiot::ota {
namespace {

using registry::DeviceRegistry;
using registry::DeviceSpec;
using registry::DeviceStatus;
using registry::ModelRegistry;

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry::RegistryConfig rc;
    rc.data_dir = dir_.path();
    rc.password_iterations = 1000;
    models_ = std::make_unique<ModelRegistry>(rc);
    devices_ = std::make_unique<DeviceRegistry>(rc);
    ASSERT_TRUE(models_->Open().ok());
    ASSERT_TRUE(devices_->Open().ok());
    registry::PushRequest req;
    req.name = "fan-mlp";
    ASSERT_TRUE(models_->Push("v1 bytes", req).ok());
    ASSERT_TRUE(models_->Push("v2 bytes", req).ok());
    for (int i = 0; i < 20; ++i) {
      DeviceSpec s;
      s.id = "fan-" + std::to_string(100 + i);
      s.labels = {{"site", i < 15 ? "north" : "south"}};
      ASSERT_TRUE(devices_->Provision(s).ok());
      ASSERT_TRUE(devices_->RecordStatus(s.id, R"({"online":true,"model":"fan-mlp@1"})").ok());
    }
    OtaConfig oc;
    oc.public_url = "http://platform:8080";
    oc.device_timeout_s = 60;
    oc.canary_soak_s = 0;
    manager_ = MakeManager(oc);
  }

  std::unique_ptr<RolloutManager> MakeManager(const OtaConfig& oc) {
    return std::make_unique<RolloutManager>(
        oc, *models_, *devices_,
        [this](const std::string& topic, std::string payload) {
          sent_.emplace_back(topic, std::move(payload));
        },
        clock_);
  }

  // A device's report that it activated the rollout's model and then gave it up.
  static DeviceStatus LateFailure(const std::string& rollout) {
    DeviceStatus s;
    s.ota_rollout = rollout;
    s.ota_version = 2;
    s.ota_state = "failed";
    s.ota_error = "model cannot score readings";
    s.model = "fan-mlp@1";
    return s;
  }

  // Answers every command sent so far, failing those of devices in `failing`.
  void Answer(const std::set<std::string>& failing = {}) {
    auto batch = std::move(sent_);
    sent_.clear();
    for (const auto& [topic, payload] : batch) {
      std::string device = topic.substr(topic.rfind('/') + 1);
      auto j = nlohmann::json::parse(payload);
      DeviceStatus s;
      s.ota_rollout = j["payload"]["rollout"];
      s.ota_version = j["payload"]["version"];
      if (failing.count(device)) {
        s.ota_state = "failed";
        s.ota_error = "invalid model";
        s.model = "fan-mlp@1";
      } else {
        s.ota_state = "ok";
        s.model = "fan-mlp@" + std::to_string(s.ota_version);
      }
      manager_->OnStatus(device, s);
    }
  }

  test_support::TempDir dir_;
  ManualClock clock_{1'000'000'000};
  std::unique_ptr<ModelRegistry> models_;
  std::unique_ptr<DeviceRegistry> devices_;
  std::unique_ptr<RolloutManager> manager_;
  std::vector<std::pair<std::string, std::string>> sent_;
};

TEST_F(RolloutTest, CanaryThenRestCompletes) {
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  req.canary_percent = 10;
  auto r = manager_->Start(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RolloutState::kCanary);
  ASSERT_EQ(sent_.size(), 2u);  // 10% of 20
  EXPECT_EQ(sent_[0].first, "fan/control/fan-100");
  auto cmd = nlohmann::json::parse(sent_[0].second);
  EXPECT_EQ(cmd["command"], "download-model");
  EXPECT_EQ(cmd["payload"]["url"],
            "http://platform:8080/api/v1/models/fan-mlp/versions/2/artifact");
  EXPECT_EQ(cmd["payload"]["sha256"], registry::Sha256Hex("v2 bytes"));
  EXPECT_EQ(cmd["payload"]["size"], 8);
  EXPECT_TRUE(registry::VerifyArtifactDigest(models_->signing_key().PublicKeyPem(),
                                             cmd["payload"]["sha256"].get<std::string>(),
                                             cmd["payload"]["signature"].get<std::string>()));
  EXPECT_EQ(devices_->Get("fan-100")->desired_model, "fan-mlp@2");
  Answer();
  EXPECT_EQ(manager_->Get(r->id)->state, RolloutState::kRolling);
  EXPECT_EQ(sent_.size(), 18u);
  Answer();
  auto done = manager_->Get(r->id);
  EXPECT_EQ(done->state, RolloutState::kCompleted);
  EXPECT_EQ(done->Count(DeviceRolloutState::kOk), 20);
}

TEST_F(RolloutTest, FailingCanaryHaltsAndRollsBackChangedDevices) {
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  req.canary_percent = 20;  // 4 devices
  req.failure_threshold = 0.25;
  auto r = manager_->Start(req);
  ASSERT_EQ(sent_.size(), 4u);
  Answer({"fan-100", "fan-101"});  // 2/4 fail > 0.25
  auto halted = manager_->Get(r->id);
  EXPECT_EQ(halted->state, RolloutState::kRolledBack);
  EXPECT_NE(halted->reason.find("2/4"), std::string::npos);
  // The two that took v2 are told to go back to v1; nobody else hears anything.
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].first, "fan/control/fan-102");
  EXPECT_EQ(sent_[1].first, "fan/control/fan-103");
  auto cmd = nlohmann::json::parse(sent_[0].second);
  EXPECT_EQ(cmd["payload"]["version"], 1);
  EXPECT_EQ(cmd["payload"]["rollout"], r->id + "-rollback");
  EXPECT_EQ(halted->Count(DeviceRolloutState::kPending), 16);
  EXPECT_EQ(devices_->Get("fan-102")->desired_model, "fan-mlp@1");
}

TEST_F(RolloutTest, SilentDevicesTimeOutAsFailures) {
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  req.selector = {{"site", "south"}};  // 5 devices, 1 canary
  auto r = manager_->Start(req);
  ASSERT_EQ(r->devices.size(), 5u);
  ASSERT_EQ(sent_.size(), 1u);
  manager_->Tick();
  EXPECT_EQ(manager_->Get(r->id)->state, RolloutState::kCanary);
  clock_.Advance(std::chrono::seconds(61));
  manager_->Tick();
  auto t = manager_->Get(r->id);
  EXPECT_EQ(t->state, RolloutState::kRolledBack);
  EXPECT_EQ(t->devices[0].error, "timeout");
}

TEST_F(RolloutTest, RejectsBadRequestsAndAborts) {
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 9;
  EXPECT_EQ(manager_->Start(req).error(), make_error_code(errc::not_found));
  req.version = 2;
  req.selector = {{"site", "west"}};
  EXPECT_EQ(manager_->Start(req).error(), make_error_code(errc::invalid_argument));
  req.selector.clear();
  auto r = manager_->Start(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(manager_->Abort(r->id, "operator")->state, RolloutState::kAborted);
  EXPECT_EQ(manager_->Abort(r->id, "again").error(), make_error_code(errc::invalid_argument));
  sent_.clear();
  Answer();
  EXPECT_TRUE(sent_.empty());
}

TEST_F(RolloutTest, CanarySoakCatchesLateFailures) {
  OtaConfig oc;
  oc.canary_soak_s = 30;
  manager_ = MakeManager(oc);
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  req.canary_percent = 10;  // fan-100, fan-101
  auto r = manager_->Start(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->canary_soak_s, 30);
  Answer();
  // Both canary devices said ok, but the soak holds the rest back.
  clock_.Advance(std::chrono::seconds(10));
  manager_->Tick();
  EXPECT_EQ(manager_->Get(r->id)->state, RolloutState::kCanary);
  EXPECT_TRUE(sent_.empty());
  // One of them gives the model up: 1/2 > 0.2, the rollout halts; only fan-101, which still runs
  // v2, is told to go back.
  manager_->OnStatus("fan-100", LateFailure(r->id));
  auto halted = manager_->Get(r->id);
  EXPECT_EQ(halted->state, RolloutState::kRolledBack);
  EXPECT_EQ(halted->devices[0].error, "model cannot score readings");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].first, "fan/control/fan-101");
  EXPECT_EQ(halted->Count(DeviceRolloutState::kPending), 18);
}

TEST_F(RolloutTest, CanarySoakEndsAndTheRestFollows) {
  OtaConfig oc;
  oc.canary_soak_s = 30;
  manager_ = MakeManager(oc);
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  req.canary_percent = 10;
  auto r = manager_->Start(req);
  Answer();
  clock_.Advance(std::chrono::seconds(29));
  manager_->Tick();
  EXPECT_TRUE(sent_.empty());
  clock_.Advance(std::chrono::seconds(2));
  manager_->Tick();
  EXPECT_EQ(manager_->Get(r->id)->state, RolloutState::kRolling);
  EXPECT_EQ(sent_.size(), 18u);
  // A per-request soak of 0 skips the wait.
  req.canary_soak_s = 0;
  req.selector = {{"site", "south"}};
  sent_.clear();
  auto r2 = manager_->Start(req);
  EXPECT_EQ(r2->canary_soak_s, 0);
}

TEST_F(RolloutTest, RolloutsSurviveARestartAndResume) {
  const std::string db = dir_.path() + "/rollouts.db";
  OtaConfig oc;
  oc.canary_soak_s = 0;
  oc.device_timeout_s = 60;
  std::string id, done_id;
  {
    auto m = MakeManager(oc);
    ASSERT_TRUE(m->Open(db).ok());
    RolloutRequest req;
    req.model = "fan-mlp";
    req.version = 2;
    req.selector = {{"site", "south"}};  // 5 devices, 1 canary
    auto done = m->Start(req);
    ASSERT_TRUE(done.ok());
    done_id = done->id;
    ASSERT_TRUE(m->Abort(done_id, "operator").ok());
    req.selector = {{"site", "north"}};  // 15 devices, 2 canary
    req.canary_percent = 10;
    sent_.clear();
    auto r = m->Start(req);
    ASSERT_TRUE(r.ok());
    id = r->id;
    ASSERT_EQ(sent_.size(), 2u);
    // fan-100 answers before the "crash"; fan-101 answers while the platform is down.
    DeviceStatus ok;
    ok.ota_rollout = id;
    ok.ota_version = 2;
    ok.ota_state = "ok";
    ok.model = "fan-mlp@2";
    m->OnStatus("fan-100", ok);
    sent_.clear();
  }
  // A new process: same store, a clock whose monotonic time restarted.
  auto m = MakeManager(oc);
  ASSERT_TRUE(m->Open(db).ok());
  auto list = m->List();
  ASSERT_EQ(list.size(), 2u);
  auto aborted = m->Get(done_id);
  ASSERT_TRUE(aborted.ok());
  EXPECT_EQ(aborted->state, RolloutState::kAborted);
  EXPECT_EQ(aborted->reason, "operator");
  EXPECT_EQ(aborted->resumed_at, 0);
  auto resumed = m->Get(id);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->state, RolloutState::kCanary);
  EXPECT_NE(resumed->resumed_at, 0);
  EXPECT_EQ(resumed->devices.size(), 15u);
  EXPECT_EQ(resumed->devices[0].state, DeviceRolloutState::kOk);
  EXPECT_EQ(resumed->devices[1].state, DeviceRolloutState::kSent);
  EXPECT_TRUE(sent_.empty());  // nothing is re-sent
  // The retained status of fan-101 arrives on re-subscription: the rollout carries on.
  DeviceStatus ok;
  ok.ota_rollout = id;
  ok.ota_version = 2;
  ok.ota_state = "ok";
  ok.model = "fan-mlp@2";
  m->OnStatus("fan-101", ok);
  EXPECT_EQ(m->Get(id)->state, RolloutState::kRolling);
  EXPECT_EQ(sent_.size(), 13u);
  auto cmd = nlohmann::json::parse(sent_[0].second);
  EXPECT_EQ(cmd["payload"]["rollout"], id);  // the stored command
  // New rollouts do not reuse ids.
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 1;
  req.devices = {"fan-119"};
  auto next = m->Start(req);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, "r-3");
  // Timeouts restart from the resume: a device sent the command long before the restart is
  // not failed at once.
  m->Tick();
  EXPECT_EQ(m->Get(id)->Count(DeviceRolloutState::kFailed), 0);
}

TEST_F(RolloutTest, StoredRecordsRoundTripAndCorruptionIsAnError) {
  RolloutRequest req;
  req.model = "fan-mlp";
  req.version = 2;
  auto r = manager_->Start(req);
  ASSERT_TRUE(r.ok());
  auto back = RolloutFromRecord(RolloutRecord(*r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(RolloutRecord(*back), RolloutRecord(*r));
  auto j = RolloutRecord(*r);
  j["state"] = "exploded";
  EXPECT_EQ(RolloutFromRecord(j).status().ToString(),
            "corrupted: rollout record: no valid \"state\"");
  j = RolloutRecord(*r);
  j["version"] = "2";  // mistyped: read from disk, so untrusted
  EXPECT_EQ(RolloutFromRecord(j).status().message(), "rollout record: no \"version\"");
  EXPECT_FALSE(RolloutFromRecord(nlohmann::json::array()).ok());
  j = RolloutRecord(*r);
  j.erase("devices");
  EXPECT_EQ(RolloutFromRecord(j).status().message(), "rollout record: no \"devices\" array");
}

}  // namespace
}  // namespace aiot::ota
