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
// custom_options v2 (binned thresholds): the same header (offset 28: the threshold count), the tree
// offsets, uint32 table starts per feature + 1, float32 thresholds, 8-byte node records.
constexpr size_t kBinnedNodeSize = 8;
constexpr uint16_t kFileLeaf = 0xffff;
constexpr uint32_t kMaxBinnedFeatures = 0xffff;      // feature 0xffff marks a leaf
constexpr size_t kMaxBinnedTreeNodes = 0x10000;      // uint16 child index
constexpr size_t kMaxThresholdsPerFeature = 0xfffe;  // bins 0..65534, kMissingBin 65535

void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | static_cast<uint16_t>(p[1]) << 8);
}
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

TreeEnsemble BreadthFirst(const TreeEnsemble& e) {
  TreeEnsemble out;
  out.num_features = e.num_features;
  out.base_score = e.base_score;
  out.tree_offsets.reserve(e.num_trees());
  out.nodes.reserve(e.nodes.size());
  std::vector<int32_t> order, renumbered;
  for (size_t t = 0; t < e.num_trees(); ++t) {
    const TreeNode* nodes = e.nodes.data() + e.tree_offsets[t];
    const size_t n = e.TreeSize(t);
    order.assign(1, 0);
    order.reserve(n);
    for (size_t k = 0; k < order.size(); ++k) {
      const TreeNode& nd = nodes[order[k]];
      if (!nd.is_leaf()) {
        order.push_back(nd.left);
        order.push_back(nd.right);
      }
    }
    renumbered.assign(n, 0);
    for (size_t k = 0; k < order.size(); ++k) renumbered[order[k]] = static_cast<int32_t>(k);
    out.tree_offsets.push_back(static_cast<uint32_t>(out.nodes.size()));
    for (int32_t old : order) {
      TreeNode nd = nodes[old];
      if (!nd.is_leaf()) {
        nd.left = renumbered[nd.left];
        nd.right = renumbered[nd.right];
      }
      out.nodes.push_back(nd);
    }
  }
  return out;
}

std::vector<std::vector<float>> ThresholdTables(const TreeEnsemble& e) {
  std::vector<std::vector<float>> tables(static_cast<size_t>(std::max(e.num_features, 0)));
  for (const TreeNode& nd : e.nodes) {
    if (!nd.is_leaf()) tables[nd.feature].push_back(nd.value);
  }
  for (auto& t : tables) {
    std::sort(t.begin(), t.end());
    // == merges -0 and +0, which every comparison treats alike.
    t.erase(std::unique(t.begin(), t.end()), t.end());
  }
  return tables;
}

namespace {

bool TablesFit(const std::vector<std::vector<float>>& tables) {
  return std::all_of(tables.begin(), tables.end(),
                     [](const auto& t) { return t.size() <= kMaxThresholdsPerFeature; });
}

// The index of `v` in its (ascending, distinct) table; v is one of its values.
uint16_t TableIndex(const std::vector<float>& table, float v) {
  return static_cast<uint16_t>(std::lower_bound(table.begin(), table.end(), v) - table.begin());
}

std::vector<uint8_t> EncodeBinned(const TreeEnsemble& in) {
  const TreeEnsemble e = BreadthFirst(in);
  const auto tables = ThresholdTables(e);
  size_t q = 0;
  for (const auto& t : tables) q += t.size();
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + 4 * e.tree_offsets.size() + 4 * (tables.size() + 1) + 4 * q +
            kBinnedNodeSize * e.nodes.size());
  for (char c : kMagic) b.push_back(static_cast<uint8_t>(c));
  Put16(b, kTreeEnsembleVersionBinned);
  Put16(b, 0);  // flags (reserved)
  Put32(b, static_cast<uint32_t>(e.num_features));
  Put32(b, static_cast<uint32_t>(e.tree_offsets.size()));
  Put32(b, static_cast<uint32_t>(e.nodes.size()));
  PutFloat(b, e.base_score);
  Put32(b, 1);  // outputs per row
  Put32(b, static_cast<uint32_t>(q));
  for (uint32_t off : e.tree_offsets) Put32(b, off);
  uint32_t start = 0;
  for (const auto& t : tables) {
    Put32(b, start);
    start += static_cast<uint32_t>(t.size());
  }
  Put32(b, start);
  for (const auto& t : tables) {
    for (float v : t) PutFloat(b, v);
  }
  for (const TreeNode& nd : e.nodes) {
    if (nd.is_leaf()) {
      Put16(b, kFileLeaf);
      Put16(b, 0);
      PutFloat(b, nd.value);
    } else {  // breadth-first: right == left + 1
      Put16(b, static_cast<uint16_t>(nd.feature));
      Put16(b, static_cast<uint16_t>(nd.left));
      Put16(b, TableIndex(tables[nd.feature], nd.value));
      b.push_back(nd.default_left ? 1 : 0);
      b.push_back(0);
    }
  }
  return b;
}

}  // namespace

