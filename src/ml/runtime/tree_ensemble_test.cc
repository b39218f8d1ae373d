#include "ml/runtime/tree_ensemble.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/errc.h"
#include "ml/data/random.h"
#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"

namespace aiot::ml {
namespace {

// Two trees on 2 features:
//   tree 0: x0 < 1 ? (x1 < 0 ? -1 : 2) : 3, missing x0 goes left, missing x1 right
//   tree 1: x1 < 5 ? 0.5 : -0.25, missing goes left
TreeEnsemble SmallEnsemble() {
  TreeEnsemble e;
  e.num_features = 2;
  e.base_score = 0.125f;
  e.tree_offsets = {0, 5};
  e.nodes = {
      {0, 1.f, 1, 2, true},    {1, 0.f, 3, 4, false},     {-1, 3.f, 0, 0, false},
      {-1, -1.f, 0, 0, false}, {-1, 2.f, 0, 0, false},    {1, 5.f, 1, 2, true},
      {-1, 0.5f, 0, 0, false}, {-1, -0.25f, 0, 0, false},
  };
  return e;
}

// A random valid ensemble: `trees` trees grown breadth-first to random depths up to `depth`.
TreeEnsemble RandomEnsemble(uint64_t seed, int features, int trees, int depth) {
  Rng rng(seed);
  TreeEnsemble e;
  e.num_features = features;
  e.base_score = static_cast<float>(rng.Uniform(-1, 1));
  for (int t = 0; t < trees; ++t) {
    const auto off = static_cast<uint32_t>(e.nodes.size());
    e.tree_offsets.push_back(off);
    std::vector<int> level = {0};  // depth of each node of this tree, by local index
    for (size_t i = 0; i < level.size(); ++i) {
      TreeNode nd;
      if (level[i] < depth && rng.Uniform() < 0.8) {
        nd.feature = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(features)));
        nd.value = static_cast<float>(std::round(rng.Uniform(-3, 3) * 8) / 8);  // ties happen
        nd.default_left = rng.Below(2) == 1;
        nd.left = static_cast<int32_t>(level.size());
        level.push_back(level[i] + 1);
        nd.right = static_cast<int32_t>(level.size());
        level.push_back(level[i] + 1);
      } else {
        nd.value = static_cast<float>(rng.Uniform(-0.3, 0.3));
      }
      e.nodes.push_back(nd);
    }
  }
  return e;
}

std::vector<float> RandomRows(uint64_t seed, int rows, int features) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(rows) * features);
  for (float& v : x) {
    const uint64_t kind = rng.Below(20);
    v = kind == 0   ? std::nanf("")
        : kind == 1 ? static_cast<float>(std::round(rng.Uniform(-3, 3) * 8) / 8)
                    : static_cast<float>(rng.Uniform(-4, 4));
  }
  return x;
}

TEST(TreeEnsembleTest, ReferenceFollowsThresholdsAndMissingValues) {
  const TreeEnsemble e = SmallEnsemble();
  ASSERT_TRUE(ValidateTreeEnsemble(e).ok()) << ValidateTreeEnsemble(e).ToString();
  const float nan = std::nanf("");
  const float rows[] = {0.f, -1.f, 0.f, 6.f, 1.f, 0.f, nan, 0.f, 5.f, nan, 0.99f, 0.f};
  float m[6];
  kernels::TreeEnsembleRef(e, rows, 6, m);
  EXPECT_EQ(m[0], 0.125f + -1.f + 0.5f);
  EXPECT_EQ(m[1], 0.125f + 2.f + -0.25f);
  EXPECT_EQ(m[2], 0.125f + 3.f + 0.5f);  // x0 == threshold goes right
  EXPECT_EQ(m[3], 0.125f + 2.f + 0.5f);  // missing x0 left, then x1 = 0 right
  EXPECT_EQ(m[4], 0.125f + 3.f + 0.5f);  // missing x1 left in tree 1
  EXPECT_EQ(m[5], 0.125f + 2.f + 0.5f);
  EXPECT_EQ(TreeDepth(e, 0), 2);
  EXPECT_EQ(TreeDepth(e, 1), 1);
}

