#pragma once

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
inline constexpr uint16_t kTreeEnsembleVersion = 1;
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

// The custom_options bytes (little-endian, versioned; README "Tree ensembles").
std::vector<uint8_t> EncodeTreeEnsemble(const TreeEnsemble& e);
// Parses and validates. errc::corrupted (truncated, inconsistent) or errc::unsupported (a newer
// version), the message saying which field.
Result<TreeEnsemble> DecodeTreeEnsemble(const uint8_t* data, size_t size);

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

}  // namespace kernels
}  // namespace aiot::ml