bool FitsBinnedEncoding(const TreeEnsemble& e) {
  if (e.num_features < 1 || static_cast<uint32_t>(e.num_features) > kMaxBinnedFeatures) {
    return false;
  }
  for (size_t t = 0; t < e.num_trees(); ++t) {
    if (e.TreeSize(t) > kMaxBinnedTreeNodes) return false;
  }
  return TablesFit(ThresholdTables(e));
}

std::vector<uint8_t> EncodeTreeEnsemble(const TreeEnsemble& e, TreeEncoding encoding) {
  if (encoding == TreeEncoding::kBinned && FitsBinnedEncoding(e)) return EncodeBinned(e);
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + 4 * e.tree_offsets.size() + (kNodeSize + 1) * e.nodes.size());
  for (char c : kMagic) b.push_back(static_cast<uint8_t>(c));
  Put16(b, kTreeEnsembleVersionFloat);
  Put16(b, 0);  // flags (reserved)
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

uint16_t TreeEnsembleVersion(const uint8_t* data, size_t size) {
  if (data == nullptr || size < kHeaderSize || std::memcmp(data, kMagic, 4) != 0) return 0;
  return Get16(data + 4);
}

namespace {

// Version 2 after the header: tree offsets, table starts, thresholds, 8-byte nodes.
Result<TreeEnsemble> DecodeBinned(const uint8_t* data, size_t size) {
  if (data[6] != 0 || data[7] != 0) return Corrupted("reserved header fields must be 0");
  if (Get32(data + 24) != 1) return Corrupted("outputs per row must be 1");
  const uint32_t features = Get32(data + 8), trees = Get32(data + 12), nodes = Get32(data + 16),
                 q = Get32(data + 28);
  if (features < 1 || features > kMaxBinnedFeatures || trees < 1 || trees > kMaxTrees ||
      nodes > kMaxTreeNodes || q > kMaxTreeNodes) {
    return Corrupted("input width, tree, node or threshold count out of range");
  }
  const uint64_t expect = kHeaderSize + 4ull * trees + 4ull * (features + 1ull) + 4ull * q +
                          uint64_t{kBinnedNodeSize} * nodes;
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
  std::vector<uint32_t> start(features + 1);
  for (uint32_t f = 0; f <= features; ++f, p += 4) start[f] = Get32(p);
  if (start[0] != 0 || start[features] != q) {
    return Corrupted("threshold tables must start at 0 and end at the threshold count");
  }
  for (uint32_t f = 0; f < features; ++f) {
    if (start[f + 1] < start[f] || start[f + 1] - start[f] > kMaxThresholdsPerFeature) {
      return Corrupted("feature " + std::to_string(f) + ": threshold table out of range");
    }
  }
  std::vector<float> table(q);
  for (uint32_t i = 0; i < q; ++i, p += 4) table[i] = GetFloat(p);
  for (uint32_t f = 0; f < features; ++f) {
    for (uint32_t i = start[f]; i < start[f + 1]; ++i) {
      if (!std::isfinite(table[i])) {
        return Corrupted("feature " + std::to_string(f) + ": threshold " +
                         std::to_string(i - start[f]) + " is not finite");
      }
      if (i > start[f] && !(table[i - 1] < table[i])) {
        return Corrupted("feature " + std::to_string(f) +
                         ": thresholds must be strictly increasing");
      }
    }
  }
  e.nodes.resize(nodes);
  for (uint32_t i = 0; i < nodes; ++i, p += kBinnedNodeSize) {
    TreeNode& nd = e.nodes[i];
    const uint16_t feature = Get16(p), left = Get16(p + 2);
    if (feature == kFileLeaf) {
      if (left != 0) return Corrupted("leaf node " + std::to_string(i) + " has a child");
      nd.value = GetFloat(p + 4);  // feature -1, no children
      continue;
    }
    if (feature >= features) {
      return Corrupted("node " + std::to_string(i) + ": feature " + std::to_string(feature) +
                       " is not below the input width " + std::to_string(features));
    }
    const uint16_t index = Get16(p + 4);
    if (index >= start[feature + 1] - start[feature]) {
      return Corrupted("node " + std::to_string(i) + ": threshold index " + std::to_string(index) +
                       " is outside feature " + std::to_string(feature) + "'s table");
    }
    if (p[6] > 1)
      return Corrupted("default-left byte of node " + std::to_string(i) + " is not 0/1");
    if (p[7] != 0) return Corrupted("reserved byte of node " + std::to_string(i) + " is not 0");
    nd.feature = feature;
    nd.value = table[start[feature] + index];
    nd.left = left;
    nd.right = left + 1;  // siblings are adjacent in version 2
    nd.default_left = p[6] == 1;
  }
  // Children inside the tree and after their node, one parent each, depth, finite leaf values.
  if (Status st = ValidateTreeEnsemble(e); !st.ok()) return st;
  return e;
}

}  // namespace

