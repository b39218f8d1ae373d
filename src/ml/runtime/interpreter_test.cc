#include "ml/runtime/interpreter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "base/errc.h"
#include "ml/data/random.h"
#include "ml/quant/quantize.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

#if defined(__GNUC__) && !defined(__clang__)
// The replacement operators below pair malloc/free correctly; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts heap allocations so tests can assert that Invoke allocates nothing.
namespace {
std::atomic<long> g_allocations{0};
}
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace aiot::ml {
namespace {

Mlp RandomMlp(std::vector<int> sizes, uint64_t seed, OutputKind out = OutputKind::kSigmoid) {
  Rng rng(seed);
  Mlp m;
  m.output = out;
  for (int i = 0; i < sizes[0]; ++i) {
    m.norm.mean.push_back(static_cast<float>(rng.Uniform(-5, 5)));
    m.norm.stddev.push_back(static_cast<float>(rng.Uniform(0.5, 3)));
  }
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    DenseLayer d;
    d.inputs = sizes[l];
    d.outputs = sizes[l + 1];
    d.relu = l + 2 < sizes.size();
    for (int i = 0; i < d.inputs * d.outputs; ++i)
      d.weights.push_back(static_cast<float>(rng.Uniform(-0.8, 0.8)));
    for (int i = 0; i < d.outputs; ++i)
      d.bias.push_back(static_cast<float>(rng.Uniform(-0.2, 0.2)));
    m.layers.push_back(d);
  }
  return m;
}

std::vector<float> RandomRows(size_t rows, int width, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * width);
  for (auto& v : x) v = static_cast<float>(rng.Uniform(-8, 8));
  return x;
}

TEST(InterpreterTest, ExportedMlpMatchesTrainerReference) {
  Mlp m = RandomMlp({4, 60, 30, 10, 1}, 1);
  GraphSpec g = BuildFloatGraph(m, ModelMetadata{});
  auto x = RandomRows(50, 4, 2);
  for (bool reference : {true, false}) {
    InterpreterOptions o;
    o.max_batch = 50;
    o.reference_kernels = reference;
    auto it = Interpreter::Create(g, o);
    ASSERT_TRUE(it.ok()) << it.status().ToString();
    auto in = (*it)->input(0, 50);
    ASSERT_EQ(in.elements, 200u);
    std::copy(x.begin(), x.end(), in.f32());
    ASSERT_TRUE((*it)->Invoke(50).ok());
    auto out = (*it)->output(0, 50);
    for (int r = 0; r < 50; ++r) {
      float expect;
      m.Predict(x.data() + 4 * r, &expect);
      EXPECT_NEAR(out.f32()[r], expect, 1e-5) << r;
    }
  }
}

TEST(InterpreterTest, BatchEqualsSingleRowsAndSoftmaxSumsToOne) {
  Mlp m = RandomMlp({3, 8, 4}, 5, OutputKind::kSoftmax);
  auto model = Model::FromBytes(*WriteTflite(BuildFloatGraph(m, ModelMetadata{})));
  ASSERT_TRUE(model.ok());
  auto scorer = Scorer::Create(*model, ScorerOptions{7, false});
  ASSERT_TRUE(scorer.ok());
  ASSERT_EQ((*scorer)->num_outputs(), 4);
  auto x = RandomRows(20, 3, 3);
  std::vector<float> batch(20 * 4), single(4);
  (*scorer)->ScoreBatch(x.data(), 20, batch.data());  // 3 chunks of at most 7
  for (int r = 0; r < 20; ++r) {
    (*scorer)->Predict(x.data() + 3 * r, single.data());
    float sum = 0;
    for (int j = 0; j < 4; ++j) {
      EXPECT_FLOAT_EQ(single[j], batch[r * 4 + j]);
      sum += single[j];
    }
    EXPECT_NEAR(sum, 1.f, 1e-5);
  }
}

