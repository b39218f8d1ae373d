// The pipeline retrains the time-to-failure model (issue 17): `aiot pipeline run` with a
// `task: time_to_failure` recipe on simulated history (`aiot simulate --history`, loaded into a
// real training datastore with its maintenance records) extracts the records along with the
// readings, trains on whole devices, evaluates MAE against the constant predictor and the
// champion on the same held-out devices, registers with the task in the lineage and promotes
// without an OTA rollout (the predictor serves it, not the devices).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.h"
#include "ml/data/csv.h"
#include "ml/data/ttf.h"
#include "tests/platform/platform_harness.h"
#include "tests/support/run.h"

namespace aiot::pipeline_test {
namespace {

using Json = nlohmann::json;
using platform_test::kAdminToken;
using platform_test::PlatformHarness;
using test_support::RunResult;

RunResult AiotAt(const std::string& args, const std::string& url) {
  return test_support::RunCommand("AIOT_URL=" + url + " AIOT_TOKEN=" + kAdminToken +
                                  " " AIOT_BIN " " + args);
}

Json ReadJsonAt(const std::string& path) {
  std::ifstream in(path);
  auto j = Json::parse(in, nullptr, false);
  return j.is_discarded() ? Json() : j;
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class PipelineTtfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Start());
    LoadSimulatedHistory();
  }

  // `aiot simulate --history`: 30 fans, a reading every 120 s each, failures and repairs as
  // maintenance records; shifted in time to end an hour ago (extract's window ends now).
  void LoadSimulatedHistory() {
    const std::string history = h_.data_dir() + "/history.csv";
    const std::string records = h_.data_dir() + "/records.csv";
    RunResult r = AiotAt("simulate --history 30000 --devices 30 --interval 120 --seed 5 --out " +
                             history + " --maintenance-out " + records,
                         h_.url());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto table = ml::ReadCsvFile(history);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    const int dev = table->Column("deviceID"), ts = table->Column("timeStamp");
    ASSERT_GE(dev, 0);
    ASSERT_GE(ts, 0);
    std::vector<int> cols;
    for (const char* f : {"rotation", "temperature", "vibration", "sound"}) {
      cols.push_back(table->Column(f));
      ASSERT_GE(cols.back(), 0) << f;
    }
    std::vector<datastore::TelemetryRow> rows;
    int64_t last = 0;
    for (const auto& row : table->rows) {
      int64_t t = 0;
      ASSERT_TRUE(ParseTimestamp(row[ts], &t)) << row[ts];
      last = std::max(last, t);
      datastore::TelemetryRow tr{t, row[dev], {}};
      for (int c : cols) tr.values.push_back(std::stod(row[c]));
      rows.push_back(std::move(tr));
    }
    shift_ = NowNanos() - 3600LL * 1'000'000'000 - last;
    for (auto& row : rows) row.ts += shift_;
    ASSERT_TRUE(h_.datastore->Append(rows).ok());
    auto events = ml::ReadMaintenanceRecords(records);
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    for (const auto& e : *events) {
      datastore::MaintenanceRecord m;
      m.device = e.device;
      m.at = e.at + shift_;
      m.kind = e.kind == ml::MaintenanceEvent::Kind::kFailure ? datastore::MaintenanceKind::kFailure
               : e.kind == ml::MaintenanceEvent::Kind::kRepair
                   ? datastore::MaintenanceKind::kRepair
                   : datastore::MaintenanceKind::kInspection;
      failures_ += e.kind == ml::MaintenanceEvent::Kind::kFailure;
      ASSERT_TRUE(h_.datastore->AddMaintenance(m).ok());
    }
    ASSERT_GE(failures_, 10) << "the history must hold failures to learn from";
  }

  std::string WriteRecipe(const std::string& name, const std::string& text) {
    const std::string path = h_.data_dir() + "/" + name;
    std::ofstream(path, std::ios::trunc) << text;
    return path;
  }

  // `aiot pipeline run --model fan-ttf` with the recipe and the data of the last three days.
  RunResult Run(const std::string& recipe, const std::string& extra = "") {
    return AiotAt("--set registry.data_dir=" + h_.data_dir() +
                      " pipeline run --model fan-ttf --param recipe=" + recipe +
                      " --param window=3d " + extra,
                  h_.url());
  }

  std::string RunFile(int run, const std::string& name) const {
    return h_.data_dir() + "/pipeline-runs/" + std::to_string(run) + "/" + name;
  }

