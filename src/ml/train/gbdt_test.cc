#include "ml/train/gbdt.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "base/errc.h"
#include "ml/data/random.h"
#include "ml/runtime/model.h"
#include "ml/tflite/graph.h"
#include "ml/train/export.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"

namespace aiot::ml {
namespace {

// Synthetic machine data: 5 features, a non-linear fault rule with noise, about 20% faults.
Dataset Synthetic(uint64_t seed, size_t rows) {
  Rng rng(seed);
  Dataset d;
  d.feature_names = {"a", "b", "c", "d", "e"};
  d.class_names = {"0", "1"};
  d.label_name = "y";
  d.rows = rows;
  d.cols = 5;
  for (size_t r = 0; r < rows; ++r) {
    float v[5];
    for (float& x : v) x = static_cast<float>(rng.Uniform(-2, 2));
    v[4] = static_cast<float>(std::round(v[4] * 4) / 4);  // a coarse feature: ties on splits
    d.x.insert(d.x.end(), v, v + 5);
    const double s = v[0] * v[1] + (v[2] > 0.5 ? 1.2 : 0) - 0.3 * v[3] + rng.Uniform(-0.6, 0.6);
    d.y.push_back(s > 1.0 ? 1 : 0);
  }
  return d;
}

// aiot's runtime on a tree model file: the scores of `x` (rows x cols).
std::vector<float> AiotScores(const TreeEnsemble& e, const float* x, size_t rows,
                              TreeKernel kernel = TreeKernel::kAuto) {
  auto bytes = WriteTflite(BuildTreeGraph(e, ModelMetadata{}));
  EXPECT_TRUE(bytes.ok());
  auto model = Model::FromBytes(*bytes);
  EXPECT_TRUE(model.ok());
  auto scorer = Scorer::Create(*model, {.max_batch = 256, .tree_kernel = kernel});
  EXPECT_TRUE(scorer.ok()) << scorer.status().ToString();
  std::vector<float> out(rows);
  (*scorer)->ScoreBatch(x, rows, out.data());
  return out;
}

// aiot's probabilities within 1e-6 of XGBoost's, its margins within float rounding; returns how
// many margins are bit-identical.
size_t ExpectSameAsXgboost(const std::vector<uint8_t>& booster, const TreeEnsemble& e,
                           const float* x, size_t rows, size_t cols) {
  auto want = XgboostPredict(booster, x, rows, cols);
  auto want_margin = XgboostPredict(booster, x, rows, cols, /*margin=*/true);
  EXPECT_TRUE(want.ok()) << want.status().ToString();
  EXPECT_TRUE(want_margin.ok()) << want_margin.status().ToString();
  const std::vector<float> got = AiotScores(e, x, rows);
  std::vector<float> margin(rows);
  kernels::TreeEnsembleRef(e, x, static_cast<int>(rows), margin.data());
  size_t exact = 0;
  for (size_t r = 0; r < rows; ++r) {
    EXPECT_NEAR(got[r], (*want)[r], 1e-6) << "row " << r;
    EXPECT_NEAR(margin[r], (*want_margin)[r], 1e-5 * (1 + std::abs(margin[r]))) << "row " << r;
    exact += margin[r] == (*want_margin)[r];
  }
  return exact;
}

TEST(GbdtTest, TrainedTreesScoreLikeXgboost) {
  const Dataset data = Synthetic(1, 4000);
  GbdtConfig cfg;
  cfg.trees = 120;
  cfg.max_depth = 5;
  cfg.threads = 1;
  auto r = TrainGbdt(data, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->best_round, 1);
  EXPECT_EQ(static_cast<int>(r->ensemble.num_trees()), r->best_round);
  EXPECT_LE(r->history.size(), 120u);
  const Dataset test = data.Subset(r->split.test);
  const size_t exact = ExpectSameAsXgboost(r->booster, r->ensemble, test.x.data(), test.rows, 5);
  std::printf("%zu trees, %zu/%zu margins bit-identical with XGBoost\n", r->ensemble.num_trees(),
              exact, test.rows);
  const EvalReport rep = Evaluate(AiotScores(r->ensemble, test.x.data(), test.rows), test.y, 2);
  EXPECT_GT(rep.roc_auc, 0.9);
  // Deterministic: the same data, settings and seed give the same trees.
  auto again = TrainGbdt(data, cfg);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(EncodeTreeEnsemble(again->ensemble), EncodeTreeEnsemble(r->ensemble));
}

// Leaf-wise trees (grow_policy lossguide, no depth limit, at most 31 leaves: scikit-learn HGB's
// shape) and boosted forests (num_parallel_tree) convert and score like XGBoost: lopsided trees
// deeper than the depthwise default, several trees per round.
TEST(GbdtTest, LossguideAndParallelTreesScoreLikeXgboost) {
  const Dataset data = Synthetic(7, 4000);
  GbdtConfig cfg;
  cfg.trees = 60;
  cfg.max_depth = 0;
  cfg.grow_policy = "lossguide";
  cfg.max_leaves = 31;
  cfg.min_child_weight = 1;
  cfg.threads = 1;
  auto r = TrainGbdt(data, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TreeEnsemble& e = r->ensemble;
  int deepest = 0;
  size_t most_leaves = 0;
  for (size_t t = 0; t < e.num_trees(); ++t) {
    const size_t begin = e.tree_offsets[t];
    const size_t end = begin + e.TreeSize(t);  // children are relative to `begin`
    std::vector<int> depth(end - begin, 0);
    size_t leaves = 0;
    for (size_t n = begin; n < end; ++n) {
      const TreeNode& nd = e.nodes[n];
      if (nd.is_leaf()) {
        ++leaves;
        deepest = std::max(deepest, depth[n - begin]);
      } else {
        depth[static_cast<size_t>(nd.left)] = depth[static_cast<size_t>(nd.right)] =
            depth[n - begin] + 1;
      }
    }
    most_leaves = std::max(most_leaves, leaves);
  }
  EXPECT_LE(most_leaves, 31u);
  EXPECT_GT(deepest, 6) << "leaf-wise trees should grow deeper than the depthwise default";
  const Dataset test = data.Subset(r->split.test);
  ExpectSameAsXgboost(r->booster, e, test.x.data(), test.rows, 5);
  // Both optimised kernels take these shapes, bit-exact with each other.
  const std::vector<float> binned = AiotScores(e, test.x.data(), test.rows, TreeKernel::kBinned);
  EXPECT_EQ(binned, AiotScores(e, test.x.data(), test.rows, TreeKernel::kFloat));

  GbdtConfig forest;
  forest.trees = 40;
  forest.parallel_trees = 3;
  forest.subsample = 0.8;
  forest.threads = 1;
  auto f = TrainGbdt(data, forest);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->ensemble.num_trees(), 3u * static_cast<size_t>(f->best_round));
  ExpectSameAsXgboost(f->booster, f->ensemble, test.x.data(), test.rows, 5);
  EXPECT_EQ(AiotScores(f->ensemble, test.x.data(), test.rows, TreeKernel::kBinned),
            AiotScores(f->ensemble, test.x.data(), test.rows, TreeKernel::kFloat));

  for (auto [depth, policy, leaves] :
       {std::tuple{0, "depthwise", 31}, std::tuple{0, "lossguide", 0},
        std::tuple{0, "lossguide", 66}, std::tuple{6, "leafwise", 0}}) {
    GbdtConfig bad;
    bad.max_depth = depth;
    bad.grow_policy = policy;
    bad.max_leaves = leaves;
    auto b = TrainGbdt(data, bad);
    ASSERT_FALSE(b.ok()) << depth << " " << policy << " " << leaves;
    EXPECT_EQ(b.error(), errc::invalid_argument);
  }
}

// Regression (the time-to-failure models): XGBoost's squared-error trees from the training mean,
// exported without LOGISTIC; aiot's graph outputs equal XGBoost's predictions, and the split keeps
// each group (device) on one side.
TEST(GbdtTest, RegressionScoresLikeXgboostAndHoldsOutWholeGroups) {
  Dataset data = Synthetic(3, 3000);
  data.class_names.clear();
  data.y.clear();
  for (size_t r = 0; r < data.rows; ++r) {
    const float* v = data.Row(r);
    data.target.push_back(10.0f + 3.0f * v[0] * v[1] - 2.0f * v[2] + (v[3] > 0 ? 4.0f : 0.0f));
    data.group.push_back(static_cast<int32_t>(r % 20));
  }
  GbdtConfig cfg;
  cfg.trees = 150;
  cfg.max_depth = 4;
  cfg.threads = 1;
  auto r = TrainGbdt(data, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::set<int32_t> train_groups;
  for (size_t i : r->split.train) train_groups.insert(data.group[i]);
  for (size_t i : r->split.test) EXPECT_FALSE(train_groups.count(data.group[i])) << i;
  const Dataset test = data.Subset(r->split.test);
  auto want = XgboostPredict(r->booster, test.x.data(), test.rows, test.cols);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto bytes = WriteTflite(BuildTreeGraph(r->ensemble, ModelMetadata{}, /*regression=*/true));
  ASSERT_TRUE(bytes.ok());
  auto got = ScoreRows(*bytes, test);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  double mean = 0;
  for (size_t i : r->split.train) mean += data.target[i];
  mean /= static_cast<double>(r->split.train.size());
  for (size_t i = 0; i < test.rows; ++i) {
    EXPECT_NEAR((*got)[i], (*want)[i], 1e-4 * (1 + std::abs((*want)[i]))) << "row " << i;
  }
  const RegressionReport rep = EvaluateRegression(*got, test.target, mean);
  EXPECT_LT(rep.mae, 0.3 * rep.baseline_mae) << rep.mae << " vs " << rep.baseline_mae;
  EXPECT_GT(rep.r2, 0.8);
}

// Early stopping keeps the best round's trees; the booster saved is sliced to the same rounds.
TEST(GbdtTest, EarlyStoppingKeepsTheBestRound) {
  const Dataset data = Synthetic(2, 1500);
  GbdtConfig cfg;
  cfg.trees = 400;
  cfg.learning_rate = 0.5;
  cfg.max_depth = 8;
  cfg.min_child_weight = 0;
  cfg.early_stopping_rounds = 5;
  cfg.threads = 1;
  auto r = TrainGbdt(data, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(r->history.size(), 400u);
  EXPECT_EQ(r->history.size(), static_cast<size_t>(r->best_round + 5));
  double best = 1e9;
  int best_round = 0;
  for (const auto& h : r->history) {
    if (h.val_loss < best) best = h.val_loss, best_round = h.epoch;
  }
  EXPECT_EQ(r->best_round, best_round);
  EXPECT_EQ(static_cast<int>(r->ensemble.num_trees()), r->best_round);
  const Dataset test = data.Subset(r->split.test);
  ExpectSameAsXgboost(r->booster, r->ensemble, test.x.data(), test.rows, 5);
}

// A model trained directly with XGBoost's C API on data with missing values and a base score of
// 0.3, read from both of its formats (UBJSON and JSON text).
TEST(GbdtTest, ImportsXgboostModelsWithMissingValuesAndBaseScore) {
  Dataset data = Synthetic(3, 2000);
  Rng rng(4);
  for (float& v : data.x) {
    if (rng.Below(12) == 0) v = std::nanf("");
  }
  std::vector<float> labels(data.y.begin(), data.y.end());
  DMatrixHandle dm = nullptr;
  ASSERT_EQ(XGDMatrixCreateFromMat(data.x.data(), data.rows, 5, std::nanf(""), &dm), 0);
  std::unique_ptr<void, int (*)(void*)> dm_free(dm, XGDMatrixFree);
  ASSERT_EQ(XGDMatrixSetFloatInfo(dm, "label", labels.data(), labels.size()), 0);
  BoosterHandle b = nullptr;
  ASSERT_EQ(XGBoosterCreate(&dm, 1, &b), 0);
  std::unique_ptr<void, int (*)(void*)> b_free(b, XGBoosterFree);
  for (auto [k, v] : {std::pair{"objective", "binary:logistic"},
                      {"tree_method", "hist"},
                      {"base_score", "0.3"},
                      {"max_depth", "4"},
                      {"nthread", "1"},
                      {"verbosity", "0"}}) {
    ASSERT_EQ(XGBoosterSetParam(b, k, v), 0);
  }
  for (int i = 0; i < 30; ++i) ASSERT_EQ(XGBoosterUpdateOneIter(b, i, dm), 0);
  for (const char* format : {"ubj", "json"}) {
    bst_ulong len = 0;
    const char* buf = nullptr;
    const std::string config = std::string("{\"format\":\"") + format + "\"}";
    ASSERT_EQ(XGBoosterSaveModelToBuffer(b, config.c_str(), &len, &buf), 0);
    const std::vector<uint8_t> saved(buf, buf + len);
    auto e = TreeEnsembleFromXgboost(saved, std::string(format) == "ubj");
    ASSERT_TRUE(e.ok()) << format << ": " << e.status().ToString();
    EXPECT_EQ(e->num_trees(), 30u);
    EXPECT_FLOAT_EQ(e->base_score, std::log(0.3f / 0.7f));
    size_t missing_left = 0;
    for (const TreeNode& nd : e->nodes) missing_left += !nd.is_leaf() && nd.default_left;
    EXPECT_GT(missing_left, 0u) << "the data's missing values should steer some splits";
    ExpectSameAsXgboost(saved, *e, data.x.data(), data.rows, 5);
  }
}

TEST(GbdtTest, RefusesWhatItCannotConvertOrTrain) {
  EXPECT_EQ(TreeEnsembleFromXgboost({1, 2, 3}).error(), errc::corrupted);
  const std::string text = R"({"learner":{"learner_model_param":{"base_score":"5E-1",
      "num_class":"0","num_feature":"2","num_target":"1"},"objective":{"name":"rank:pairwise"},
      "gradient_booster":{"name":"gbtree","model":{"trees":[]}}}})";
  auto rank = TreeEnsembleFromXgboost(std::vector<uint8_t>(text.begin(), text.end()), false);
  ASSERT_FALSE(rank.ok());
  EXPECT_EQ(rank.error(), errc::unsupported);
  EXPECT_NE(rank.status().message().find("rank:pairwise"), std::string::npos);
  Dataset three = Synthetic(5, 100);
  three.class_names.push_back("2");
  EXPECT_EQ(TrainGbdt(three, {}).error(), errc::unsupported);
  GbdtConfig bad;
  bad.max_depth = 0;
  auto r = TrainGbdt(Synthetic(5, 100), bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("max depth"), std::string::npos);
}

