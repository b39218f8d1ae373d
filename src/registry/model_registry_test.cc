#include "registry/model_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/errc.h"
#include "tests/support/temp_dir.h"

namespace aiot::registry {
namespace {

using test_support::TempDir;

RegistryConfig ModelsConfig(const TempDir& dir) {
  RegistryConfig c;
  c.data_dir = dir.path();
  c.max_artifact_bytes = 1 << 20;
  return c;
}

PushRequest Req(std::string name) {
  PushRequest r;
  r.name = std::move(name);
  r.metrics_json = R"({"accuracy":0.91})";
  r.actor = "test";
  return r;
}

TEST(ModelRegistryTest, PushAssignsVersionsAndIsIdempotent) {
  TempDir dir;
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  auto v1 = reg.Push("model-one", Req("fan-mlp"));
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->sha256, Sha256Hex("model-one"));
  EXPECT_EQ(v1->size, 9);
  EXPECT_TRUE(VerifyArtifactDigest(reg.signing_key().PublicKeyPem(), v1->sha256, v1->signature));
  auto again = reg.Push("model-one", Req("fan-mlp"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 1);
  auto v2 = reg.Push("model-two", Req("fan-mlp"));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  // Same bytes under another name is another model.
  auto other = reg.Push("model-one", Req("pump"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->version, 1);
  auto list = reg.List("fan-mlp");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].version, 2);
  std::ifstream in(reg.ArtifactPath(v1->sha256));
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes, "model-one");
  EXPECT_TRUE(reg.CheckConsistency().empty());
}

// The code says which cause, the message which value (what the HTTP API answers with).
template <typename Code>
void ExpectError(const Status& s, Code code, std::string_view in_message) {
  EXPECT_EQ(s.code(), make_error_code(code)) << s.ToString();
  EXPECT_NE(s.message().find(in_message), std::string::npos) << s.ToString();
}

TEST(ModelRegistryTest, RejectsBadInputSayingWhich) {
  TempDir dir;
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  for (const char* name : {"", "../etc", "a/b", "..", ".hidden", "a b", "a..b"}) {
    SCOPED_TRACE(name);
    ExpectError(reg.Push("x", Req(name)).status(), errc::invalid_name,
                "model name `" + std::string(name) + "`");
  }
  auto bad_json = Req("m");
  bad_json.metrics_json = "[1]";
  ExpectError(reg.Push("x", bad_json).status(), errc::invalid_metadata, "metrics");
  auto bad_params = Req("m");
  bad_params.parameters_json = "{";
  ExpectError(reg.Push("x", bad_params).status(), errc::invalid_metadata, "parameters");
  auto bad_parent = Req("m");
  bad_parent.parent_version = 7;
  ExpectError(reg.Push("x", bad_parent).status(), errc::unknown_parent, "parent_version 7");
  bad_parent.parent_version = -1;
  ExpectError(reg.Push("x", bad_parent).status(), errc::invalid_version, "parent_version");
  ExpectError(reg.Push("", Req("m")).status(), errc::empty_artifact, "empty");
  std::string big((1 << 20) + 1, 'x');
  ExpectError(reg.Push(big, Req("m")).status(), errc::too_large, "max_artifact_bytes");
  auto up = reg.BeginUpload();
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->Write(std::string(1 << 20, 'x')).ok());
  ExpectError((*up)->Write("y"), errc::too_large, "max_artifact_bytes");
  up->reset();  // the dead upload's temp file goes with it
  EXPECT_TRUE(reg.List()->empty());
  ExpectError(reg.List("../x").status(), errc::invalid_name, "`../x`");
  ExpectError(reg.Get("m", 0).status(), errc::invalid_version, "version");
  ExpectError(reg.Get("m", 1).status(), aiot::errc::not_found, "m@1");
  ExpectError(reg.Production("m").status(), aiot::errc::not_found, "no production version");
  ExpectError(ParseStage("live").status(), errc::invalid_stage, "`live`");
  EXPECT_EQ(*ParseStage("staging"), Stage::kStaging);
  EXPECT_TRUE(reg.CheckConsistency().empty());
}