TEST(TreeEnsembleTest, EncodeDecodeRoundTrip) {
  const TreeEnsemble e = RandomEnsemble(3, 7, 20, 6);
  const std::vector<uint8_t> bytes = EncodeTreeEnsemble(e);
  EXPECT_EQ(bytes.size(), 32 + 4 * e.num_trees() + 17 * e.nodes.size());
  auto d = DecodeTreeEnsemble(bytes.data(), bytes.size());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(EncodeTreeEnsemble(*d), bytes);
  EXPECT_EQ(d->tree_offsets, e.tree_offsets);
}

// The optimised kernel (trees outer, rows in lock-step blocks) equals the reference bit for bit,
// NaN inputs and values on a threshold included; batch sizes around the block size.
TEST(TreeEnsembleTest, OptimisedKernelIsBitExactWithReference) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const int features = 1 + static_cast<int>(seed * 3 % 11);
    const TreeEnsemble e = RandomEnsemble(seed, features, 40 + static_cast<int>(seed) * 20,
                                          static_cast<int>(seed % 3 == 0 ? 12 : 6));
    ASSERT_TRUE(ValidateTreeEnsemble(e).ok());
    const kernels::PackedTrees p = kernels::PackTrees(e);
    for (int rows : {1, 63, 64, 65, 200}) {
      const std::vector<float> x = RandomRows(seed * 100 + rows, rows, features);
      std::vector<float> ref(rows), opt(rows);
      kernels::TreeEnsembleRef(e, x.data(), rows, ref.data());
      kernels::TreeEnsembleOpt(p, x.data(), rows, opt.data());
      ASSERT_EQ(std::memcmp(ref.data(), opt.data(), rows * sizeof(float)), 0)
          << "seed " << seed << " rows " << rows;
    }
  }
}

