// The platform HTTP API end to end over a real server: models, devices, data export, and the
// security properties (401, 403, path traversal, 413, tampering).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/errc.h"
#include "datastore/telemetry_row.h"
#include "platform_harness.h"
#include "registry/crypto.h"
#include "telemetry/field_schema.h"

namespace aiot::platform_test {
namespace {

using Json = nlohmann::json;
using net::HttpClient;

std::string PushTarget(const std::string& name, const std::string& query = "") {
  return "/api/v1/models/" + name + "/versions" + (query.empty() ? "" : "?" + query);
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Start());
    admin_ = h_.Client(kAdminToken);
    op_ = h_.Client(kOperatorToken);
  }

  Json Push(const std::string& bytes, const std::string& name = "fan-mlp", int want = 201) {
    auto r = op_->Call("POST",
                       PushTarget(name, "metrics=" + HttpClient::Escape(R"({"f1":0.9})") +
                                            "&training_data_hash=abc"),
                       bytes, {}, "application/octet-stream");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, want) << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // Provisions a device and returns its credentials.
  Json Provision(const std::string& id, const std::string& site) {
    auto r = op_->Call("POST", "/api/v1/devices",
                       Json{{"id", id}, {"labels", {{"site", site}}}, {"firmware", "1.2"}}.dump());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201) << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  PlatformHarness h_;
  std::unique_ptr<HttpClient> admin_, op_;
};

TEST_F(ApiTest, PushListPromoteDownload) {
  Json v1 = Push("model bytes v1");
  EXPECT_EQ(v1["version"], 1);
  EXPECT_EQ(v1["metrics"]["f1"], 0.9);
  EXPECT_EQ(v1["training_data_hash"], "abc");
  Push("model bytes v1", "fan-mlp", 200);  // idempotent
  Json v2 = Push("model bytes v2");
  EXPECT_EQ(v2["version"], 2);

  auto list = op_->Get("/api/v1/models/fan-mlp");
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(Json::parse(list->body)["versions"].size(), 2u);

  auto promote =
      op_->Call("POST", "/api/v1/models/fan-mlp/versions/2/stage", R"({"stage":"production"})");
  ASSERT_EQ(promote->status, 200) << promote->body;
  auto prod = op_->Get("/api/v1/models/fan-mlp/production");
  EXPECT_EQ(Json::parse(prod->body)["version"], 2);

  auto art = op_->Get("/api/v1/models/fan-mlp/versions/2/artifact");
  ASSERT_EQ(art->status, 200);
  EXPECT_EQ(art->body, "model bytes v2");
  std::string etag = art->header("etag");
  EXPECT_EQ(etag, "\"" + registry::Sha256Hex("model bytes v2") + "\"");
  auto key = h_.Client("")->Get("/.well-known/aiot/signing-key");
  ASSERT_EQ(key->status, 200);
  EXPECT_TRUE(registry::VerifyArtifact(key->body, art->body, art->header("x-aiot-sha256"),
                                       art->header("x-aiot-signature"))
                  .ok());
  // Resume with Range, revalidate with If-None-Match.
  auto part = op_->Get("/api/v1/models/fan-mlp/versions/2/artifact", {{"Range", "bytes=6-"}});
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, "bytes v2");
  auto same = op_->Get("/api/v1/models/fan-mlp/versions/2/artifact", {{"If-None-Match", etag}});
  EXPECT_EQ(same->status, 304);

  auto rollback = op_->Call("POST", "/api/v1/models/fan-mlp/rollback");
  EXPECT_EQ(rollback->status, 404);  // no earlier production version
  ASSERT_EQ(
      op_->Call("POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"production"})")
          ->status,
      200);
  rollback = op_->Call("POST", "/api/v1/models/fan-mlp/rollback");
  ASSERT_EQ(rollback->status, 200);
  EXPECT_EQ(Json::parse(rollback->body)["version"], 2);

  auto audit = op_->Get("/api/v1/models/fan-mlp/audit");
  ASSERT_EQ(audit->status, 200);
  auto entries = Json::parse(audit->body)["audit"];
  EXPECT_EQ(entries[0]["action"], "rollback");
  EXPECT_EQ(entries[0]["actor"], "olga");

  EXPECT_EQ(op_->Call("DELETE", "/api/v1/models/fan-mlp/versions/1")->status, 403);
  EXPECT_EQ(admin_->Call("DELETE", "/api/v1/models/fan-mlp/versions/2")->status, 409);
  EXPECT_EQ(admin_->Call("DELETE", "/api/v1/models/fan-mlp/versions/1")->status, 204);
}