Result<TreeEnsemble> DecodeTreeEnsemble(const uint8_t* data, size_t size) {
  if (data == nullptr || size < kHeaderSize) return Corrupted("options shorter than the header");
  if (std::memcmp(data, kMagic, 4) != 0) return Corrupted("options do not start with AGBT");
  const uint32_t version = Get16(data + 4);
  if (version == kTreeEnsembleVersionBinned) return DecodeBinned(data, size);
  if (version != kTreeEnsembleVersionFloat) {
    return Status(errc::unsupported, "tree ensemble: options version " + std::to_string(version) +
                                         " (this build reads 1 and 2: a newer aiot wrote it)");
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

bool CanBin(const TreeEnsemble& e) {
  const auto tables = ThresholdTables(e);
  size_t used = 0;
  for (const auto& t : tables) used += t.empty() ? 0 : 1;
  return used <= kBinnedSlotMask + 1u && TablesFit(tables);
}

bool PreferBinned(const TreeEnsemble& e) { return e.nodes.size() >= kBinnedMinNodes && CanBin(e); }

BinnedTrees BinTrees(const TreeEnsemble& in) {
  const TreeEnsemble e = BreadthFirst(in);
  const auto tables = ThresholdTables(e);
  BinnedTrees b;
  b.num_features = e.num_features;
  b.base_score = e.base_score;
  std::vector<uint16_t> slot(tables.size(), 0);
  b.table_start.push_back(0);
  for (size_t f = 0; f < tables.size(); ++f) {
    if (tables[f].empty()) continue;
    slot[f] = static_cast<uint16_t>(b.slot_feature.size());
    b.slot_feature.push_back(static_cast<int32_t>(f));
    b.thresholds.insert(b.thresholds.end(), tables[f].begin(), tables[f].end());
    b.table_start.push_back(static_cast<uint32_t>(b.thresholds.size()));
  }
  b.nodes.resize(e.nodes.size());
  b.leaf_value.assign(e.nodes.size(), 0.f);
  for (size_t t = 0; t < e.num_trees(); ++t) {
    const uint32_t off = e.tree_offsets[t];
    b.root.push_back(off);
    for (size_t i = 0; i < e.TreeSize(t); ++i) {
      const TreeNode& nd = e.nodes[off + i];
      BinnedNode& bn = b.nodes[off + i];
      if (nd.is_leaf()) {  // "left" whatever the bin, to itself
        bn.slot = kBinnedLeaf;
        bn.bin = kMissingBin;
        bn.left = static_cast<int32_t>(off + i);
        b.leaf_value[off + i] = nd.value;
      } else {  // breadth-first: right == left + 1
        bn.slot =
            static_cast<uint16_t>(slot[nd.feature] | (nd.default_left ? kBinnedMissingLeft : 0));
        bn.bin = TableIndex(tables[nd.feature], nd.value);
        bn.left = static_cast<int32_t>(off) + nd.left;
      }
    }
  }
  return b;
}

namespace {

// The number of thresholds in [lo, lo + n) that are <= v (std::upper_bound's index), with a fixed
// number of steps and selects instead of branches: a row's values make the branches of a plain
// binary search unpredictable.
inline uint16_t UpperBound(const float* lo, size_t n, float v) {
  if (n == 0) return 0;
  const float* base = lo;
  while (n > 1) {
    const size_t half = n / 2;
    base = v < base[half] ? base : base + half;
    n -= half;
  }
  return static_cast<uint16_t>((base - lo) + (v < *base ? 0 : 1));
}

}  // namespace

void BinRows(const BinnedTrees& b, const float* in, int n, uint16_t* bins) {
  const size_t f = static_cast<size_t>(b.num_features), slots = b.slot_feature.size();
  const float* t = b.thresholds.data();
  for (int r = 0; r < n; ++r) {
    const float* x = in + static_cast<size_t>(r) * f;
    uint16_t* out = bins + static_cast<size_t>(r) * slots;
    for (size_t s = 0; s < slots; ++s) {
      const float v = x[b.slot_feature[s]];
      // The thresholds <= v: v < threshold[k] <=> bin <= k.
      out[s] = std::isnan(v)
                   ? kMissingBin
                   : UpperBound(t + b.table_start[s], b.table_start[s + 1] - b.table_start[s], v);
    }
  }
}

namespace {

inline bool GoesLeft(const BinnedNode& nd, uint16_t v) {
  return (v <= nd.bin) | ((v == kMissingBin) & ((nd.slot & kBinnedMissingLeft) != 0));
}

inline int32_t StepBinned(const BinnedNode* nodes, int32_t k, const uint16_t* bins) {
  const BinnedNode& nd = nodes[k];
  return nd.left + (GoesLeft(nd, bins[nd.slot & kBinnedSlotMask]) ? 0 : 1);
}

inline bool AtBinnedLeaf(const BinnedNode* nodes, int32_t k) {
  return (nodes[k].slot & kBinnedLeaf) != 0;
}

// AddTree on bins: four rows in lock-step (leaves loop on themselves), the rest one by one with
// a branch.
void AddTreeBinned(const BinnedTrees& b, int32_t root, const uint16_t* bins, size_t slots, int n,
                   float* acc) {
  const BinnedNode* nodes = b.nodes.data();
  const float* leaf = b.leaf_value.data();
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint16_t* x0 = bins + static_cast<size_t>(i) * slots;
    int32_t p = root, q = root, r = root, s = root;
    while (!(AtBinnedLeaf(nodes, p) && AtBinnedLeaf(nodes, q) && AtBinnedLeaf(nodes, r) &&
             AtBinnedLeaf(nodes, s))) {
      p = StepBinned(nodes, p, x0);
      q = StepBinned(nodes, q, x0 + slots);
      r = StepBinned(nodes, r, x0 + 2 * slots);
      s = StepBinned(nodes, s, x0 + 3 * slots);
    }
    acc[i] += leaf[p];
    acc[i + 1] += leaf[q];
    acc[i + 2] += leaf[r];
    acc[i + 3] += leaf[s];
  }
  for (; i < n; ++i) {
    const uint16_t* x = bins + static_cast<size_t>(i) * slots;
    int32_t k = root;
    while (!AtBinnedLeaf(nodes, k)) {
      const BinnedNode& nd = nodes[k];
      if (GoesLeft(nd, x[nd.slot & kBinnedSlotMask])) {
        k = nd.left;
      } else {
        k = nd.left + 1;
      }
    }
    acc[i] += leaf[k];
  }
}

}  // namespace

void TreeEnsembleBinned(const BinnedTrees& b, const float* in, int rows, float* margin,
                        uint16_t* scratch) {
  const size_t f = static_cast<size_t>(b.num_features), slots = b.slot_feature.size();
  float acc[kBinnedBlock];
  for (int r0 = 0; r0 < rows; r0 += kBinnedBlock) {
    const int n = std::min(kBinnedBlock, rows - r0);
    BinRows(b, in + static_cast<size_t>(r0) * f, n, scratch);
    for (int i = 0; i < n; ++i) acc[i] = b.base_score;
    for (uint32_t root : b.root) {
      AddTreeBinned(b, static_cast<int32_t>(root), scratch, slots, n, acc);
    }
    for (int i = 0; i < n; ++i) margin[r0 + i] = acc[i];
  }
}

}  // namespace kernels
}  // namespace aiot::ml
