#include "ml/train/mlp.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ml/data/random.h"
#include "ml/train/metrics.h"

namespace aiot::ml {
namespace {

// Two classes separated by a circle, with features on very different scales.
Dataset Circle(size_t n, uint64_t seed) {
  Dataset d;
  d.feature_names = {"u", "v"};
  d.class_names = {"0", "1"};
  d.cols = 2;
  d.rows = n;
  Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    double u = rng.Uniform(-1, 1), v = rng.Uniform(-1, 1);
    d.x.push_back(static_cast<float>(1000 + 500 * u));
    d.x.push_back(static_cast<float>(0.01 * v));
    d.y.push_back(u * u + v * v < 0.5 ? 1 : 0);
  }
  return d;
}

TEST(MlpTest, LearnsANonLinearBoundary) {
  Dataset d = Circle(2000, 1);
  TrainConfig cfg;
  cfg.hidden = {16, 8};
  cfg.epochs = 60;
  cfg.seed = 3;
  auto r = Train(d, cfg, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Dataset test = d.Subset(r->split.test);
  auto report = Evaluate(r->model.PredictAll(test), test.y, 2);
  EXPECT_GT(report.accuracy, 0.95) << ToJson(report);
  EXPECT_EQ(r->history.size(), 60u);
  EXPECT_LT(r->history.back().loss, r->history.front().loss);
}

TEST(MlpTest, SameSeedGivesBitIdenticalWeights) {
  Dataset d = Circle(500, 2);
  TrainConfig cfg;
  cfg.hidden = {8};
  cfg.epochs = 5;
  cfg.seed = 11;
  auto a = Train(d, cfg);
  auto b = Train(d, cfg);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->model.layers.size(), b->model.layers.size());
  for (size_t l = 0; l < a->model.layers.size(); ++l) {
    EXPECT_EQ(a->model.layers[l].weights, b->model.layers[l].weights);
    EXPECT_EQ(a->model.layers[l].bias, b->model.layers[l].bias);
  }
  cfg.seed = 12;
  auto c = Train(d, cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->model.layers[0].weights, c->model.layers[0].weights);
}

TEST(MlpTest, LogisticRegressionAndEarlyStopping) {
  Dataset d = Circle(600, 4);
  // Linear boundary with 10% of labels flipped, so the validation loss stops improving.
  Rng noise(9);
  for (size_t i = 0; i < d.rows; ++i) {
    d.y[i] = (d.x[2 * i] > 1000) != (noise.Uniform() < 0.1) ? 1 : 0;
  }
  TrainConfig cfg;
  cfg.hidden = {};
  cfg.epochs = 200;
  cfg.learning_rate = 0.05;
  cfg.patience = 3;
  auto r = Train(d, cfg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model.layers.size(), 1u);
  EXPECT_LT(r->history.size(), 200u);  // stopped early
  Dataset test = d.Subset(r->split.test);
  EXPECT_GT(Evaluate(r->model.PredictAll(test), test.y, 2).accuracy, 0.82);
}

TEST(MlpTest, SoftmaxForThreeClasses) {
  Dataset d;
  d.cols = 1;
  d.feature_names = {"t"};
  d.class_names = {"a", "b", "c"};
  Rng rng(5);
  for (int i = 0; i < 900; ++i) {
    double t = rng.Uniform(0, 3);
    d.x.push_back(static_cast<float>(t));
    d.y.push_back(static_cast<int32_t>(t));
  }
  d.rows = 900;
  TrainConfig cfg;
  cfg.hidden = {16};
  cfg.epochs = 80;
  auto r = Train(d, cfg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model.output, OutputKind::kSoftmax);
  EXPECT_EQ(r->model.num_outputs(), 3);
  Dataset test = d.Subset(r->split.test);
  EXPECT_GT(Evaluate(r->model.PredictAll(test), test.y, 3).accuracy, 0.9);
}

TEST(MlpTest, RejectsBadConfig) {
  Dataset d = Circle(50, 1);
  TrainConfig cfg;
  cfg.epochs = 0;
  auto r = Train(d, cfg, {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "epochs, batch size and learning rate must be positive");
}

}  // namespace
}  // namespace aiot::ml