TEST_F(ApiTest, WrongOrMissingTokenIs401) {
  Push("m");
  auto none = h_.Client("")->Get("/api/v1/models");
  EXPECT_EQ(none->status, 401);
  auto wrong = h_.Client("not-a-token")->Get("/api/v1/models");
  EXPECT_EQ(wrong->status, 401);
  auto wrong_device = h_.Client("dev_0000")->Get("/api/v1/models/fan-mlp/versions/1/artifact");
  EXPECT_EQ(wrong_device->status, 401);
}

TEST_F(ApiTest, DeviceTokenCanDownloadButNotPromoteOrPush) {
  Push("model");
  Json creds = Provision("fan-0001", "north");
  auto dev = h_.Client(creds["token"]);
  EXPECT_EQ(dev->Get("/api/v1/models/fan-mlp/versions/1/artifact")->status, 200);
  auto promote =
      dev->Call("POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"production"})");
  EXPECT_EQ(promote->status, 403);
  EXPECT_EQ(Json::parse(promote->body)["error"]["code"], "forbidden");
  EXPECT_EQ(dev->Call("POST", PushTarget("fan-mlp"), "x", {}, "application/octet-stream")->status,
            403);
  EXPECT_EQ(dev->Call("POST", "/api/v1/models/fan-mlp/rollback")->status, 403);
  EXPECT_EQ(dev->Get("/api/v1/devices")->status, 403);
  EXPECT_EQ(dev->Get("/api/v1/data/export")->status, 403);
  EXPECT_EQ(h_.models->Get("fan-mlp", 1)->stage, registry::Stage::kNone);
}

TEST_F(ApiTest, DeviceActivatesAndReportsOnlyItsOwnStatus) {
  Json a = Provision("fan-0001", "north");
  Json b = Provision("fan-0002", "south");
  Provision("fan-0003", "north");
  EXPECT_EQ(op_->Call("POST", "/api/v1/devices", R"({"id":"fan-0001"})")->status, 409);
  auto dev_a = h_.Client(a["token"]);
  // Activation: only with the device's own token.
  EXPECT_EQ(dev_a->Call("POST", "/api/v1/devices/fan-0002/activate")->status, 403);
  auto act = dev_a->Call("POST", "/api/v1/devices/fan-0001/activate");
  ASSERT_EQ(act->status, 200) << act->body;
  EXPECT_EQ(Json::parse(act->body)["device"]["state"], "active");

  EXPECT_EQ(
      dev_a
          ->Call("PUT", "/api/v1/devices/fan-0001/status", R"({"online":true,"model":"fan-mlp@1"})")
          ->status,
      204);
  EXPECT_EQ(dev_a->Call("PUT", "/api/v1/devices/fan-0002/status", R"({"online":false})")->status,
            403);
  EXPECT_EQ(dev_a->Get("/api/v1/devices/fan-0002")->status, 403);
  auto self = dev_a->Get("/api/v1/devices/fan-0001");
  ASSERT_EQ(self->status, 200);
  EXPECT_EQ(Json::parse(self->body)["reported_model"], "fan-mlp@1");

  auto north = op_->Get("/api/v1/devices?label=site:north");
  ASSERT_EQ(north->status, 200);
  auto list = Json::parse(north->body)["devices"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], "fan-0001");
  EXPECT_EQ(list[1]["id"], "fan-0003");
  // Credentials are never shown again.
  EXPECT_EQ(north->body.find(a["token"].get<std::string>()), std::string::npos);
  EXPECT_EQ(north->body.find(a["mqtt_password"].get<std::string>()), std::string::npos);
  EXPECT_TRUE(h_.devices->CheckMqttCredentials("fan-0002", b["mqtt_password"].get<std::string>()));

  EXPECT_EQ(op_->Call("DELETE", "/api/v1/devices/fan-0001")->status, 403);
  EXPECT_EQ(admin_->Call("DELETE", "/api/v1/devices/fan-0001")->status, 204);
  EXPECT_EQ(dev_a->Get("/api/v1/devices/fan-0001")->status, 401);
}

