#include "ml/runtime/tree_ensemble.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/errc.h"

namespace aiot::ml {

namespace {

// custom_options v1 (README "Tree ensembles"): a 32-byte header, uint32 tree offsets, 16-byte node
// records, one default-left byte per node. Little-endian, read byte-wise (no alignment needed).
constexpr char kMagic[4] = {'A', 'G', 'B', 'T'};
constexpr size_t kHeaderSize = 32;
constexpr size_t kNodeSize = 16;

void Put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutFloat(std::vector<uint8_t>& b, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  Put32(b, v);
}
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
float GetFloat(const uint8_t* p) {
  const uint32_t v = Get32(p);
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

Status Corrupted(const std::string& what) {
  return Status(errc::corrupted, "tree ensemble: " + what);
}

std::string Where(size_t tree, size_t node) {
  return "tree " + std::to_string(tree) + " node " + std::to_string(node);
}

// One tree's nodes [0, n): children after their parent and inside the tree, one parent each,
// bounded depth, features in range, finite numbers. `depth` gets each node's depth.
Status ValidateTree(const TreeEnsemble& e, size_t t, std::vector<int32_t>& depth) {
  const TreeNode* nodes = e.nodes.data() + e.tree_offsets[t];
  const size_t n = e.TreeSize(t);
  depth.assign(n, -1);
  depth[0] = 0;
  for (size_t i = 0; i < n; ++i) {
    const TreeNode& nd = nodes[i];
    if (depth[i] < 0) return Corrupted(Where(t, i) + " has no parent");
    if (!std::isfinite(nd.value)) return Corrupted(Where(t, i) + ": value is not finite");
    if (nd.is_leaf()) {
      if (nd.feature != -1 || nd.left != 0 || nd.right != 0) {
        return Corrupted(Where(t, i) + ": a leaf must have feature -1 and no children");
      }
      continue;
    }
    if (nd.feature >= e.num_features) {
      return Corrupted(Where(t, i) + ": feature " + std::to_string(nd.feature) +
                       " is not below the input width " + std::to_string(e.num_features));
    }
    for (int32_t c : {nd.left, nd.right}) {
      if (c <= static_cast<int64_t>(i) || static_cast<size_t>(c) >= n) {
        return Corrupted(Where(t, i) + ": child " + std::to_string(c) +
                         " must be after the node and inside its tree (" + std::to_string(n) +
                         " nodes)");
      }
      if (depth[c] >= 0) return Corrupted(Where(t, c) + " has two parents");
      depth[c] = depth[i] + 1;
      if (depth[c] > kMaxTreeDepth) {
        return Corrupted("tree " + std::to_string(t) + " is deeper than " +
                         std::to_string(kMaxTreeDepth));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateTreeEnsemble(const TreeEnsemble& e) {
  if (e.num_features < 1 || static_cast<uint32_t>(e.num_features) > kMaxTreeFeatures) {
    return Corrupted("input width " + std::to_string(e.num_features) + " is out of range");
  }
  if (e.tree_offsets.empty() || e.tree_offsets.size() > kMaxTrees) {
    return Corrupted("number of trees " + std::to_string(e.tree_offsets.size()) +
                     " is out of range (1.." + std::to_string(kMaxTrees) + ")");
  }
  if (e.nodes.size() > kMaxTreeNodes) return Corrupted("too many nodes");
  if (!std::isfinite(e.base_score)) return Corrupted("base score is not finite");
  if (e.tree_offsets[0] != 0) return Corrupted("tree 0 must start at node 0");
  for (size_t t = 0; t < e.tree_offsets.size(); ++t) {
    const uint32_t end = t + 1 < e.tree_offsets.size() ? e.tree_offsets[t + 1]
                                                       : static_cast<uint32_t>(e.nodes.size());
    if (end <= e.tree_offsets[t] || end > e.nodes.size()) {
      return Corrupted("tree " + std::to_string(t) + ": offsets must increase within the nodes");
    }
  }
  std::vector<int32_t> depth;
  for (size_t t = 0; t < e.tree_offsets.size(); ++t) {
    if (Status st = ValidateTree(e, t, depth); !st.ok()) return st;
  }
  return Status::Ok();
}

int TreeDepth(const TreeEnsemble& e, size_t t) {
  const TreeNode* nodes = e.nodes.data() + e.tree_offsets[t];
  const size_t n = e.TreeSize(t);
  std::vector<int32_t> depth(n, 0);
  int deepest = 0;
  for (size_t i = 0; i < n; ++i) {
    deepest = std::max(deepest, depth[i]);
    if (!nodes[i].is_leaf()) depth[nodes[i].left] = depth[nodes[i].right] = depth[i] + 1;
  }
  return deepest;
}

std::vector<uint8_t> EncodeTreeEnsemble(const TreeEnsemble& e) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + 4 * e.tree_offsets.size() + (kNodeSize + 1) * e.nodes.size());
  for (char c : kMagic) b.push_back(static_cast<uint8_t>(c));
  b.push_back(static_cast<uint8_t>(kTreeEnsembleVersion));
  b.push_back(static_cast<uint8_t>(kTreeEnsembleVersion >> 8));
  b.push_back(0);  // flags (reserved)
  b.push_back(0);
  Put32(b, static_cast<uint32_t>(e.num_features));
  Put32(b, static_cast<uint32_t>(e.tree_offsets.size()));
  Put32(b, static_cast<uint32_t>(e.nodes.size()));
  PutFloat(b, e.base_score);
  Put32(b, 1);  // outputs per row
  Put32(b, 0);  // reserved
  for (uint32_t off : e.tree_offsets) Put32(b, off);
  for (const TreeNode& nd : e.nodes) {
    Put32(b, static_cast<uint32_t>(nd.feature));
    PutFloat(b, nd.value);
    Put32(b, static_cast<uint32_t>(nd.left));
    Put32(b, static_cast<uint32_t>(nd.right));
  }
  for (const TreeNode& nd : e.nodes) b.push_back(nd.default_left ? 1 : 0);
  return b;
}

Result<TreeEnsemble> DecodeTreeEnsemble(const uint8_t* data, size_t size) {
  if (data == nullptr || size < kHeaderSize) return Corrupted("options shorter than the header");
  if (std::memcmp(data, kMagic, 4) != 0) return Corrupted("options do not start with AGBT");
  const uint32_t version = static_cast<uint32_t>(data[4]) | static_cast<uint32_t>(data[5]) << 8;
  if (version != kTreeEnsembleVersion) {
    return Status(errc::unsupported, "tree ensemble: options version " + std::to_string(version) +
                                         " (this build reads " +
                                         std::to_string(kTreeEnsembleVersion) + ")");
  }
  if (data[6] != 0 || data[7] != 0 || Get32(data + 28) != 0) {
    return Corrupted("reserved header fields must be 0");
  }
  if (Get32(data + 24) != 1) return Corrupted("outputs per row must be 1");
  const uint32_t features = Get32(data + 8), trees = Get32(data + 12), nodes = Get32(data + 16);
  if (features < 1 || features > kMaxTreeFeatures || trees < 1 || trees > kMaxTrees ||
      nodes > kMaxTreeNodes) {
    return Corrupted("input width, tree or node count out of range");
  }
  const uint64_t expect = kHeaderSize + 4ull * trees + (kNodeSize + 1ull) * nodes;
  if (size != expect) {
    return Corrupted("options are " + std::to_string(size) + " bytes, the header implies " +
                     std::to_string(expect));
  }
  TreeEnsemble e;
  e.num_features = static_cast<int32_t>(features);
  e.base_score = GetFloat(data + 20);
  const uint8_t* p = data + kHeaderSize;
  e.tree_offsets.resize(trees);
  for (uint32_t t = 0; t < trees; ++t, p += 4) e.tree_offsets[t] = Get32(p);
  e.nodes.resize(nodes);
  for (TreeNode& nd : e.nodes) {
    nd.feature = static_cast<int32_t>(Get32(p));
    nd.value = GetFloat(p + 4);
    nd.left = static_cast<int32_t>(Get32(p + 8));
    nd.right = static_cast<int32_t>(Get32(p + 12));
    p += kNodeSize;
  }
  for (uint32_t i = 0; i < nodes; ++i, ++p) {
    if (*p > 1) return Corrupted("default-left byte of node " + std::to_string(i) + " is not 0/1");
    e.nodes[i].default_left = *p == 1;
  }
  if (Status st = ValidateTreeEnsemble(e); !st.ok()) return st;
  return e;
}

namespace kernels {

void TreeEnsembleRef(const TreeEnsemble& e, const float* in, int rows, float* margin) {
  const size_t f = static_cast<size_t>(e.num_features);
  for (int r = 0; r < rows; ++r) {
    const float* x = in + static_cast<size_t>(r) * f;
    float acc = e.base_score;
    for (uint32_t off : e.tree_offsets) {
      const TreeNode* tree = e.nodes.data() + off;
      int32_t i = 0;
      while (!tree[i].is_leaf()) {
        const float v = x[tree[i].feature];
        const bool left = v < tree[i].value || (std::isnan(v) && tree[i].default_left);
        i = left ? tree[i].left : tree[i].right;
      }
      acc += tree[i].value;
    }
    margin[r] = acc;
  }
}

PackedTrees PackTrees(const TreeEnsemble& e) {
  PackedTrees p;
  p.num_features = e.num_features;
  p.base_score = e.base_score;
  p.nodes.resize(e.nodes.size());
  for (size_t t = 0; t < e.num_trees(); ++t) {
    const uint32_t off = e.tree_offsets[t];
    p.root.push_back(off);
    for (size_t i = 0; i < e.TreeSize(t); ++i) {
      const TreeNode& nd = e.nodes[off + i];
      PackedNode& pn = p.nodes[off + i];
      const auto self = static_cast<int32_t>(off + i);
      pn.value = nd.value;
      if (nd.is_leaf()) {
        pn.feature = kPackedLeaf;
        pn.left = pn.right = self;
      } else {
        pn.feature =
            static_cast<uint32_t>(nd.feature) | (nd.default_left ? kPackedMissingLeft : 0u);
        pn.left = static_cast<int32_t>(off) + nd.left;
        pn.right = static_cast<int32_t>(off) + nd.right;
      }
    }
  }
  return p;
}

namespace {

// One step down from node `k` for the row `x` (a leaf stays where it is). Branches, like the
// reference: on real data the paths are predictable and a predicted branch lets the next node's
// load start before the comparison is done (a branch-free select serialises the walk).
inline int32_t Step(const PackedNode* nodes, int32_t k, const float* x) {
  const PackedNode& nd = nodes[k];
  const float v = x[nd.feature & kPackedFeatureMask];
  if (v < nd.value || (std::isnan(v) && (nd.feature & kPackedMissingLeft) != 0)) return nd.left;
  return nd.right;
}

// The same without a branch (a select): for the four-row walks, whose independent chains hide the
// load latency, and which mispredict often when the rows go different ways.
inline int32_t StepSelect(const PackedNode* nodes, int32_t k, const float* x) {
  const PackedNode& nd = nodes[k];
  const float v = x[nd.feature & kPackedFeatureMask];
  const bool left = (v < nd.value) | (std::isnan(v) & ((nd.feature & kPackedMissingLeft) != 0));
  return left ? nd.left : nd.right;
}

inline bool AtLeaf(const PackedNode* nodes, int32_t k) {
  return (nodes[k].feature & kPackedLeaf) != 0;
}

// Adds tree `root`'s leaf value to acc[0..n) for the n rows at x: four rows walk together (four
// independent load chains, until all four are at a leaf; leaves loop on themselves), the rest one
// by one. Validation bounds the depth, so the walks end.
void AddTree(const PackedNode* nodes, int32_t root, const float* x, size_t f, int n, float* acc) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* x0 = x + static_cast<size_t>(i) * f;
    int32_t a = root, b = root, c = root, d = root;
    while (!(AtLeaf(nodes, a) && AtLeaf(nodes, b) && AtLeaf(nodes, c) && AtLeaf(nodes, d))) {
      a = StepSelect(nodes, a, x0);
      b = StepSelect(nodes, b, x0 + f);
      c = StepSelect(nodes, c, x0 + 2 * f);
      d = StepSelect(nodes, d, x0 + 3 * f);
    }
    acc[i] += nodes[a].value;
    acc[i + 1] += nodes[b].value;
    acc[i + 2] += nodes[c].value;
    acc[i + 3] += nodes[d].value;
  }
  for (; i < n; ++i) {
    int32_t a = root;
    while (!AtLeaf(nodes, a)) a = Step(nodes, a, x + static_cast<size_t>(i) * f);
    acc[i] += nodes[a].value;
  }
}

}  // namespace

void TreeEnsembleOpt(const PackedTrees& p, const float* in, int rows, float* margin) {
  constexpr int kBlock = 64;
  const size_t f = static_cast<size_t>(p.num_features);
  float acc[kBlock];
  for (int r0 = 0; r0 < rows; r0 += kBlock) {
    const int n = std::min(kBlock, rows - r0);
    const float* x = in + static_cast<size_t>(r0) * f;
    for (int i = 0; i < n; ++i) acc[i] = p.base_score;
    for (uint32_t root : p.root) {
      AddTree(p.nodes.data(), static_cast<int32_t>(root), x, f, n, acc);
    }
    for (int i = 0; i < n; ++i) margin[r0 + i] = acc[i];
  }
}

}  // namespace kernels
}  // namespace aiot::ml
