// The pipeline retrains the time-to-failure model (issue 17): `aiot pipeline run` with a
// `task: time_to_failure` recipe on simulated history (`aiot simulate --history`, loaded into a
// real training datastore with its maintenance records) extracts the records along with the
// readings, trains on whole devices, evaluates MAE against the constant predictor and the
// champion on the same held-out devices, registers with the task in the lineage and promotes
// without an OTA rollout (the predictor serves it, not the devices).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.h"
#include "ml/data/csv.h"
#include "ml/data/ttf.h"
#include "net/http_client.h"
#include "tests/app/up_harness.h"
#include "tests/platform/platform_harness.h"
#include "tests/support/run.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot::pipeline_test {
namespace {

using Json = nlohmann::json;
using platform_test::kAdminToken;
using platform_test::PlatformHarness;
using test_support::RunResult;
using test_support::WaitFor;
using namespace std::chrono_literals;

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

// `aiot simulate --history`: 30 fans, a reading every 120 s each, failures and repairs as
// maintenance records, into `ds` shifted in time to end an hour ago (extract's window ends now).
// Returns the number of failures (0 after a failed assertion).
int FillSimulatedHistory(datastore::TrainingDatastore& ds, const std::string& dir) {
  const std::string history = dir + "/history.csv", records = dir + "/records.csv";
  RunResult r = test_support::RunCommand(AIOT_BIN
                                         " simulate --history 30000 --devices 30 "
                                         "--interval 120 --seed 5 --out " +
                                         history + " --maintenance-out " + records);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto table = ml::ReadCsvFile(history);
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  if (!table.ok()) return 0;
  const int dev = table->Column("deviceID"), ts = table->Column("timeStamp");
  std::vector<int> cols;
  for (const char* f : {"rotation", "temperature", "vibration", "sound"}) {
    cols.push_back(table->Column(f));
  }
  if (dev < 0 || ts < 0 || *std::min_element(cols.begin(), cols.end()) < 0) {
    ADD_FAILURE() << "unexpected history columns";
    return 0;
  }
  std::vector<datastore::TelemetryRow> rows;
  int64_t last = 0;
  for (const auto& row : table->rows) {
    int64_t t = 0;
    if (!ParseTimestamp(row[ts], &t)) {
      ADD_FAILURE() << "not a time: " << row[ts];
      return 0;
    }
    last = std::max(last, t);
    datastore::TelemetryRow tr{t, row[dev], {}};
    for (int c : cols) tr.values.push_back(std::stod(row[c]));
    rows.push_back(std::move(tr));
  }
  const int64_t shift = NowNanos() - 3600LL * 1'000'000'000 - last;
  for (auto& row : rows) row.ts += shift;
  EXPECT_TRUE(ds.Append(rows).ok());
  auto events = ml::ReadMaintenanceRecords(records);
  EXPECT_TRUE(events.ok()) << events.status().ToString();
  if (!events.ok()) return 0;
  int failures = 0;
  for (const auto& e : *events) {
    using Kind = ml::MaintenanceEvent::Kind;
    datastore::MaintenanceRecord m;
    m.device = e.device;
    m.at = e.at + shift;
    m.kind = e.kind == Kind::kFailure  ? datastore::MaintenanceKind::kFailure
             : e.kind == Kind::kRepair ? datastore::MaintenanceKind::kRepair
                                       : datastore::MaintenanceKind::kInspection;
    failures += e.kind == Kind::kFailure;
    EXPECT_TRUE(ds.AddMaintenance(m).ok());
  }
  EXPECT_GE(failures, 10) << "the history must hold failures to learn from";
  return failures;
}

constexpr const char* kTtfRecipe =
    "# hours to the next failure, capped at 6\n"
    "task: time_to_failure\nhorizon_h: 6\ntrees: 200\nmax_depth: 4\nlearning_rate: 0.1\n";

class PipelineTtfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Start());
    failures_ = FillSimulatedHistory(*h_.datastore, h_.data_dir());
    ASSERT_GE(failures_, 10);
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
  int failures_ = 0;
};