TEST_F(ApiTest, PathTraversalInNamesIsRejected) {
  for (std::string name : {"..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a%2Fb", "..", "a%00b"}) {
    auto push = op_->Call("POST", PushTarget(name), "bytes", {}, "application/octet-stream");
    ASSERT_TRUE(push.ok());
    EXPECT_TRUE(push->status == 400 || push->status == 404) << name << " " << push->status;
    auto get = op_->Get("/api/v1/models/" + name + "/versions/1/artifact");
    EXPECT_TRUE(get->status == 400 || get->status == 404) << name << " " << get->status;
  }
  // The ones that reach the handler are refused by name validation, with 400.
  EXPECT_EQ(
      op_->Call("POST", PushTarget("..%2F..%2Fetc"), "b", {}, "application/octet-stream")->status,
      400);
  EXPECT_EQ(op_->Get("/api/v1/devices/..%2Fx")->status, 400);
  EXPECT_TRUE(h_.models->List()->empty());
}

// The registry says which value was wrong; the API passes its code and message on without
// checking the values again.
TEST_F(ApiTest, ErrorsNameTheCause) {
  auto expect = [](const Result<net::HttpReply>& r, int status, const std::string& code,
                   const std::string& in_message) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status) << r->body;
    Json e = Json::parse(r->body, nullptr, false)["error"];
    EXPECT_EQ(e["code"], code) << r->body;
    EXPECT_NE(e["message"].get<std::string>().find(in_message), std::string::npos) << r->body;
  };
  auto push = [&](const std::string& name, const std::string& query, const std::string& body) {
    return op_->Call("POST", PushTarget(name, query), body, {}, "application/octet-stream");
  };
  expect(push("a..b", "", "b"), 400, "invalid_name", "model name `a..b`");
  expect(push("m", "metrics=" + HttpClient::Escape("[1]"), "b"), 400, "invalid_metadata",
         "metrics");
  expect(push("m", "parent_version=x", "b"), 400, "invalid_version", "parent_version `x`");
  expect(push("m", "parent_version=4", "b"), 400, "unknown_parent", "parent_version 4");
  expect(push("m", "", ""), 400, "empty_artifact", "empty");
  Push("bytes");
  expect(op_->Call("POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"live"})"), 400,
         "invalid_stage", "`live`");
  expect(op_->Get("/api/v1/models/fan-mlp/versions/one"), 400, "invalid_version", "`one`");
  expect(op_->Get("/api/v1/models/fan-mlp/versions/7"), 404, "not_found", "fan-mlp@7");
  ASSERT_EQ(
      op_->Call("POST", "/api/v1/models/fan-mlp/versions/1/stage", R"({"stage":"production"})")
          ->status,
      200);
  expect(admin_->Call("DELETE", "/api/v1/models/fan-mlp/versions/1"), 409, "in_production",
         "fan-mlp@1 is in production");
  expect(op_->Call("POST", "/api/v1/devices", R"({"id":"fan-1","labels":{"site":"a b"}})"), 400,
         "invalid_label", "label value `a b`");
  expect(op_->Get("/api/v1/devices?label=site"), 400, "invalid_label", "`site`");
  Provision("fan-1", "north");
  expect(op_->Call("PUT", "/api/v1/devices/fan-1/status", R"({"online":"yes"})"), 400,
         "invalid_status", "online");
  expect(op_->Get("/api/v1/data/export?devices=a..b"), 400, "invalid_argument", "`a..b`");
}

TEST_F(ApiTest, OversizedUploadIs413) {
  std::string big((1 << 20) + 1, 'x');
  auto r = op_->Call("POST", PushTarget("fan-mlp"), big, {}, "application/octet-stream");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(h_.models->List()->empty());
  Push(std::string(1 << 20, 'y'));  // exactly the limit is fine
}

TEST_F(ApiTest, TamperedArtifactIsDetected) {
  Json v = Push("genuine model");
  auto key = h_.Client("")->Get("/.well-known/aiot/signing-key")->body;
  // Someone with disk access swaps the bytes: the download no longer verifies.
  std::ofstream(h_.models->ArtifactPath(v["sha256"].get<std::string>()), std::ios::trunc)
      << "evil model!!!";
  auto art = op_->Get("/api/v1/models/fan-mlp/versions/1/artifact");
  ASSERT_EQ(art->status, 200);
  EXPECT_EQ(registry::VerifyArtifact(key, art->body, v["sha256"].get<std::string>(),
                                     v["signature"].get<std::string>())
                .error(),
            make_error_code(aiot::errc::corrupted));
  // And a forged digest without the platform key fails the signature.
  EXPECT_EQ(registry::VerifyArtifact(key, art->body, registry::Sha256Hex(art->body),
                                     v["signature"].get<std::string>())
                .error(),
            make_error_code(aiot::errc::permission_denied));
}