TEST(InterpreterTest, InvokeAllocatesNothing) {
  Mlp m = RandomMlp({4, 60, 30, 10, 1}, 7);
  GraphSpec fg = BuildFloatGraph(m, ModelMetadata{});
  auto x = RandomRows(300, 4, 8);
  auto qg = QuantizeGraph(fg, x.data(), 300);
  ASSERT_TRUE(qg.ok());
  for (const GraphSpec* g : {&fg, &*qg}) {
    auto model = Model::FromBytes(*WriteTflite(*g));
    ASSERT_TRUE(model.ok());
    auto scorer = Scorer::Create(*model, ScorerOptions{64, false});
    ASSERT_TRUE(scorer.ok());
    std::vector<float> out(300);
    const long before = g_allocations.load();
    float s = 0;
    for (int r = 0; r < 100; ++r) s += (*scorer)->Score(x.data() + 4 * r);
    (*scorer)->ScoreBatch(x.data(), 300, out.data());
    EXPECT_EQ(g_allocations.load(), before);
    EXPECT_TRUE(std::isfinite(s));
  }
}

TEST(InterpreterTest, UnsupportedOpIsNamed) {
  Mlp m = RandomMlp({2, 3, 1}, 9);
  GraphSpec g = BuildFloatGraph(m, ModelMetadata{});
  g.ops[2].builtin_code = 3;  // CONV_2D
  auto it = Interpreter::Create(g, {});
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error(), errc::unsupported);
  std::string err = it.status().message();
  EXPECT_NE(err.find("unsupported operator CONV_2D"), std::string::npos) << err;
  g.ops[2].builtin_code = 32;
  g.ops[2].custom_code = "MyOp";
  auto custom = Interpreter::Create(g, {});
  EXPECT_FALSE(custom.ok());
  err = custom.status().message();
  EXPECT_NE(err.find("'MyOp'"), std::string::npos) << err;
}

// A per-channel weight scale that is NaN, infinite, zero or negative is a corrupt model, named as
// such; found by ml_tflite_fuzz (a NaN in channel 1 reached an undefined float-to-int conversion).
TEST(InterpreterTest, RejectsBadPerChannelWeightScale) {
  Mlp m = RandomMlp({4, 6, 1}, 11);
  GraphSpec fg = BuildFloatGraph(m, ModelMetadata{});
  auto x = RandomRows(50, 4, 12);
  auto qg = QuantizeGraph(fg, x.data(), 50);
  ASSERT_TRUE(qg.ok());
  ASSERT_TRUE(Interpreter::Create(*qg, {}).ok());
  int weights = -1;
  for (const OpSpec& op : qg->ops) {
    if (op.op() == Op::kFullyConnected && qg->tensors[op.inputs[1]].type == TensorType::kInt8) {
      weights = op.inputs[1];
      break;
    }
  }
  ASSERT_GE(weights, 0);
  const int channels = qg->tensors[weights].shape[0];
  ASSERT_GT(channels, 1);
  for (float bad : {std::nanf(""), INFINITY, 0.f, -0.5f}) {
    GraphSpec g = *qg;
    QuantParams& q = g.tensors[weights].quant;
    q.scale.assign(channels, q.scale[0]);
    q.zero_point.assign(channels, 0);
    q.quantized_dimension = 0;
    ASSERT_TRUE(Interpreter::Create(g, {}).ok());  // per channel, all valid
    q.scale[1] = bad;
    auto it = Interpreter::Create(g, {});
    ASSERT_FALSE(it.ok()) << bad;
    EXPECT_EQ(it.error(), errc::corrupted) << bad;
    EXPECT_NE(it.status().message().find("positive scale"), std::string::npos)
        << it.status().message();
  }
}

TEST(InterpreterTest, RejectsBadBatch) {
  Mlp m = RandomMlp({2, 3, 1}, 9);
  auto it = Interpreter::Create(BuildFloatGraph(m, ModelMetadata{}), InterpreterOptions{4, false});
  ASSERT_TRUE(it.ok());
  EXPECT_FALSE((*it)->Invoke(0).ok());
  EXPECT_FALSE((*it)->Invoke(5).ok());
  EXPECT_TRUE((*it)->Invoke(4).ok());
}

}  // namespace
}  // namespace aiot::ml
