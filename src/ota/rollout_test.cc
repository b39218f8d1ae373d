#include "ota/rollout.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "base/errc.h"
#include "registry/test_dir.h"

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
    manager_ = std::make_unique<RolloutManager>(
        oc, *models_, *devices_,
        [this](const std::string& topic, std::string payload) {
          sent_.emplace_back(topic, std::move(payload));
        },
        clock_);
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

  registry::TestDir dir_;
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

}  // namespace
}  // namespace aiot::ota