TEST_F(ApiTest, ExportsLabelledCsv) {
  datastore::TelemetryRow r;
  datastore::RowParser parser(telemetry::FieldSchema::FanFeatures());
  ASSERT_TRUE(
      parser
          .Parse(
              R"({"deviceID":"fan-0001","timeStamp":"2026-01-01T00:00:00Z","rotation":600,"temperature":40,"vibration":150,"sound":50})",
              0, &r)
          .ok());
  std::vector<datastore::TelemetryRow> rows = {r};
  r.ts += 3600'000'000'000;
  r.device = "fan-0002";
  rows.push_back(r);
  ASSERT_TRUE(h_.datastore->Append(rows).ok());
  auto m =
      op_->Call("POST", "/api/v1/data/maintenance",
                R"({"device":"fan-0001","failure_at":"2026-01-01T06:00:00Z","mode":"bearing"})");
  ASSERT_EQ(m->status, 201) << m->body;
  auto csv = op_->Get("/api/v1/data/export?from=2026-01-01T00:00:00Z&devices=fan-0001");
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->body,
            "DeviceID,Time,rotation,temperature,vibration,sound,faulty\n"
            "fan-0001,2026-01-01 00:00:00,600,40,150,50,1\n");
  EXPECT_EQ(op_->Get("/api/v1/data/export?from=yesterday")->status, 400);
}

// Maintenance records: kinds, the same record twice is one (200), the list filters, a device
// reads only its own, errors name the field.
TEST_F(ApiTest, MaintenanceRecordsAddAndList) {
  auto post = [this](const std::string& body) {
    return op_->Call("POST", "/api/v1/data/maintenance", body);
  };
  auto fail = post(R"({"device":"fan-0001","kind":"failure","at":"2026-01-01T06:00:00Z",)"
                   R"("mode":"bearing"})");
  ASSERT_EQ(fail->status, 201) << fail->body;
  EXPECT_EQ(Json::parse(fail->body)["source"], "api:olga");
  EXPECT_EQ(post(R"({"device":"fan-0001","kind":"failure","at":"2026-01-01T06:00:00Z"})")->status,
            200);
  ASSERT_EQ(post(R"({"device":"fan-0001","kind":"repair","at":"2026-01-01T08:00:00Z",)"
                 R"("note":"bearing 6204 replaced"})")
                ->status,
            201);
  ASSERT_EQ(
      post(R"({"device":"fan-0002","kind":"inspection","at":"2026-01-02T08:00:00Z"})")->status,
      201);
  auto bad = post(R"({"device":"fan-0001","kind":"explosion","at":"2026-01-01T06:00:00Z"})");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("kind"), std::string::npos) << bad->body;

  auto all = op_->Get("/api/v1/data/maintenance");
  ASSERT_EQ(all->status, 200) << all->body;
  Json records = Json::parse(all->body)["records"];
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["kind"], "failure");
  EXPECT_EQ(records[1]["note"], "bearing 6204 replaced");
  auto repairs = op_->Get("/api/v1/data/maintenance?device=fan-0001&kind=repair");
  ASSERT_EQ(Json::parse(repairs->body)["records"].size(), 1u);
  EXPECT_EQ(op_->Get("/api/v1/data/maintenance?kind=x")->status, 400);
  EXPECT_EQ(op_->Get("/api/v1/data/maintenance?limit=0")->status, 400);

  Json creds = Provision("fan-0002", "north");
  auto device = h_.Client(creds["token"].get<std::string>());
  auto own = device->Get("/api/v1/data/maintenance");
  ASSERT_EQ(own->status, 200) << own->body;
  ASSERT_EQ(Json::parse(own->body)["records"].size(), 1u);
  EXPECT_EQ(device->Get("/api/v1/data/maintenance?device=fan-0001")->status, 403);
  EXPECT_EQ(device
                ->Call("POST", "/api/v1/data/maintenance",
                       R"({"device":"fan-0002","at":"2026-01-03T00:00:00Z"})")
                ->status,
            403);
}

}  // namespace
}  // namespace aiot::platform_test
