// The reference recipe on the reference data: fan.csv, drop DeviceID and Time, 4 features,
// 60-30-10 ReLU + sigmoid, Adam, 250 epochs, batch 32, 33% test split.
#include <gtest/gtest.h>

#include "ml/data/dataset.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"
#include "tests/ml/test_data.h"

namespace aiot::ml {
namespace {

TEST(FanTrainTest, ReferenceRecipeReachesTargetAccuracy) {
  const std::string path = testing::SharedData("fan-pdm/fan.csv");
  if (path.empty()) GTEST_SKIP() << "../shared/data/fan-pdm/fan.csv not found";
  DatasetSchema schema;
  schema.label = "Faulty";
  schema.drop = {"DeviceID", "Time"};
  std::string err;
  auto data = LoadDataset(path, schema, &err);
  ASSERT_TRUE(data.ok()) << err;
  ASSERT_EQ(data->rows, 20000u);
  ASSERT_EQ(data->feature_names,
            (std::vector<std::string>{"Rotation", "Temperature", "Vibration", "Sound"}));
  TrainConfig cfg;  // defaults are the reference recipe
  auto r = Train(*data, cfg, {}, &err);
  ASSERT_TRUE(r.ok()) << err;
  Dataset test = data->Subset(r->split.test);
  EXPECT_EQ(test.rows, 6600u);
  auto report = Evaluate(r->model.PredictAll(test), test.y, 2);
  std::printf("fan.csv: %.2f s training, test %s\n", r->seconds, ToJson(report).c_str());
  EXPECT_GE(report.accuracy, 0.945) << ToJson(report);
  EXPECT_GT(report.roc_auc, 0.95);
}

}  // namespace
}  // namespace aiot::ml
