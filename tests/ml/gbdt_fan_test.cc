// Gradient-boosted trees on the reference data (fan.csv, the MLP's 33% stratified test split):
// aiot's runtime scores the held-out rows like XGBoost itself, and the model is as good as the
// reference MLP recipe.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ml/data/dataset.h"
#include "ml/data/random.h"
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

  // Binned thresholds (version 2, what BuildTreeGraph writes): the same decisions as the float
  // model (version 1) on every test row and on rows at, just below and just above each threshold,
  // NaN and +-inf; the binned kernel, the float-layout kernel and the reference agree bit for bit.
  const auto& options = (*model)->graph().ops[0].custom_options;
  ASSERT_EQ(TreeEnsembleVersion(options.data(), options.size()), kTreeEnsembleVersionBinned);
  auto v1 = WriteTflite(
      BuildTreeGraph(r->ensemble, ModelMetadata{}, /*regression=*/false, TreeEncoding::kFloat));
  ASSERT_TRUE(v1.ok());
  auto float_model = Model::FromBytes(*v1);
  ASSERT_TRUE(float_model.ok());
  std::printf("fan.csv gbdt: %zu nodes; operator options %zu bytes binned (v2), %zu float (v1)\n",
              r->ensemble.nodes.size(), options.size(),
              (*float_model)->graph().ops[0].custom_options.size());
  // Small enough that the interpreter picks the float-layout kernel by itself (PreferBinned).
  EXPECT_FALSE(kernels::PreferBinned(r->ensemble)) << r->ensemble.nodes.size() << " nodes";
  EXPECT_LT(options.size(), (*float_model)->graph().ops[0].custom_options.size());
  std::vector<float> rows = test.x;
  Rng rng(9);
  const auto tables = ThresholdTables(r->ensemble);
  for (int i = 0; i < 20000; ++i) {
    std::vector<float> row(test.x.begin() + (i % test.rows) * test.cols,
                           test.x.begin() + (i % test.rows + 1) * test.cols);
    for (size_t f = 0; f < test.cols; ++f) {
      if (tables[f].empty() || rng.Below(2) == 0) continue;
      const float t = tables[f][rng.Below(tables[f].size())];
      const uint64_t k = rng.Below(8);
      row[f] = k < 3   ? t
               : k < 5 ? std::nextafter(t, -INFINITY)
               : k < 7 ? std::nextafter(t, INFINITY)
                       : (rng.Below(2) ? std::nanf("") : INFINITY);
    }
    rows.insert(rows.end(), row.begin(), row.end());
  }
  const size_t n = rows.size() / test.cols;
  std::vector<float> binned(n), as_float(n), reference(n);
  auto binned_scorer =
      Scorer::Create(*model, {.max_batch = 256, .tree_kernel = TreeKernel::kBinned});
  auto float_scorer =
      Scorer::Create(*float_model, {.max_batch = 256, .tree_kernel = TreeKernel::kFloat});
  auto ref_scorer = Scorer::Create(*float_model, {.max_batch = 256, .reference_kernels = true});
  ASSERT_TRUE(binned_scorer.ok() && float_scorer.ok() && ref_scorer.ok());
  (*binned_scorer)->ScoreBatch(rows.data(), n, binned.data());
  (*float_scorer)->ScoreBatch(rows.data(), n, as_float.data());
  (*ref_scorer)->ScoreBatch(rows.data(), n, reference.data());
  EXPECT_EQ(std::memcmp(binned.data(), reference.data(), n * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(as_float.data(), reference.data(), n * sizeof(float)), 0);
  for (size_t i = 0; i < n; i += 97) {  // one row at a time too (the predictor's path)
    ASSERT_EQ((*binned_scorer)->Score(rows.data() + i * test.cols), reference[i]) << i;
  }
}

// A tree model written before binned thresholds existed (the fuzz corpus' gbdt_float.tflite,
// version 1) still loads, and both kernels score it alike.
TEST(GbdtFanTest, VersionOneModelFileStillLoads) {
  const std::string path = testing::SourceDir() + "/src/ml/fuzz_corpus/tflite/gbdt_float.tflite";
  auto model = Model::FromFile(path);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const auto& options = (*model)->graph().ops[0].custom_options;
  ASSERT_EQ(TreeEnsembleVersion(options.data(), options.size()), kTreeEnsembleVersionFloat);
  auto ref = Scorer::Create(*model, {.max_batch = 64, .reference_kernels = true});
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  Rng rng(4);
  std::vector<float> x(64 * static_cast<size_t>((*ref)->num_features()));
  for (float& v : x) v = static_cast<float>(rng.Uniform(0, 1000));
  std::vector<float> b(64);
  (*ref)->ScoreBatch(x.data(), 64, b.data());
  for (TreeKernel k : {TreeKernel::kAuto, TreeKernel::kFloat, TreeKernel::kBinned}) {
    auto fast = Scorer::Create(*model, {.max_batch = 64, .tree_kernel = k});
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    std::vector<float> a(64);
    (*fast)->ScoreBatch(x.data(), 64, a.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * 64), 0) << static_cast<int>(k);
  }
}

}  // namespace
}  // namespace aiot::ml
