// The `aiot models|devices|data|rollout` subcommands against a real platform API server.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "platform_harness.h"
#include "registry/crypto.h"

namespace aiot::platform_test {
namespace {

struct CliRun {
  int code = -1;
  std::string out;
};

CliRun Aiot(const std::string& args, const std::string& token, const std::string& url) {
  std::string cmd = "AIOT_URL=" + url + " AIOT_TOKEN=" + token + " " AIOT_BIN " " + args + " 2>&1";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(PlatformCliTest, ModelsDevicesDataRollout) {
  PlatformHarness h;
  ASSERT_TRUE(h.Start());
  std::string url = h.url();
  std::string file = h.data_dir() + "/m.tflite";
  std::ofstream(file) << "model bytes";

  CliRun push =
      Aiot("models push fan-mlp " + file + R"( --metrics '{"f1":0.8}')", kOperatorToken, url);
  ASSERT_EQ(push.code, 0) << push.out;
  EXPECT_NE(push.out.find("pushed fan-mlp@1"), std::string::npos) << push.out;
  CliRun again = Aiot("models push fan-mlp " + file, kOperatorToken, url);
  EXPECT_NE(again.out.find("already registered as fan-mlp@1"), std::string::npos) << again.out;

  CliRun promote = Aiot("models promote fan-mlp 1", kOperatorToken, url);
  ASSERT_EQ(promote.code, 0) << promote.out;
  CliRun list = Aiot("models list", kOperatorToken, url);
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("production"), std::string::npos) << list.out;
  CliRun show = Aiot("models show fan-mlp 1", kOperatorToken, url);
  EXPECT_NE(show.out.find(registry::Sha256Hex("model bytes")), std::string::npos) << show.out;
  CliRun rollback = Aiot("models rollback fan-mlp", kOperatorToken, url);
  EXPECT_EQ(rollback.code, 1);  // nothing earlier to go back to
  std::string out = h.data_dir() + "/down.tflite";
  CliRun download = Aiot("models download fan-mlp 1 -o " + out, kOperatorToken, url);
  ASSERT_EQ(download.code, 0) << download.out;
  EXPECT_NE(download.out.find("signature verified"), std::string::npos);

  CliRun denied = Aiot("models promote fan-mlp 1", "wrong-token", url);
  EXPECT_EQ(denied.code, 1);
  EXPECT_NE(denied.out.find("HTTP 401"), std::string::npos) << denied.out;

  CliRun prov =
      Aiot("devices provision fan-7 --label site:north --label line:2", kOperatorToken, url);
  ASSERT_EQ(prov.code, 0) << prov.out;
  auto creds = nlohmann::json::parse(prov.out.substr(prov.out.find('{')));
  EXPECT_EQ(creds["id"], "fan-7");
  CliRun devs = Aiot("devices list --label site:north", kOperatorToken, url);
  ASSERT_EQ(devs.code, 0) << devs.out;
  EXPECT_NE(devs.out.find("fan-7"), std::string::npos);
  CliRun south = Aiot("devices list --label site:south", kOperatorToken, url);
  EXPECT_EQ(south.out.find("fan-7"), std::string::npos);
  CliRun dshow = Aiot("devices show fan-7", creds["token"].get<std::string>(), url);
  EXPECT_EQ(dshow.code, 0) << dshow.out;

  CliRun csv = Aiot("data export", kOperatorToken, url);
  ASSERT_EQ(csv.code, 0) << csv.out;
  EXPECT_EQ(csv.out, "DeviceID,Time,rotation,temperature,vibration,sound,faulty\n");

  CliRun madd =
      Aiot("maintenance add fan-7 --at 2026-01-01T06:00:00Z --mode bearing", kOperatorToken, url);
  ASSERT_EQ(madd.code, 0) << madd.out;
  EXPECT_NE(madd.out.find("recorded failure fan-7"), std::string::npos) << madd.out;
  CliRun repair = Aiot("maintenance add fan-7 --kind repair --at 2026-01-01T08:00:00Z --note done",
                       kOperatorToken, url);
  ASSERT_EQ(repair.code, 0) << repair.out;
  CliRun wrong = Aiot("maintenance add fan-7 --kind broken", kOperatorToken, url);
  EXPECT_EQ(wrong.code, 2) << wrong.out;  // usage
  CliRun mlist = Aiot("maintenance list --device fan-7", kOperatorToken, url);
  ASSERT_EQ(mlist.code, 0) << mlist.out;
  EXPECT_NE(mlist.out.find("failure"), std::string::npos) << mlist.out;
  EXPECT_NE(mlist.out.find("repair"), std::string::npos) << mlist.out;
  CliRun repairs = Aiot("maintenance list --kind repair --json", kOperatorToken, url);
  ASSERT_EQ(repairs.code, 0) << repairs.out;
  auto rj = nlohmann::json::parse(repairs.out, nullptr, false);
  ASSERT_EQ(rj["records"].size(), 1u) << repairs.out;
  EXPECT_EQ(rj["records"][0]["note"], "done");

  // No rollout routes on this server: the CLI reports the 404 and fails.
  CliRun rs = Aiot("rollout status", kOperatorToken, url);
  EXPECT_EQ(rs.code, 1);
}

}  // namespace
}  // namespace aiot::platform_test