  PlatformHarness h_{64 << 20};
  int64_t shift_ = 0;
  int failures_ = 0;
};

TEST_F(PipelineTtfTest, RunRegistersATimeToFailureModelThatBeatsTheConstantPredictor) {
  const std::string recipe = WriteRecipe(
      "ttf.yaml",
      "# hours to the next failure, capped at 6\n"
      "task: time_to_failure\nhorizon_h: 6\ntrees: 200\nmax_depth: 4\nlearning_rate: 0.1\n");
  RunResult r = Run(recipe);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // extract brought the window's maintenance records along.
  Json extract = ReadJsonAt(RunFile(1, "extract.json"));
  EXPECT_GE(extract["maintenance"].value("records", 0), failures_) << extract.dump();
  auto records = ml::ReadMaintenanceRecords(RunFile(1, "maintenance.json"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();

  // train: whole devices held out, the recipe's horizon.
  Json train = ReadJsonAt(RunFile(1, "train.json"));
  EXPECT_EQ(train.value("task", ""), "time_to_failure") << train.dump();
  EXPECT_EQ(train.value("horizon_h", 0.0), 6.0);
  ASSERT_TRUE(train["holdout_devices"].is_array());
  EXPECT_GE(train["holdout_devices"].size(), 3u);
  EXPECT_GT(train.value("holdout_rows", 0), 2000);

  // evaluate: MAE on the held-out devices, at most 0.7 of the constant predictor's (the floor).
  Json eval = ReadJsonAt(RunFile(1, "evaluate.json"));
  EXPECT_EQ(eval.value("metric", ""), "mae") << eval.dump();
  EXPECT_TRUE(eval.value("promoted", false)) << eval.dump();
  EXPECT_EQ(eval["holdout_devices"], train["holdout_devices"]);
  const double mae = eval["challenger"].value("mae", -1.0);
  const double baseline = eval["challenger"].value("baseline_mae", -1.0);
  std::printf("pipeline time to failure, held-out devices: MAE %.3f h, constant %.3f h, %d rows\n",
              mae, baseline, eval.value("holdout_rows", 0));
  EXPECT_GT(mae, 0);
  EXPECT_LT(mae, 0.7 * baseline) << eval.dump();

  // quantize passes the float model on; register records the task; rollout promotes without OTA.
  EXPECT_FALSE(ReadJsonAt(RunFile(1, "quantize.json")).value("quantized", true));
  Json reg = ReadJsonAt(RunFile(1, "register.json"));
  EXPECT_EQ(reg.value("task", ""), "time_to_failure") << reg.dump();
  Json rollout = ReadJsonAt(RunFile(1, "rollout.json"));
  EXPECT_FALSE(rollout.value("ota", true)) << rollout.dump();
  auto prod = h_.models->Production("fan-ttf");
  ASSERT_TRUE(prod.ok()) << prod.status().ToString();
  EXPECT_EQ(prod->version, reg.value("version", int64_t{0}));
  Json params = Json::parse(prod->parameters_json);
  EXPECT_EQ(params.value("task", ""), "time_to_failure") << prod->parameters_json;
  EXPECT_EQ(params.value("horizon_h", 0.0), 6.0);
  Json metrics = Json::parse(prod->metrics_json);
  EXPECT_NEAR(metrics.value("holdout_mae", -1.0), mae, 1e-6) << prod->metrics_json;

  // A worse challenger (one shallow tree) is scored with the champion on the same held-out
  // devices and not promoted; the champion keeps serving.
  const std::string weak =
      WriteRecipe("weak.yaml", "task: time_to_failure\nhorizon_h: 6\ntrees: 1\nmax_depth: 1\n");
  r = Run(weak, "--param floor=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not_promoted"), std::string::npos) << r.output;
  Json eval2 = ReadJsonAt(RunFile(2, "evaluate.json"));
  EXPECT_FALSE(eval2.value("promoted", true)) << eval2.dump();
  EXPECT_EQ(eval2["holdout_devices"], eval["holdout_devices"]);
  EXPECT_NEAR(eval2["champion"].value("mae", -1.0), mae, 1e-6) << eval2.dump();
  EXPECT_NE(eval2.value("reason", "").find("worse than fan-ttf@1"), std::string::npos)
      << eval2.dump();
  EXPECT_EQ(h_.models->Production("fan-ttf")->version, prod->version);
}

}  // namespace
}  // namespace aiot::pipeline_test
