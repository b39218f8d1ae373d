// TensorFlow's hello_world models (float and int8) load and run: y ~ sin(x).
#include <gtest/gtest.h>

#include <cmath>

#include "ml/runtime/model.h"
#include "tests/ml/test_data.h"

namespace aiot::ml {
namespace {

class HelloWorld : public ::testing::TestWithParam<const char*> {};

TEST_P(HelloWorld, ApproximatesSine) {
  const std::string path = testing::SharedData(std::string("tflite/") + GetParam());
  if (path.empty()) GTEST_SKIP() << "../shared/data/tflite/" << GetParam() << " not found";
  std::string err;
  auto model = Model::FromFile(path, &err);
  ASSERT_TRUE(model.ok()) << err;
  EXPECT_FALSE((*model)->has_metadata());
  auto opt = Scorer::Create(*model, ScorerOptions{64, false}, &err);
  auto ref = Scorer::Create(*model, ScorerOptions{64, true}, &err);
  ASSERT_TRUE(opt.ok() && ref.ok()) << err;
  EXPECT_EQ((*opt)->num_features(), 1);
  double max_err = 0, sum_err = 0;
  const int n = 64;
  std::vector<float> xs(n), batch(n);
  for (int i = 0; i < n; ++i) xs[i] = static_cast<float>(2 * M_PI * i / (n - 1));
  (*opt)->ScoreBatch(xs.data(), n, batch.data());
  for (int i = 0; i < n; ++i) {
    const float y = (*opt)->Score(&xs[i]);
    const float y_ref = (*ref)->Score(&xs[i]);
    EXPECT_EQ(y, batch[i]);
    if (std::string(GetParam()).find("int8") != std::string::npos) {
      EXPECT_EQ(y, y_ref) << "int8 optimized and reference kernels must agree exactly";
    } else {
      EXPECT_NEAR(y, y_ref, 1e-5);
    }
    const double e = std::abs(y - std::sin(xs[i]));
    max_err = std::max(max_err, e);
    sum_err += e;
  }
  EXPECT_LT(max_err, 0.12);
  EXPECT_LT(sum_err / n, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Models, HelloWorld,
                         ::testing::Values("hello_world_float.tflite", "hello_world_int8.tflite"));

}  // namespace
}  // namespace aiot::ml