// The default min_child_weight depends on the objective: 10 for classification (chosen by
// cross-validation, BENCHMARKS.md), 1 for regression (the time-to-failure models). The default
// trains exactly the trees of the explicit value, and differs from the other one.
TEST(GbdtTest, MinChildWeightDefaultsByObjective) {
  auto margins = [](const Dataset& data, double mcw) {
    GbdtConfig cfg;
    cfg.trees = 40;
    cfg.threads = 1;
    cfg.min_child_weight = mcw;
    auto r = TrainGbdt(data, cfg);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<float> m(data.rows);
    if (r.ok())
      kernels::TreeEnsembleRef(r->ensemble, data.x.data(), static_cast<int>(data.rows), m.data());
    return m;
  };
  EXPECT_EQ(GbdtConfig{}.min_child_weight, kMinChildWeightByObjective);
  const Dataset cls = Synthetic(11, 3000);
  EXPECT_EQ(margins(cls, kMinChildWeightByObjective), margins(cls, kClassifierMinChildWeight));
  EXPECT_NE(margins(cls, kMinChildWeightByObjective), margins(cls, 1));
  Dataset reg = Synthetic(12, 3000);
  reg.class_names.clear();
  reg.y.clear();
  for (size_t r = 0; r < reg.rows; ++r) {
    const float* v = reg.Row(r);
    reg.target.push_back(10.0f + 3.0f * v[0] * v[1] - 2.0f * v[2]);
  }
  EXPECT_EQ(margins(reg, kMinChildWeightByObjective), margins(reg, 1));
  EXPECT_NE(margins(reg, kMinChildWeightByObjective), margins(reg, kClassifierMinChildWeight));
  GbdtConfig bad;
  bad.min_child_weight = -2;
  auto r = TrainGbdt(cls, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("min child weight"), std::string::npos);
}

