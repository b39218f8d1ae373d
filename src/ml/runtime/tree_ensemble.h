#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"

// A gradient-boosted tree ensemble as aiot stores and runs it: the custom operator
// AIOT_TREE_ENSEMBLE of a .tflite graph, whose custom_options hold the bytes EncodeTreeEnsemble
// writes (layout in src/ml/README.md, "Tree ensembles"). The operator maps raw features [B, F] to
// one margin per row [B, 1]: base_score plus the leaf value of every tree, summed in float in tree
// order (XGBoost's order, so the margin equals XGBoost's). A LOGISTIC after it gives P(class 1).
namespace aiot::ml {

inline constexpr const char* kTreeEnsembleOp = "AIOT_TREE_ENSEMBLE";
// custom_options versions: 1 stores float thresholds in 17-byte nodes; 2 stores per-feature tables
// of the distinct thresholds and, in 8-byte nodes, each split's 16-bit index into its feature's
// table (README "Tree ensembles"). Readers take both; a reader of version 1 only refuses 2.
inline constexpr uint16_t kTreeEnsembleVersionFloat = 1;
inline constexpr uint16_t kTreeEnsembleVersionBinned = 2;
inline constexpr uint16_t kTreeEnsembleVersion = kTreeEnsembleVersionBinned;  // newest read
inline constexpr int kMaxTreeDepth = 64;
inline constexpr uint32_t kMaxTreeNodes = 1u << 24;  // over all trees
inline constexpr uint32_t kMaxTrees = 1u << 20;
inline constexpr uint32_t kMaxTreeFeatures = 1u << 20;

// One node. Children are indices relative to the first node of the node's tree and always greater
// than the node's own index (so a tree has no cycles and its root is node 0).
struct TreeNode {
  int32_t feature = -1;  // split feature; -1 = leaf
  float value = 0;       // split threshold (x < value goes left), or the leaf value
  int32_t left = 0;      // splits only
  int32_t right = 0;
  bool default_left = false;  // where a missing (NaN) feature value goes
  bool is_leaf() const { return feature < 0; }
};

struct TreeEnsemble {
  int32_t num_features = 0;  // the input width
  float base_score = 0;      // margin every row starts from
  std::vector<uint32_t>
      tree_offsets;  // first node of each tree in `nodes`; tree t ends where t+1 starts
  std::vector<TreeNode> nodes;