// Through the .tflite file and the interpreter: writer and reader keep the custom options, both
// kernel paths give the same scores, and the score is the logistic of the reference margin.
TEST(TreeEnsembleTest, TreeModelFileRunsInTheInterpreter) {
  const TreeEnsemble e = RandomEnsemble(11, 5, 60, 7);
  ModelMetadata md;
  md.name = "trees";
  auto bytes = WriteTflite(BuildTreeGraph(e, md));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto model = Model::FromBytes(*bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ((*model)->graph().ops[0].custom_code, kTreeEnsembleOp);
  const int rows = 300;
  const std::vector<float> x = RandomRows(12, rows, 5);
  std::vector<float> margin(rows), fast(rows), ref(rows);
  kernels::TreeEnsembleRef(e, x.data(), rows, margin.data());
  auto opt_scorer = Scorer::Create(*model, {.max_batch = 128});
  auto ref_scorer = Scorer::Create(*model, {.max_batch = 7, .reference_kernels = true});
  ASSERT_TRUE(opt_scorer.ok()) << opt_scorer.status().ToString();
  ASSERT_TRUE(ref_scorer.ok()) << ref_scorer.status().ToString();
  EXPECT_EQ((*opt_scorer)->num_features(), 5);
  (*opt_scorer)->ScoreBatch(x.data(), rows, fast.data());
  (*ref_scorer)->ScoreBatch(x.data(), rows, ref.data());
  EXPECT_EQ(std::memcmp(fast.data(), ref.data(), rows * sizeof(float)), 0);
  for (int r = 0; r < rows; ++r) {
    EXPECT_EQ(fast[r], 1.f / (1.f + std::exp(-margin[r]))) << r;
    EXPECT_EQ((*opt_scorer)->Score(x.data() + r * 5), fast[r]);
  }
}

// Writes `v` little-endian at `at`.
void Poke32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void PokeFloat(std::vector<uint8_t>& b, size_t at, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  Poke32(b, at, v);
}

// Each corruption a hostile file could carry is refused, naming what is wrong.
TEST(TreeEnsembleTest, CorruptedOptionsAreRefused) {
  const std::vector<uint8_t> good = EncodeTreeEnsemble(SmallEnsemble());
  const size_t nodes = 32 + 4 * 2;  // first node record
  auto node = [&](int i, int field) { return nodes + 16 * i + 4 * field; };
  struct Case {
    const char* name;
    std::function<void(std::vector<uint8_t>&)> corrupt;
    const char* message;
    errc code = errc::corrupted;
  };
  const std::vector<Case> cases = {
      {"truncated", [](auto& b) { b.pop_back(); }, "the header implies"},
      {"magic", [](auto& b) { b[0] = 'X'; }, "AGBT"},
      {"version", [](auto& b) { b[4] = 2; }, "version 2", errc::unsupported},
      {"reserved", [](auto& b) { b[31] = 1; }, "reserved"},
      {"outputs", [](auto& b) { Poke32(b, 24, 2); }, "outputs per row"},
      {"no trees", [](auto& b) { Poke32(b, 12, 0); }, "out of range"},
      {"offset", [](auto& b) { Poke32(b, 36, 9); }, "offsets must increase"},
      {"first offset", [](auto& b) { Poke32(b, 32, 1); }, "tree 0 must start at node 0"},
      {"cycle", [&](auto& b) { Poke32(b, node(1, 2), 0); }, "must be after the node"},
      {"self loop", [&](auto& b) { Poke32(b, node(1, 3), 1); }, "must be after the node"},
      {"child outside", [&](auto& b) { Poke32(b, node(0, 3), 5); }, "inside its tree"},
      {"two parents", [&](auto& b) { Poke32(b, node(0, 3), 1); }, "two parents"},
      {"feature", [&](auto& b) { Poke32(b, node(0, 0), 2); }, "input width 2"},
      {"leaf feature", [&](auto& b) { Poke32(b, node(2, 0), 0xfffffffe); }, "a leaf must"},
      {"threshold", [&](auto& b) { PokeFloat(b, node(0, 1), std::nanf("")); }, "not finite"},
      {"leaf value", [&](auto& b) { PokeFloat(b, node(3, 1), INFINITY); }, "not finite"},
      {"base", [](auto& b) { PokeFloat(b, 20, std::nanf("")); }, "base score"},
      {"default left", [&](auto& b) { b[nodes + 16 * 8] = 2; }, "default-left"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    c.corrupt(b);
    auto d = DecodeTreeEnsemble(b.data(), b.size());
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.error(), c.code) << c.name;
    EXPECT_NE(d.status().message().find(c.message), std::string::npos)
        << c.name << ": " << d.status().message();
  }
  EXPECT_FALSE(DecodeTreeEnsemble(nullptr, 0).ok());
}

TEST(TreeEnsembleTest, DeepTreesAreRefused) {
  TreeEnsemble e;
  e.num_features = 1;
  e.tree_offsets = {0};
  for (int d = 0; d <= kMaxTreeDepth; ++d) {  // a chain: the right child goes on
    const int i = 2 * d;
    e.nodes.push_back({0, 0.f, i + 1, i + 2, false});
    e.nodes.push_back({-1, 1.f, 0, 0, false});
  }
  e.nodes.push_back({-1, 1.f, 0, 0, false});
  const Status st = ValidateTreeEnsemble(e);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("deeper than 64"), std::string::npos) << st.message();
}

// The interpreter refuses a model whose input width differs from the trees', and corrupted options
// with the operator named; random byte flips never crash the decoder.
TEST(TreeEnsembleTest, InterpreterRefusesInconsistentTreeOps) {
  GraphSpec g = BuildTreeGraph(SmallEnsemble(), ModelMetadata{});
  g.tensors[0].shape = {1, 3};
  auto wide = Interpreter::Create(g, {});
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.status().message().find("the trees read 2"), std::string::npos)
      << wide.status().message();
  g = BuildTreeGraph(SmallEnsemble(), ModelMetadata{});
  g.ops[0].custom_options.resize(10);
  auto cut = Interpreter::Create(g, {});
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error(), errc::corrupted);
  EXPECT_NE(cut.status().message().find("operator 0 (AIOT_TREE_ENSEMBLE)"), std::string::npos)
      << cut.status().message();
  const std::vector<uint8_t> good = EncodeTreeEnsemble(RandomEnsemble(5, 3, 4, 4));
  Rng rng(77);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b = good;
    b[rng.Below(b.size())] ^= static_cast<uint8_t>(1u << rng.Below(8));
    auto d = DecodeTreeEnsemble(b.data(), b.size());
    if (!d.ok()) continue;
    float x[3] = {0.5f, -1.f, std::nanf("")};
    float m = 0;
    kernels::TreeEnsembleRef(*d, x, 1, &m);
  }
}

}  // namespace
}  // namespace aiot::ml
