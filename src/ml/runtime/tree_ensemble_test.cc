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

// Rows that probe every decision: each feature at each of its thresholds, just below and above
// it, -0 and +0, +-infinity, NaN, and random values in between.
std::vector<float> EdgeRows(const TreeEnsemble& e, uint64_t seed, int* rows_out) {
  const int f = e.num_features;
  std::vector<float> probes = {0.f, -0.f, INFINITY, -INFINITY, std::nanf(""), 1e30f, -1e30f};
  for (const auto& table : ThresholdTables(e)) {
    for (float t : table) {
      probes.push_back(t);
      probes.push_back(std::nextafter(t, -INFINITY));
      probes.push_back(std::nextafter(t, INFINITY));
    }
  }
  Rng rng(seed);
  const int rows = 3000;
  std::vector<float> x(static_cast<size_t>(rows) * f);
  for (float& v : x) {
    v = rng.Below(4) == 0 ? static_cast<float>(rng.Uniform(-4, 4))
                          : probes[rng.Below(probes.size())];
  }
  *rows_out = rows;
  return x;
}

// Version 2 (binned thresholds): decoding gives the same thresholds, so the same decisions and
// margins bit for bit, on values at, just beside and between the thresholds, +-0, +-inf and NaN;
// the nodes take 8 bytes instead of 17.
TEST(TreeEnsembleTest, BinnedEncodingKeepsEveryDecision) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const int features = 1 + static_cast<int>(seed * 3 % 11);
    TreeEnsemble e = RandomEnsemble(seed, features, 30 + static_cast<int>(seed) * 10,
                                    static_cast<int>(seed % 3 == 0 ? 12 : 6));
    // -0 and +0 thresholds in one feature: one table entry, the same decisions.
    for (size_t i = 0; i < e.nodes.size(); ++i) {
      if (!e.nodes[i].is_leaf() && i % 7 == 0) e.nodes[i].value = (i % 14 == 0) ? -0.f : 0.f;
    }
    ASSERT_TRUE(ValidateTreeEnsemble(e).ok());
    ASSERT_TRUE(FitsBinnedEncoding(e));
    const std::vector<uint8_t> v1 = EncodeTreeEnsemble(e, TreeEncoding::kFloat);
    const std::vector<uint8_t> v2 = EncodeTreeEnsemble(e, TreeEncoding::kBinned);
    EXPECT_EQ(TreeEnsembleVersion(v1.data(), v1.size()), 1);
    ASSERT_EQ(TreeEnsembleVersion(v2.data(), v2.size()), 2);
    size_t q = 0;
    for (const auto& t : ThresholdTables(e)) q += t.size();
    EXPECT_EQ(v2.size(), 32 + 4 * e.num_trees() + 4 * (features + 1) + 4 * q + 8 * e.nodes.size());
    EXPECT_LT(v2.size(), v1.size());
    auto d = DecodeTreeEnsemble(v2.data(), v2.size());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(EncodeTreeEnsemble(*d, TreeEncoding::kBinned), v2);  // stable
    EXPECT_EQ(d->tree_offsets, e.tree_offsets);                    // same node counts per tree
    int rows = 0;
    const std::vector<float> x = EdgeRows(e, seed, &rows);
    std::vector<float> want(rows), got(rows);
    kernels::TreeEnsembleRef(e, x.data(), rows, want.data());
    kernels::TreeEnsembleRef(*d, x.data(), rows, got.data());
    ASSERT_EQ(std::memcmp(want.data(), got.data(), rows * sizeof(float)), 0) << "seed " << seed;
  }
}