  size_t num_trees() const { return tree_offsets.size(); }
  size_t TreeSize(size_t t) const {
    return (t + 1 < tree_offsets.size() ? tree_offsets[t + 1] : nodes.size()) - tree_offsets[t];
  }
};

// Checks what a hostile file could get wrong: counts within limits, tree offsets increasing from
// 0, every child index in its tree and greater than its parent's, every non-root node with exactly
// one parent, depth <= kMaxTreeDepth, split features < num_features, finite thresholds, leaf values
// and base score. errc::corrupted naming the tree and node.
Status ValidateTreeEnsemble(const TreeEnsemble& e);

// How EncodeTreeEnsemble stores thresholds. kBinned (version 2): each feature's distinct split
// thresholds once, sorted, as float32, and each split the 16-bit index of its threshold there, so
// a decoded model has exactly the thresholds (and so the decisions) of the encoded one, in about
// half the bytes. It needs at most 65,535 input features, 65,536 nodes per tree and 65,534
// distinct thresholds per feature (FitsBinnedEncoding); otherwise version 1 is written. kFloat
// (version 1) is what readers older than version 2 can load.
enum class TreeEncoding { kFloat, kBinned };
// Which optimised kernel scores a tree ensemble (InterpreterOptions::tree_kernel): kAuto by the
// model's size (kernels::PreferBinned), or forced.
enum class TreeKernel { kAuto, kFloat, kBinned };
bool FitsBinnedEncoding(const TreeEnsemble& e);

// The custom_options bytes (little-endian, versioned; README "Tree ensembles"). REQUIRES: a valid
// ensemble. With kBinned each tree's nodes are renumbered breadth-first (siblings adjacent); the
// decoded ensemble then differs from `e` only in that numbering, never in a decision or a leaf.
std::vector<uint8_t> EncodeTreeEnsemble(const TreeEnsemble& e,
                                        TreeEncoding encoding = TreeEncoding::kFloat);
// Parses and validates either version. errc::corrupted (truncated, inconsistent) or
// errc::unsupported (a newer version), the message saying which field.
Result<TreeEnsemble> DecodeTreeEnsemble(const uint8_t* data, size_t size);
// The version of encoded options (0 when shorter than the header or not AGBT).
uint16_t TreeEnsembleVersion(const uint8_t* data, size_t size);

// `e` with each tree's nodes in breadth-first order, left child before right (so every split's
// right child is its left child + 1). Same trees, same leaves. REQUIRES: a valid ensemble.
TreeEnsemble BreadthFirst(const TreeEnsemble& e);

// Per feature, the distinct thresholds its splits use, ascending (the binned tables).
std::vector<std::vector<float>> ThresholdTables(const TreeEnsemble& e);

// Depth of the deepest leaf of tree `t` (a lone leaf: 0). REQUIRES: a valid ensemble.
int TreeDepth(const TreeEnsemble& e, size_t t);

namespace kernels {

// Reference: row by row, tree by tree, walking the nodes. margin[r] = base + sum of leaves.
void TreeEnsembleRef(const TreeEnsemble& e, const float* in, int rows, float* margin);

// The optimised layout: all trees' nodes in one array of 16-byte records with absolute child
// indices; leaves point at themselves. Trees outer, rows inner (blocks of 64 rows): each tree is
// walked by four rows at a time in lock-step until all four reach a leaf, so four independent
// load chains overlap; the remaining rows walk alone.
inline constexpr uint32_t kPackedFeatureMask = (1u << 30) - 1;
inline constexpr uint32_t kPackedLeaf = 1u << 30;
inline constexpr uint32_t kPackedMissingLeft = 1u << 31;
struct PackedNode {
  uint32_t feature;  // bits 0-29: feature; bit 30: leaf; bit 31: missing values go left
  float value;       // threshold or leaf value
  int32_t left;      // absolute; a leaf's own index
  int32_t right;
};
struct PackedTrees {
  int32_t num_features = 0;
  float base_score = 0;
  std::vector<uint32_t> root;  // per tree
  std::vector<PackedNode> nodes;
};
PackedTrees PackTrees(const TreeEnsemble& e);
// Bit-exact with TreeEnsembleRef (same leaves, same float summation order per row).
void TreeEnsembleOpt(const PackedTrees& p, const float* in, int rows, float* margin);

// Binned thresholds (the histogram-GBDT way): each row's used features are binned once, a value
// x of feature f to bin(x) = the number of f's thresholds <= x (a NaN to kMissingBin), and every
// split compares small integers: x < threshold[k] exactly when bin(x) <= k, so the decisions are
// the float kernel's by construction (NaN: the split's missing direction; +-inf: below or above
// every threshold). Nodes are 8 bytes (half the float layout's), breadth-first with adjacent
// siblings; a leaf points at itself and its value sits in `leaf_value`. Rows go in blocks of
// kBinnedBlock: bin the block, then trees outer, rows inner, four rows in lock-step as in
// TreeEnsembleOpt. Needs at most 16,384 used features and 65,534 thresholds per feature
// (CanBin); bit-exact with TreeEnsembleRef.
inline constexpr uint16_t kMissingBin = 0xffff;
inline constexpr uint16_t kBinnedLeaf = 1u << 14;
inline constexpr uint16_t kBinnedMissingLeft = 1u << 15;
inline constexpr uint16_t kBinnedSlotMask = kBinnedLeaf - 1;
inline constexpr int kBinnedBlock = 64;
struct BinnedNode {
  uint16_t slot;  // bits 0-13: the feature's slot in the binned row; 14: leaf; 15: missing left
  uint16_t bin;   // x < threshold goes left <=> bin(x) <= this; a leaf: 0xffff (always "left")
  int32_t left;   // absolute; the right child is left + 1; a leaf: its own index
};
struct BinnedTrees {
  int32_t num_features = 0;
  float base_score = 0;
  std::vector<int32_t> slot_feature;  // per slot, its input feature (the features splits use)
  std::vector<uint32_t>
      table_start;  // per slot + 1: slot s's thresholds are [start[s], start[s+1])
  std::vector<float> thresholds;
  std::vector<uint32_t> root;  // per tree
  std::vector<BinnedNode> nodes;
  std::vector<float> leaf_value;  // per node (0 for splits)
  size_t ScratchSize() const { return kBinnedBlock * std::max<size_t>(slot_feature.size(), 1); }
};
bool CanBin(const TreeEnsemble& e);
// The kernel choice at Prepare (InterpreterOptions::tree_kernel = kAuto), by size alone, nothing
// timed: binned when the trees fit it (CanBin) and have at least kBinnedMinNodes nodes, i.e. when
// the float layout's nodes (16 bytes each) no longer fit a 32 KiB L1 data cache. Below that
// binning each row costs more than the 16-bit compares save (fan.csv's 1,096 nodes: 0.47 vs
// 0.81 us per sample); above it the binned kernel's 8-byte nodes win (300 depth-6 trees: 2.4-2.7x).
// Measured crossover and the cases the rule gets wrong: BENCHMARKS.md, "Tree kernel choice".
// Decisions are the same either way.
inline constexpr size_t kBinnedMinNodes = 2048;
bool PreferBinned(const TreeEnsemble& e);
BinnedTrees BinTrees(const TreeEnsemble& e);  // REQUIRES: CanBin(e)
// bins[r * slots + s] for the n rows at `in`.
void BinRows(const BinnedTrees& b, const float* in, int n, uint16_t* bins);
// `scratch` holds b.ScratchSize() values (so the kernel allocates nothing).
void TreeEnsembleBinned(const BinnedTrees& b, const float* in, int rows, float* margin,
                        uint16_t* scratch);

}  // namespace kernels
}  // namespace aiot::ml
