// The `aiot models|devices|data|rollout` subcommands against a real platform API server.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "platform_harness.h"
#include "registry/crypto.h"
#include "tests/support/run.h"

namespace aiot::platform_test {
namespace {

using test_support::RunResult;

// Runs `aiot ARGS` against `url` with `token`; output (stdout and stderr) and exit code.
RunResult Aiot(const std::string& args, const std::string& token, const std::string& url) {
  return test_support::RunCommand("AIOT_URL=" + url + " AIOT_TOKEN=" + token + " " AIOT_BIN " " +
                                  args);
}

TEST(PlatformCliTest, ModelsDevicesDataRollout) {
  PlatformHarness h;
  ASSERT_TRUE(h.Start());
  std::string url = h.url();
  std::string file = h.data_dir() + "/m.tflite";
  std::ofstream(file) << "model bytes";

  RunResult push =
      Aiot("models push fan-mlp " + file + R"( --metrics '{"f1":0.8}')", kOperatorToken, url);
  ASSERT_EQ(push.exit_code, 0) << push.output;
  EXPECT_NE(push.output.find("pushed fan-mlp@1"), std::string::npos) << push.output;
  RunResult again = Aiot("models push fan-mlp " + file, kOperatorToken, url);
  EXPECT_NE(again.output.find("already registered as fan-mlp@1"), std::string::npos)
      << again.output;

  RunResult promote = Aiot("models promote fan-mlp 1", kOperatorToken, url);
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  RunResult list = Aiot("models list", kOperatorToken, url);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("production"), std::string::npos) << list.output;
  RunResult show = Aiot("models show fan-mlp 1", kOperatorToken, url);
  EXPECT_NE(show.output.find(registry::Sha256Hex("model bytes")), std::string::npos) << show.output;
  RunResult rollback = Aiot("models rollback fan-mlp", kOperatorToken, url);
  EXPECT_EQ(rollback.exit_code, 1);  // nothing earlier to go back to
  std::string out = h.data_dir() + "/down.tflite";
  RunResult download = Aiot("models download fan-mlp 1 -o " + out, kOperatorToken, url);
  ASSERT_EQ(download.exit_code, 0) << download.output;
  EXPECT_NE(download.output.find("signature verified"), std::string::npos);

  RunResult denied = Aiot("models promote fan-mlp 1", "wrong-token", url);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.output.find("HTTP 401"), std::string::npos) << denied.output;

  RunResult prov =
      Aiot("devices provision fan-7 --label site:north --label line:2", kOperatorToken, url);
  ASSERT_EQ(prov.exit_code, 0) << prov.output;
  auto creds = nlohmann::json::parse(prov.output.substr(prov.output.find('{')));
  EXPECT_EQ(creds["id"], "fan-7");
  RunResult devs = Aiot("devices list --label site:north", kOperatorToken, url);
  ASSERT_EQ(devs.exit_code, 0) << devs.output;
  EXPECT_NE(devs.output.find("fan-7"), std::string::npos);
  RunResult south = Aiot("devices list --label site:south", kOperatorToken, url);
  EXPECT_EQ(south.output.find("fan-7"), std::string::npos);
  RunResult dshow = Aiot("devices show fan-7", creds["token"].get<std::string>(), url);
  EXPECT_EQ(dshow.exit_code, 0) << dshow.output;

  RunResult csv = Aiot("data export", kOperatorToken, url);
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output, "DeviceID,Time,rotation,temperature,vibration,sound,faulty\n");

  RunResult madd =
      Aiot("maintenance add fan-7 --at 2026-01-01T06:00:00Z --mode bearing", kOperatorToken, url);
  ASSERT_EQ(madd.exit_code, 0) << madd.output;
  EXPECT_NE(madd.output.find("recorded failure fan-7"), std::string::npos) << madd.output;
  RunResult repair =
      Aiot("maintenance add fan-7 --kind repair --at 2026-01-01T08:00:00Z --note done",
           kOperatorToken, url);
  ASSERT_EQ(repair.exit_code, 0) << repair.output;
  RunResult wrong = Aiot("maintenance add fan-7 --kind broken", kOperatorToken, url);
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;  // usage
  RunResult mlist = Aiot("maintenance list --device fan-7", kOperatorToken, url);
  ASSERT_EQ(mlist.exit_code, 0) << mlist.output;
  EXPECT_NE(mlist.output.find("failure"), std::string::npos) << mlist.output;
  EXPECT_NE(mlist.output.find("repair"), std::string::npos) << mlist.output;
  RunResult repairs = Aiot("maintenance list --kind repair --json", kOperatorToken, url);
  ASSERT_EQ(repairs.exit_code, 0) << repairs.output;
  auto rj = nlohmann::json::parse(repairs.output, nullptr, false);
  ASSERT_EQ(rj["records"].size(), 1u) << repairs.output;
  EXPECT_EQ(rj["records"][0]["note"], "done");

  // aiot train --task time_to_failure reads the datastore's records as they come: the JSON that
  // `maintenance list --json` prints, or fetched from the API's URL. fan-7 fails at 06:00 and is
  // repaired at 08:00, so its six hourly readings from 00:00 all have a failure ahead.
  const std::string readings = h.data_dir() + "/readings.csv";
  {
    std::ofstream r(readings);
    r << "deviceID,timeStamp,x\n";
    for (int hour = 0; hour < 6; ++hour)
      r << "fan-7,2026-01-01T0" << hour << ":00:00Z," << hour << "\n";
  }
  const std::string records = h.data_dir() + "/records.json";
  RunResult dump = Aiot("maintenance list --json --limit 10000 > " + records, kOperatorToken, url);
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  const std::string train = "train --task time_to_failure --data " + readings + " --out " +
                            h.data_dir() + "/ttf.tflite --maintenance ";
  const std::string seen = "6 readings, 1 failures; kept 6 with a failure ahead";
  RunResult from_file = Aiot(train + records, kOperatorToken, url);
  EXPECT_NE(from_file.output.find(seen), std::string::npos) << from_file.output;
  RunResult from_url = Aiot(train + url, kOperatorToken, url);
  EXPECT_NE(from_url.output.find(seen), std::string::npos) << from_url.output;
  RunResult denied_url = Aiot(train + url, "wrong-token", url);
  EXPECT_EQ(denied_url.exit_code, 1) << denied_url.output;
  EXPECT_NE(denied_url.output.find("HTTP 401"), std::string::npos) << denied_url.output;
  std::ofstream(records)
      << "{\"records\": [\n  {\"device\": \"fan-7\", \"kind\": \"failure\"}\n]}\n";
  RunResult hostile = Aiot(train + records, kOperatorToken, url);
  EXPECT_EQ(hostile.exit_code, 1) << hostile.output;
  EXPECT_NE(hostile.output.find("records.json: record 1: `at` must be a string"), std::string::npos)
      << hostile.output;

  // No rollout routes on this server: the CLI reports the 404 and fails.
  RunResult rs = Aiot("rollout status", kOperatorToken, url);
  EXPECT_EQ(rs.exit_code, 1);
}

}  // namespace
}  // namespace aiot::platform_test
