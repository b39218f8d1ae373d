// TensorFlow's hello_world models (float and int8) load and run: y ~ sin(x).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ml/runtime/model.h"
#include "ml/tflite/schema_generated.h"
#include "tests/ml/test_data.h"

namespace aiot::ml {
namespace {

class HelloWorld : public ::testing::TestWithParam<const char*> {};

TEST_P(HelloWorld, ApproximatesSine) {
  const std::string path = testing::SharedData(std::string("tflite/") + GetParam());
  if (path.empty()) GTEST_SKIP() << "../shared/data/tflite/" << GetParam() << " not found";
  auto model = Model::FromFile(path);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_FALSE((*model)->has_metadata());
  auto opt = Scorer::Create(*model, ScorerOptions{64, false});
  auto ref = Scorer::Create(*model, ScorerOptions{64, true});
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
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

// TensorFlow's file with its FULLY_CONNECTED operator code rewritten in place (both the
// deprecated byte field and the int32 one, as TensorFlow writes both) to an op aiot does not run:
// preparing it fails with an error naming the op, not a crash or a generic message.
TEST(HelloWorldUnsupported, UnsupportedOpInATensorFlowFileIsNamed) {
  const std::string path = testing::SharedData("tflite/hello_world_float.tflite");
  if (path.empty()) GTEST_SKIP() << "../shared/data/tflite/hello_world_float.tflite not found";
  const std::vector<uint8_t> original = testing::ReadBytes(path);
  ASSERT_FALSE(original.empty());
  struct Case {
    int32_t code;
    const char* name;
  };
  for (const Case& c : {Case{3, "CONV_2D"}, Case{4, "DEPTHWISE_CONV_2D"}, Case{16, "LSTM"}}) {
    std::vector<uint8_t> bytes = original;
    const auto* model = tfl::GetModel(bytes.data());
    ASSERT_NE(model->operator_codes(), nullptr);
    int patched = 0;
    for (const tfl::OperatorCode* oc : *model->operator_codes()) {
      // Generated tables derive privately from flatbuffers::Table; the pointer is the table.
      const auto* table = reinterpret_cast<const flatbuffers::Table*>(oc);
      const uint8_t* dep = table->GetAddressOf(tfl::OperatorCode::VT_DEPRECATED_BUILTIN_CODE);
      const uint8_t* full = table->GetAddressOf(tfl::OperatorCode::VT_BUILTIN_CODE);
      ASSERT_TRUE(dep || full);
      if (dep) {
        bytes[static_cast<size_t>(dep - bytes.data())] = static_cast<uint8_t>(c.code);
        ++patched;
      }
      if (full) {
        std::memcpy(bytes.data() + (full - bytes.data()), &c.code, sizeof c.code);
        ++patched;
      }
    }
    ASSERT_GT(patched, 0);
    // The file itself is valid (it can be inspected); preparing it to run names the op.
    auto m = Model::FromBytes(bytes);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto scorer = Scorer::Create(*m, {});
    ASSERT_FALSE(scorer.ok()) << c.name;
    const std::string err = scorer.status().message();
    EXPECT_NE(err.find(std::string("unsupported operator ") + c.name), std::string::npos) << err;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, HelloWorld,
                         ::testing::Values("hello_world_float.tflite", "hello_world_int8.tflite"));

}  // namespace
}  // namespace aiot::ml
