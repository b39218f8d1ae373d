// The reference recipe on the reference data: fan.csv, drop DeviceID and Time, 4 features,
// 60-30-10 ReLU + sigmoid, Adam, 250 epochs, batch 32, 33% test split; then the exported float
// model, the int8 model and the agreement between them.
#include <gtest/gtest.h>

#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"
#include "tests/ml/test_data.h"

namespace aiot::ml {
namespace {

TEST(FanTrainTest, ReferenceRecipeReachesTargetAccuracyFloatAndInt8) {
  auto data = testing::LoadFanCsv();
  if (!data.ok() && data.status().code() == errc::not_found)
    GTEST_SKIP() << data.status().message();
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->rows, 20000u);
  ASSERT_EQ(data->feature_names,
            (std::vector<std::string>{"Rotation", "Temperature", "Vibration", "Sound"}));
  TrainJob job;  // defaults are the reference recipe
  job.int8 = true;
  job.name = "fan-mlp";
  auto out = TrainAndExport(*data, job, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::printf("%s\n", out->ToJson().c_str());
  EXPECT_EQ(out->test.samples, 6600u);
  EXPECT_GE(out->test.accuracy, 0.945);
  EXPECT_GT(out->test.roc_auc, 0.95);
  EXPECT_LE(std::abs(out->test_int8.accuracy - out->test.accuracy), 0.005);
  EXPECT_GE(out->int8_agreement, 0.995);

  // The exported files carry the metadata a predictor needs.
  auto model = Model::FromBytes(out->int8_model);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const auto& md = (*model)->metadata();
  EXPECT_EQ(md.feature_names(), data->feature_names);
  EXPECT_EQ(md.quantization, "int8");
  EXPECT_EQ(md.training_data_sha256, data->sha256);
  EXPECT_EQ(md.training_data_sha256.size(), 64u);
  EXPECT_NEAR(md.Metric("test_accuracy", 0), out->test.accuracy, 1e-9);
  ASSERT_EQ(md.features.size(), 4u);
  EXPECT_EQ(md.features[0].psi_edges.size(), 9u);
  // A healthy and a clearly faulty reading, raw sensor units.
  auto scorer = Scorer::Create(*model);
  ASSERT_TRUE(scorer.ok());
  const float healthy[4] = {600, 40, 150, 48};
  const float faulty[4] = {450, 52, 240, 58};
  EXPECT_LT((*scorer)->Score(healthy), 0.5f);
  EXPECT_GT((*scorer)->Score(faulty), 0.9f);
}

}  // namespace
}  // namespace aiot::ml
