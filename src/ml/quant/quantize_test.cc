#include "ml/quant/quantize.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ml/data/random.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"
#include "ml/train/metrics.h"
#include "ml/train/mlp.h"

namespace aiot::ml {
namespace {

Dataset Blobs(size_t n, uint64_t seed) {
  Dataset d;
  d.feature_names = {"a", "b", "c"};
  d.class_names = {"0", "1"};
  d.cols = 3;
  d.rows = n;
  Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    const int y = rng.Uniform() < 0.5 ? 1 : 0;
    d.x.push_back(static_cast<float>(500 + 100 * rng.Uniform() + 30 * y));
    d.x.push_back(static_cast<float>(40 + 10 * rng.Uniform() + 4 * y));
    d.x.push_back(static_cast<float>(rng.Uniform()));
    d.y.push_back(y);
  }
  return d;
}

TEST(QuantizeTest, ChooseQuantParamsCoversZero) {
  float s;
  int32_t zp;
  ChooseQuantParams(0.f, 6.f, &s, &zp);
  EXPECT_NEAR(s, 6.f / 255, 1e-7);
  EXPECT_EQ(zp, -128);
  ChooseQuantParams(-1.f, 1.f, &s, &zp);
  EXPECT_EQ(zp, -1);                     // -128 + 127.5 = -0.5 rounds away from zero, as in TFLite
  ChooseQuantParams(2.f, 3.f, &s, &zp);  // widened to [0, 3]
  EXPECT_EQ(zp, -128);
}

class QuantizeModes : public ::testing::TestWithParam<bool> {};

TEST_P(QuantizeModes, Int8ModelAgreesWithFloat) {
  Dataset d = Blobs(3000, 1);
  TrainConfig cfg;
  cfg.hidden = {16, 8};
  cfg.epochs = 20;
  auto r = Train(d, cfg);
  ASSERT_TRUE(r.ok());
  GraphSpec fg = BuildFloatGraph(r->model, ModelMetadata{});
  Dataset train = d.Subset(r->split.train);
  QuantizeOptions qo;
  qo.per_channel = GetParam();
  auto qg = QuantizeGraph(fg, train.x.data(), train.rows, qo);
  ASSERT_TRUE(qg.ok()) << qg.status().ToString();
  auto fm = Model::FromBytes(*WriteTflite(fg));
  auto qm = Model::FromBytes(*WriteTflite(*qg));
  ASSERT_TRUE(fm.ok() && qm.ok());
  // The int8 model's FC weights are int8 and its biases int32.
  int int8_weights = 0;
  for (const auto& t : (*qm)->graph().tensors)
    int8_weights += t.is_constant() && t.type == TensorType::kInt8;
  EXPECT_EQ(int8_weights, 3);
  auto fs = Scorer::Create(*fm, {});
  auto qs = Scorer::Create(*qm, {});
  ASSERT_TRUE(fs.ok() && qs.ok());
  Dataset test = d.Subset(r->split.test);
  std::vector<float> f(test.rows), q(test.rows);
  (*fs)->ScoreBatch(test.x.data(), test.rows, f.data());
  (*qs)->ScoreBatch(test.x.data(), test.rows, q.data());
  size_t same = 0;
  double max_diff = 0;
  for (size_t i = 0; i < test.rows; ++i) {
    same += (f[i] >= 0.5f) == (q[i] >= 0.5f);
    max_diff = std::max(max_diff, static_cast<double>(std::abs(f[i] - q[i])));
  }
  EXPECT_GE(static_cast<double>(same) / test.rows, 0.99);
  EXPECT_LT(max_diff, 0.1);
  // Reference and optimized int8 kernels agree exactly through the whole model.
  auto qr = Scorer::Create(*qm, ScorerOptions{256, true});
  ASSERT_TRUE(qr.ok());
  std::vector<float> q_ref(test.rows);
  (*qr)->ScoreBatch(test.x.data(), test.rows, q_ref.data());
  EXPECT_EQ(q, q_ref);
}

INSTANTIATE_TEST_SUITE_P(PerTensorAndPerChannel, QuantizeModes, ::testing::Values(false, true));

TEST(QuantizeTest, RejectsAlreadyQuantized) {
  Dataset d = Blobs(200, 2);
  TrainConfig cfg;
  cfg.hidden = {4};
  cfg.epochs = 2;
  auto r = Train(d, cfg);
  ASSERT_TRUE(r.ok());
  GraphSpec fg = BuildFloatGraph(r->model, ModelMetadata{});
  auto qg = QuantizeGraph(fg, d.x.data(), d.rows);
  ASSERT_TRUE(qg.ok());
  auto again = QuantizeGraph(*qg, d.x.data(), d.rows, {});
  EXPECT_FALSE(again.ok());
  const std::string err = again.status().message();
  EXPECT_NE(err.find("already quantized"), std::string::npos) << err;
}

}  // namespace
}  // namespace aiot::ml