// The binned kernel equals the reference bit for bit (same leaves, same summation order), at the
// thresholds and around the block size; so does the float-layout kernel on the same rows.
TEST(TreeEnsembleTest, BinnedKernelIsBitExactWithReference) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const int features = 1 + static_cast<int>(seed * 5 % 13);
    const TreeEnsemble e = RandomEnsemble(seed + 50, features, 40 + static_cast<int>(seed) * 20,
                                          static_cast<int>(seed % 3 == 0 ? 12 : 6));
    ASSERT_TRUE(kernels::CanBin(e));
    const kernels::BinnedTrees b = kernels::BinTrees(e);
    const kernels::PackedTrees p = kernels::PackTrees(e);
    std::vector<uint16_t> scratch(b.ScratchSize());
    int all = 0;
    const std::vector<float> edge = EdgeRows(e, seed, &all);
    for (int rows : {1, 3, 4, 63, 64, 65, 200, all}) {
      std::vector<float> ref(rows), bin(rows), opt(rows);
      kernels::TreeEnsembleRef(e, edge.data(), rows, ref.data());
      kernels::TreeEnsembleBinned(b, edge.data(), rows, bin.data(), scratch.data());
      kernels::TreeEnsembleOpt(p, edge.data(), rows, opt.data());
      ASSERT_EQ(std::memcmp(ref.data(), bin.data(), rows * sizeof(float)), 0)
          << "seed " << seed << " rows " << rows;
      ASSERT_EQ(std::memcmp(ref.data(), opt.data(), rows * sizeof(float)), 0)
          << "seed " << seed << " rows " << rows;
    }
  }
  // Only leaves (no split, no bins): the base score plus the leaves.
  TreeEnsemble stumps;
  stumps.num_features = 2;
  stumps.base_score = 0.5f;
  stumps.tree_offsets = {0, 1};
  stumps.nodes = {{-1, 0.25f, 0, 0, false}, {-1, -1.f, 0, 0, false}};
  const kernels::BinnedTrees b = kernels::BinTrees(stumps);
  std::vector<uint16_t> scratch(b.ScratchSize());
  const float x[10] = {};
  float m[5];
  kernels::TreeEnsembleBinned(b, x, 5, m, scratch.data());
  for (float v : m) EXPECT_EQ(v, 0.5f + 0.25f + -1.f);
}

// A model file written before version 2 (the bytes of SmallEnsemble in version 1, frozen here)
// still loads and scores, through the binned kernel as well as the reference.
// `trees` full trees of `depth` on 4 features, thresholds uniform in [0, 1) (ml_tree_bench's
// synthetic ensemble).
TreeEnsemble FullEnsemble(int trees, int depth) {
  Rng rng(1);
  TreeEnsemble e;
  e.num_features = 4;
  const int splits = (1 << depth) - 1;
  for (int t = 0; t < trees; ++t) {
    e.tree_offsets.push_back(static_cast<uint32_t>(e.nodes.size()));
    for (int i = 0; i < splits; ++i) {
      e.nodes.push_back({static_cast<int32_t>(rng.Below(4)), static_cast<float>(rng.Uniform()),
                         2 * i + 1, 2 * i + 2, rng.Below(2) == 1});
    }
    for (int i = 0; i <= splits; ++i) e.nodes.push_back({-1, 0.01f * static_cast<float>(i), 0, 0});
  }
  return e;
}

// The kernel choice at Prepare is by size (kernels::PreferBinned): the float layout for a model
// the size of fan.csv's (60 trees, 900 nodes here, 1,096 there: in L1 either way, binning costs
// more than it saves), the binned kernel for 300 depth-6 trees (38,100 nodes); forced choices are
// obeyed, and every choice scores alike.
TEST(TreeEnsembleTest, KernelChoiceBySize) {
  const TreeEnsemble small = FullEnsemble(60, 3);  // 900 nodes
  const TreeEnsemble large = FullEnsemble(300, 6);
  ASSERT_TRUE(ValidateTreeEnsemble(small).ok() && ValidateTreeEnsemble(large).ok());
  ASSERT_TRUE(kernels::CanBin(small) && kernels::CanBin(large));
  EXPECT_LT(small.nodes.size(), kernels::kBinnedMinNodes);
  EXPECT_FALSE(kernels::PreferBinned(small));
  EXPECT_EQ(large.nodes.size(), 38100u);
  EXPECT_TRUE(kernels::PreferBinned(large));
  // Beyond the binned limits the rule never asks for it, however large.
  TreeEnsemble wide = FullEnsemble(1, 1);
  wide.num_features = 20000;
  wide.nodes[0].feature = 19999;
  for (int t = 1; t < 20000; ++t) {
    wide.tree_offsets.push_back(static_cast<uint32_t>(wide.nodes.size()));
    wide.nodes.push_back({t, 0.5f, 1, 2, false});
    wide.nodes.push_back({-1, 0.f, 0, 0});
    wide.nodes.push_back({-1, 1.f, 0, 0});
  }
  ASSERT_TRUE(ValidateTreeEnsemble(wide).ok());
  ASSERT_GE(wide.nodes.size(), kernels::kBinnedMinNodes);
  EXPECT_FALSE(kernels::PreferBinned(wide));

  for (const TreeEnsemble* e : {&small, &large}) {
    GraphSpec g = BuildTreeGraph(*e, ModelMetadata{});
    auto bytes = WriteTflite(g);
    ASSERT_TRUE(bytes.ok());
    auto model = Model::FromBytes(*bytes);
    ASSERT_TRUE(model.ok());
    const std::vector<float> x = RandomRows(9, 100, 4);
    std::vector<float> want(100);
    auto ref = Scorer::Create(*model, {.max_batch = 100, .reference_kernels = true});
    ASSERT_TRUE(ref.ok());
    (*ref)->ScoreBatch(x.data(), 100, want.data());
    for (TreeKernel k : {TreeKernel::kAuto, TreeKernel::kFloat, TreeKernel::kBinned}) {
      auto s = Scorer::Create(*model, {.max_batch = 100, .tree_kernel = k});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      std::vector<float> got(100);
      (*s)->ScoreBatch(x.data(), 100, got.data());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(float) * 100), 0)
          << e->nodes.size() << " nodes, kernel " << static_cast<int>(k);
    }
  }
}