TEST_F(PipelineTtfTest, RunRegistersATimeToFailureModelThatBeatsTheConstantPredictor) {
  const std::string recipe = WriteRecipe("ttf.yaml", kTtfRecipe);
  RunResult r = Run(recipe);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunResult show =
      AiotAt("--set registry.data_dir=" + h_.data_dir() + " pipeline show 1 --json", h_.url());
  ASSERT_EQ(show.exit_code, 0) << show.output;
  Json run = Json::parse(show.output, nullptr, false);
  EXPECT_EQ(run.value("status", ""), "succeeded") << show.output;
  EXPECT_EQ(run.value("decision", ""), "completed") << show.output;
  std::printf("pipeline time to failure: one run, extract to rollout, %.1f s\n",
              run.value("duration_ms", 0.0) / 1000);

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

// In `aiot up` (the real binary, a child process): the embedded runner retrains `fan-ttf` with
// a time_to_failure recipe; its promotion reaches the predictor as a model event
// (`ttf_model_name`), which serves it beside the fault model; after a restart `aiot up` serves
// the production version from the start.
std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(PipelineTtfUpTest, ThePredictorServesThePromotedTimeToFailureModel) {
  test_support::TempDir dir("aiot-pipeline-ttf-up");
  const uint16_t http_port = test_support::FreePort(), mqtt_port = test_support::FreePort();
  const std::string var = dir.path() + "/var", config = dir.File("aiot.yaml");
  const std::string recipe = dir.File("ttf.yaml");
  std::ofstream(recipe) << kTtfRecipe;
  std::ofstream(config) << "http:\n  listen: 127.0.0.1:" << http_port
                        << "\nbroker:\n  listeners: [127.0.0.1:" << mqtt_port
                        << "]\nregistry:\n  data_dir: " << var
                        << "\n  password_iterations: 1000\nstore:\n  path: " << dir.path()
                        << "/telemetry.db\nbootstrap:\n  enabled: false\n"
                        << "dashboard:\n  enabled: false\nttf_model_name: fan-ttf\n"
                        << "pipeline:\n  enabled: true\n  model: fan-ttf\n  kill_grace_ms: 500\n"
                        << "  params: {recipe: " << recipe << ", window: 3d}\n"
                        << "  triggers:\n    drift:\n      enabled: false\n";
  {
    datastore::TrainingDatastore ds(var, datastore::DatastoreConfig{});
    ASSERT_TRUE(ds.Open().ok());
    ASSERT_GE(FillSimulatedHistory(ds, dir.path()), 10);
  }
  auto start = [&](const std::string& log) {
    auto up = up_test::Child::Spawn({AIOT_BIN, "--config", config, "up", "--log-level", "info"},
                                    /*capture=*/false, log);
    EXPECT_GT(up.pid, 0);
    EXPECT_TRUE(
        WaitFor([&] { return ReadText(log).find("aiot is up") != std::string::npos; }, 180s, 100ms))
        << ReadText(log);
    return up;
  };
  const std::string log1 = dir.File("up1.log");
  up_test::Child up = start(log1);
  std::string token;
  std::getline(std::ifstream(var + "/admin.token"), token);
  ASSERT_FALSE(token.empty());
  net::HttpClient api("http://127.0.0.1:" + std::to_string(http_port), token);
  auto created =
      api.Call("POST", "/api/v1/pipelines/continuous-learning/runs", R"({"model":"fan-ttf"})");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ(created->status, 201) << created->body;
  const int64_t id = Json::parse(created->body).value("id", int64_t{0});
  Json run;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Get("/api/v1/pipelines/runs/" + std::to_string(id));
        if (!r.ok() || r->status != 200) return false;
        run = Json::parse(r->body, nullptr, false);
        const std::string st = run.value("status", "");
        return st != "queued" && st != "running";
      },
      300s, 200ms))
      << run.dump(2);
  ASSERT_EQ(run.value("status", ""), "succeeded") << run.dump(2) << ReadText(log1);
  EXPECT_EQ(run.value("decision", ""), "completed") << run.dump(2);
  // The promotion's model event reached the predictor, which put it in its time-to-failure slot.
  EXPECT_TRUE(WaitFor(
      [&] {
        return ReadText(log1).find("time-to-failure model fan-ttf@1 in service") !=
               std::string::npos;
      },
      60s, 100ms))
      << ReadText(log1);
  EXPECT_EQ(ReadText(log1).find("model fan-ttf@1 in service (was"), std::string::npos)
      << "the time-to-failure model must not replace the fault model";
  EXPECT_EQ(up.Stop(SIGTERM), 0);
  // Restarted, `aiot up` serves the production version from the start.
  const std::string log2 = dir.File("up2.log");
  up = start(log2);
  EXPECT_NE(ReadText(log2).find("in service beside the fault model"), std::string::npos)
      << ReadText(log2);
  EXPECT_EQ(ReadText(log2).find("no production time-to-failure model"), std::string::npos)
      << ReadText(log2);
  up.Stop(SIGTERM);
}

}  // namespace
}  // namespace aiot::pipeline_test