// `aiot train --model gbdt`'s path: the exported file scores the test split as the report says.
TEST(GbdtTest, TrainAndExportWritesARunnableTreeModel) {
  const Dataset data = Synthetic(6, 3000);
  TrainJob job;
  job.family = ModelFamily::kGbdt;
  job.gbdt.trees = 60;
  job.gbdt.threads = 1;
  job.gbdt.balanced = true;
  job.name = "synthetic-gbdt";
  auto out = TrainAndExport(data, job);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  double pos = 0;
  for (size_t row : out->result.split.train) pos += data.y[row];
  EXPECT_DOUBLE_EQ(out->scale_pos_weight, (out->result.split.train.size() - pos) / pos);
  EXPECT_GT(out->scale_pos_weight, 1.5);
  EXPECT_NE(out->ToJson().find("\"family\":\"gbdt\""), std::string::npos);
  auto eval = EvaluateModel(out->float_model, data.Subset(out->result.split.test), 0.5);
  ASSERT_TRUE(eval.ok()) << eval.status().ToString();
  EXPECT_EQ(eval->f1, out->test.f1);
  EXPECT_GT(out->test.roc_auc, 0.9);
  auto model = Model::FromBytes(out->float_model);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->metadata().name, "synthetic-gbdt");
  EXPECT_EQ((*model)->metadata().feature_names().size(), 5u);
  job.int8 = true;
  EXPECT_EQ(TrainAndExport(data, job).error(), errc::unsupported);
}