TEST(TreeEnsembleTest, VersionOneOptionsStillLoad) {
  const std::string hex =
      "41474254010000000200000002000000080000000000003e0100000000000000000000000500000000000000"
      "0000803f010000000200000001000000000000000300000004000000ffffffff000040400000000000000000"
      "ffffffff000080bf0000000000000000ffffffff000000400000000000000000010000000000a04001000000"
      "02000000ffffffff0000003f0000000000000000ffffffff000080be00000000000000000100000000010000";
  std::vector<uint8_t> v1;
  for (size_t i = 0; i < hex.size(); i += 2) {
    v1.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  EXPECT_EQ(v1, EncodeTreeEnsemble(SmallEnsemble(), TreeEncoding::kFloat));
  auto d = DecodeTreeEnsemble(v1.data(), v1.size());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  GraphSpec g = BuildTreeGraph(SmallEnsemble(), ModelMetadata{}, /*regression=*/true);
  g.ops[0].custom_options = v1;
  for (bool reference : {false, true}) {
    auto it = Interpreter::Create(g, {.max_batch = 6, .reference_kernels = reference});
    ASSERT_TRUE(it.ok()) << it.status().ToString();
    const float nan = std::nanf("");
    const float rows[] = {0.f, -1.f, 0.f, 6.f, 1.f, 0.f, nan, 0.f, 5.f, nan, 0.99f, 0.f};
    std::memcpy((*it)->input(0, 6).data, rows, sizeof(rows));
    ASSERT_TRUE((*it)->Invoke(6).ok());
    const auto* m = static_cast<const float*>((*it)->output(0, 6).data);
    const float want[] = {0.125f + -1.f + 0.5f, 0.125f + 2.f + -0.25f, 0.125f + 3.f + 0.5f,
                          0.125f + 2.f + 0.5f,  0.125f + 3.f + 0.5f,   0.125f + 2.f + 0.5f};
    for (int r = 0; r < 6; ++r) EXPECT_EQ(m[r], want[r]) << r << (reference ? " reference" : "");
  }
}

// Trees that do not fit the binned form (a feature with more than 65,534 distinct thresholds) are
// written as version 1 and scored by the float-layout kernel, still bit-exact.
TEST(TreeEnsembleTest, TreesBeyondTheBinnedLimitsFallBackToFloat) {
  TreeEnsemble e;
  e.num_features = 2;
  const int trees = 1100;  // 63 splits each: 69,300 distinct thresholds of feature 0
  int k = 0;
  for (int t = 0; t < trees; ++t) {
    e.tree_offsets.push_back(static_cast<uint32_t>(e.nodes.size()));
    for (int i = 0; i < 63; ++i) {
      e.nodes.push_back({0, static_cast<float>(k++) * 0.001f, 2 * i + 1, 2 * i + 2, i % 2 == 0});
    }
    for (int i = 0; i < 64; ++i)
      e.nodes.push_back({-1, static_cast<float>(i) * 0.01f, 0, 0, false});
  }
  ASSERT_TRUE(ValidateTreeEnsemble(e).ok());
  EXPECT_FALSE(FitsBinnedEncoding(e));
  EXPECT_FALSE(kernels::CanBin(e));
  const std::vector<uint8_t> bytes = EncodeTreeEnsemble(e, TreeEncoding::kBinned);
  EXPECT_EQ(TreeEnsembleVersion(bytes.data(), bytes.size()), 1);
  GraphSpec g = BuildTreeGraph(e, ModelMetadata{});
  auto fast = Interpreter::Create(g, {.max_batch = 100});
  auto ref = Interpreter::Create(g, {.max_batch = 100, .reference_kernels = true});
  ASSERT_TRUE(fast.ok() && ref.ok());
  Rng rng(3);
  std::vector<float> x(200);
  for (float& v : x) v = static_cast<float>(rng.Uniform(0, 70));
  for (auto* it : {fast->get(), ref->get()}) {
    std::memcpy(it->input(0, 100).data, x.data(), x.size() * sizeof(float));
    ASSERT_TRUE(it->Invoke(100).ok());
  }
  EXPECT_EQ(
      std::memcmp((*fast)->output(0, 100).data, (*ref)->output(0, 100).data, 100 * sizeof(float)),
      0);
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
      {"version", [](auto& b) { b[4] = 3; }, "version 3", errc::unsupported},
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

// The same for version 2's fields: threshold tables, indices, 8-byte nodes.
TEST(TreeEnsembleTest, CorruptedBinnedOptionsAreRefused) {
  const std::vector<uint8_t> good = EncodeTreeEnsemble(SmallEnsemble(), TreeEncoding::kBinned);
  ASSERT_EQ(TreeEnsembleVersion(good.data(), good.size()), 2);
  // Header 32, offsets 2 x 4, table starts 3 x 4 (feature 0: {1}, feature 1: {0, 5}), 3
  // thresholds, 8 nodes of 8 bytes (breadth-first: tree 0 = split x0, split x1, leaf 3, leaf -1,
  // leaf 2; tree 1 = split x1, two leaves).
  const size_t starts = 40, table = 52, nodes = 64;
  auto node = [&](int i, int byte) { return nodes + 8 * i + byte; };
  ASSERT_EQ(good.size(), nodes + 8 * 8);
  struct Case {
    const char* name;
    std::function<void(std::vector<uint8_t>&)> corrupt;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"truncated", [](auto& b) { b.pop_back(); }, "the header implies"},
      {"threshold count", [](auto& b) { Poke32(b, 28, 4); }, "the header implies"},
      {"reserved flags", [](auto& b) { b[6] = 1; }, "reserved"},
      {"first start", [&](auto& b) { Poke32(b, starts, 1); }, "must start at 0"},
      {"last start", [&](auto& b) { Poke32(b, starts + 8, 2); }, "must start at 0"},
      {"starts decrease", [&](auto& b) { Poke32(b, starts + 4, 4); }, "out of range"},
      {"not increasing", [&](auto& b) { PokeFloat(b, table + 8, 0.f); }, "strictly increasing"},
      {"threshold nan", [&](auto& b) { PokeFloat(b, table, std::nanf("")); }, "not finite"},
      {"index", [&](auto& b) { b[node(0, 4)] = 1; }, "outside feature 0's table"},
      {"feature", [&](auto& b) { b[node(0, 0)] = 2; }, "input width 2"},
      {"leaf child", [&](auto& b) { b[node(2, 2)] = 1; }, "has a child"},
      {"leaf value", [&](auto& b) { PokeFloat(b, node(2, 4), INFINITY); }, "not finite"},
      {"default left", [&](auto& b) { b[node(0, 6)] = 2; }, "default-left"},
      {"reserved byte", [&](auto& b) { b[node(0, 7)] = 1; }, "reserved byte"},
      {"cycle", [&](auto& b) { b[node(1, 2)] = 0; }, "must be after the node"},
      {"child outside", [&](auto& b) { b[node(1, 2)] = 4; }, "inside its tree"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    c.corrupt(b);
    auto d = DecodeTreeEnsemble(b.data(), b.size());
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.error(), errc::corrupted) << c.name;
    EXPECT_NE(d.status().message().find(c.message), std::string::npos)
        << c.name << ": " << d.status().message();
  }
  Rng rng(78);
  for (int i = 0; i < 20000; ++i) {  // random flips never crash the decoder or the kernels
    std::vector<uint8_t> b = good;
    b[rng.Below(b.size())] ^= static_cast<uint8_t>(1u << rng.Below(8));
    auto d = DecodeTreeEnsemble(b.data(), b.size());
    if (!d.ok()) continue;
    float x[2] = {0.5f, std::nanf("")};
    float m = 0, mb = 0;
    kernels::TreeEnsembleRef(*d, x, 1, &m);
    const kernels::BinnedTrees bt = kernels::BinTrees(*d);
    std::vector<uint16_t> scratch(bt.ScratchSize());
    kernels::TreeEnsembleBinned(bt, x, 1, &mb, scratch.data());
    ASSERT_EQ(std::memcmp(&m, &mb, sizeof m), 0);
  }
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
