// Gradient-boosted trees on the reference data (fan.csv, the MLP's 33% stratified test split):
// aiot's runtime scores the held-out rows like XGBoost itself, and the model is as good as the
// reference MLP recipe.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"
#include "ml/train/gbdt.h"
#include "ml/train/metrics.h"
#include "tests/ml/test_data.h"

namespace aiot::ml {
namespace {

TEST(GbdtFanTest, HeldOutScoresEqualXgboostAndReachTheMlpsAccuracy) {
  auto data = testing::LoadFanCsv();
  if (!data.ok() && data.status().code() == errc::not_found)
    GTEST_SKIP() << data.status().message();
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  GbdtConfig cfg;  // defaults; the split is the MLP's (33% test, 10% validation, seed 42)
  cfg.threads = 1;
  auto r = TrainGbdt(*data, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Dataset test = data->Subset(r->split.test);
  ASSERT_EQ(test.rows, 6600u);

  auto bytes = WriteTflite(BuildTreeGraph(r->ensemble, ModelMetadata{}));
  ASSERT_TRUE(bytes.ok());
  auto model = Model::FromBytes(*bytes);
  ASSERT_TRUE(model.ok());
  auto fast = Scorer::Create(*model, {.max_batch = 256});
  auto ref = Scorer::Create(*model, {.max_batch = 256, .reference_kernels = true});
  ASSERT_TRUE(fast.ok() && ref.ok());
  std::vector<float> got(test.rows), got_ref(test.rows);
  (*fast)->ScoreBatch(test.x.data(), test.rows, got.data());
  (*ref)->ScoreBatch(test.x.data(), test.rows, got_ref.data());
  EXPECT_EQ(std::memcmp(got.data(), got_ref.data(), got.size() * sizeof(float)), 0);

  auto want = XgboostPredict(r->booster, test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  double worst = 0;
  for (size_t i = 0; i < test.rows; ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(got[i] - (*want)[i])));
  }
  EXPECT_LE(worst, 1e-6);
  const EvalReport rep = Evaluate(got, test.y, 2);
  std::printf(
      "fan.csv gbdt: %zu trees (best round %d of %zu), %.2f s, largest |aiot - xgboost| "
      "%.3g; test %s\n",
      r->ensemble.num_trees(), r->best_round, r->history.size(), r->seconds, worst,
      ToJson(rep).c_str());
  EXPECT_GE(rep.accuracy, 0.945);  // the reference MLP recipe's floor (fan_train_test.cc)
  EXPECT_GT(rep.roc_auc, 0.95);
}

}  // namespace
}  // namespace aiot::ml