// The tree operator's custom_options version in a .tflite file (0 when it has none).
uint16_t TreeOptionsVersion(const std::vector<uint8_t>& tflite) {
  auto g = ReadTflite(tflite.data(), tflite.size());
  if (!g.ok()) return 0;
  for (const OpSpec& op : g->ops) {
    if (op.custom_code == kTreeEnsembleOp) {
      return TreeEnsembleVersion(op.custom_options.data(), op.custom_options.size());
    }
  }
  return 0;
}

// --tree-thresholds float (TrainJob::tree_encoding) writes options version 1 for older readers;
// the default writes version 2; the two files give the very same scores.
TEST(GbdtTest, TreeThresholdsFloatWritesVersionOneWithTheSameScores) {
  const Dataset data = Synthetic(8, 2000);
  TrainJob job;
  job.family = ModelFamily::kGbdt;
  job.gbdt.trees = 40;
  job.gbdt.threads = 1;
  auto binned = TrainAndExport(data, job);
  ASSERT_TRUE(binned.ok()) << binned.status().ToString();
  job.tree_encoding = TreeEncoding::kFloat;
  auto flt = TrainAndExport(data, job);
  ASSERT_TRUE(flt.ok()) << flt.status().ToString();
  EXPECT_EQ(TreeOptionsVersion(binned->float_model), kTreeEnsembleVersionBinned);
  EXPECT_EQ(TreeOptionsVersion(flt->float_model), 1);
  EXPECT_LT(binned->float_model.size(), flt->float_model.size());
  auto a = ScoreRows(binned->float_model, data);
  auto b = ScoreRows(flt->float_model, data);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), data.rows);
  ASSERT_EQ(b->size(), data.rows);
  for (size_t i = 0; i < data.rows; ++i) {
    ASSERT_EQ(std::memcmp(&(*a)[i], &(*b)[i], sizeof(float)), 0) << "row " << i;
  }
  EXPECT_EQ(binned->test.f1, flt->test.f1);
  EXPECT_EQ(binned->test.roc_auc, flt->test.roc_auc);
}

}  // namespace
}  // namespace aiot::ml
