// A model trained on `aiot simulate --history` data catches simulated failures before they happen.
// Reports the median lead time (first critical alert -> failure) and the false-alarm rate on
// healthy machines; BENCHMARKS.md records the figures this prints.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/mlp.h"
#include "ml/train/pipeline.h"
#include "sim/history.h"

namespace aiot::sim {
namespace {

TEST(LeadTime, ModelTrainedOnHistoryCatchesFailuresBeforeTheyHappen) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aiot_lead_time_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string csv = (dir / "history.csv").string();

  HistoryConfig h;  // defaults: 6 h nominal time to failure, recurring faults
  h.rows = 20000;
  h.devices = 20;
  h.interval_s = 120;
  h.seed = 1;
  {
    std::ofstream out(csv);
    auto stats = WriteHistoryCsv(h, out);
    ASSERT_TRUE(stats.ok());
    std::printf("history: %llu rows, %llu labeled faulty, %llu failures\n",
                static_cast<unsigned long long>(stats->rows),
                static_cast<unsigned long long>(stats->faulty_rows),
                static_cast<unsigned long long>(stats->failures));
  }

  ml::DatasetSchema schema;
  schema.label = "faulty";
  schema.features = {"rotation", "temperature", "vibration", "sound"};
  auto data = ml::LoadDataset(csv, schema);
  ASSERT_TRUE(data.ok()) << data.status().ToString();

  // The reference architecture (60-30-10), fewer epochs to keep the test short; exported as the
  // int8 .tflite that devices run, and scored through the same runtime (ml::Scorer).
  ml::TrainJob job;
  job.train.epochs = 25;
  job.train.seed = 3;
  job.int8 = true;
  auto out = ml::TrainAndExport(*data, job, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto int8_model = ml::Model::FromBytes(out->int8_model);
  ASSERT_TRUE(int8_model.ok()) << int8_model.status().ToString();
  auto scorer = ml::Scorer::Create(*int8_model, {});
  ASSERT_TRUE(scorer.ok()) << scorer.status().ToString();
  const ml::Mlp& model = out->result.model;

  // Fresh machines (another seed) the model never saw; the alert rule of the alert tracker:
  // 3 consecutive readings scored >= 0.8.
  DetectionConfig dc;
  dc.faulty_devices = 30;
  dc.healthy_devices = 30;
  dc.interval_s = 120;
  dc.seed = 99;
  dc.critical = 0.8;
  dc.consecutive = 3;
  auto features = [](const Reading& r, float* x) {
    x[0] = static_cast<float>(r.rotation);
    x[1] = static_cast<float>(r.temperature);
    x[2] = static_cast<float>(r.vibration);
    x[3] = static_cast<float>(r.sound);
  };
  auto float_report = EvaluateDetection(dc, [&](const Reading& r) {
    float x[4], p = 0;
    features(r, x);
    model.Predict(x, &p);
    return static_cast<double>(p);
  });
  auto report = EvaluateDetection(dc, [&](const Reading& r) {
    float x[4];
    features(r, x);
    return static_cast<double>((*scorer)->Score(x));
  });
  for (const auto* rep : {&float_report, &report}) {
    std::printf(
        "lead time (%s): %u/%u failures caught before failing, median lead %.2f h (median "
        "onset->failure %.2f h); false alarms: %llu of %llu healthy readings critical (%.4f%%), "
        "%u of %u healthy machines alerted\n",
        rep == &report ? "int8 .tflite, as on the device" : "float", rep->caught, rep->failures,
        rep->median_lead_s / 3600, rep->median_time_to_failure_s / 3600,
        static_cast<unsigned long long>(rep->healthy_critical),
        static_cast<unsigned long long>(rep->healthy_readings), 100 * rep->false_alarm_rate(),
        rep->healthy_devices_alerted, rep->healthy_devices);
  }
  RecordProperty("median_lead_s", std::to_string(report.median_lead_s));
  RecordProperty("false_alarm_rate", std::to_string(report.false_alarm_rate()));
  EXPECT_GE(float_report.caught, float_report.failures * 9 / 10);

  EXPECT_EQ(report.failures, dc.faulty_devices);
  EXPECT_GE(report.caught, report.failures * 9 / 10);
  // Caught well before failure: at least a fifth of the fault's life left.
  EXPECT_GT(report.median_lead_s, 0.2 * report.median_time_to_failure_s);
  EXPECT_LT(report.false_alarm_rate(), 0.01);
  EXPECT_LE(report.healthy_devices_alerted, dc.healthy_devices / 10);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiot::sim