TEST(ModelRegistryTest, PushSaysWhetherItCreated) {
  TempDir dir;
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  bool created = false;
  ASSERT_TRUE(reg.Push("bytes", Req("m"), &created).ok());
  EXPECT_TRUE(created);
  ASSERT_TRUE(reg.Push("bytes", Req("m"), &created).ok());
  EXPECT_FALSE(created);
}

TEST(ModelRegistryTest, StagesKeepOneProductionAndRollBack) {
  TempDir dir;
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  ASSERT_TRUE(reg.Push("a", Req("m")).ok());
  ASSERT_TRUE(reg.Push("b", Req("m")).ok());
  ASSERT_TRUE(reg.Push("c", Req("m")).ok());
  EXPECT_EQ(reg.Production("m").error(), make_error_code(aiot::errc::not_found));
  ASSERT_TRUE(reg.SetStage("m", 1, Stage::kStaging, "ops").ok());
  ASSERT_TRUE(reg.SetStage("m", 1, Stage::kProduction, "ops").ok());
  ASSERT_TRUE(reg.SetStage("m", 2, Stage::kProduction, "ops").ok());
  EXPECT_EQ(reg.Production("m")->version, 2);
  EXPECT_EQ(reg.Get("m", 1)->stage, Stage::kArchived);
  ExpectError(reg.Delete("m", 2, "ops"), errc::in_production, "m@2 is in production");

  auto back = reg.Rollback("m", "ops");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->version, 1);
  EXPECT_EQ(reg.Production("m")->version, 1);
  EXPECT_EQ(reg.Get("m", 2)->stage, Stage::kArchived);

  ASSERT_TRUE(reg.Delete("m", 3, "ops").ok());
  EXPECT_EQ(reg.Get("m", 3).error(), make_error_code(aiot::errc::not_found));
  EXPECT_FALSE(std::filesystem::exists(reg.ArtifactPath(Sha256Hex("c"))));
  // Version numbers are not reused after a delete.
  EXPECT_EQ(reg.Push("d", Req("m"))->version, 4);

  auto audit = reg.Audit("m");
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> actions;
  for (const auto& e : *audit) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"push", "delete", "rollback", "promote", "promote",
                                               "promote", "push", "push", "push"}));
  EXPECT_TRUE(reg.CheckConsistency().empty());
}

TEST(ModelRegistryTest, ReopenCleansOrphansAndKeepsData) {
  TempDir dir;
  std::string sha;
  {
    ModelRegistry reg(ModelsConfig(dir));
    ASSERT_TRUE(reg.Open().ok());
    auto v = reg.Push("keep", Req("m"));
    ASSERT_TRUE(v.ok());
    sha = v->sha256;
    // An upload that never committed, and an artifact whose row never made it.
    std::filesystem::copy_file(dir.path() + "/artifacts/" + sha,
                               dir.path() + "/artifacts/tmp/upload-stale");
    std::ofstream(dir.path() + "/artifacts/" + Sha256Hex("orphan")) << "orphan";
  }
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  EXPECT_TRUE(reg.CheckConsistency().empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/artifacts/" + Sha256Hex("orphan")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/artifacts/tmp"));
  EXPECT_EQ(reg.Get("m", 1)->sha256, sha);
}

TEST(ModelRegistryTest, DetectsTamperedArtifactOnDisk) {
  TempDir dir;
  ModelRegistry reg(ModelsConfig(dir));
  ASSERT_TRUE(reg.Open().ok());
  auto v = reg.Push("original", Req("m"));
  ASSERT_TRUE(v.ok());
  std::ofstream(reg.ArtifactPath(v->sha256)) << "tampered";
  auto problems = reg.CheckConsistency();
  ASSERT_FALSE(problems.empty());
}

}  // namespace
}  // namespace aiot::registry
