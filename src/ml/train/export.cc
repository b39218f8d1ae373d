#include "ml/train/export.h"

#include <functional>
#include <map>

namespace aiot::ml {

GraphSpec BuildFloatGraph(const Mlp& m, const ModelMetadata& metadata) {
  GraphSpec g;
  g.name = "main";
  g.description = "aiot " + (metadata.name.empty() ? std::string("model") : metadata.name);
  const int f = m.num_inputs();
  auto add = [&](std::string name, std::vector<int32_t> shape, std::vector<uint8_t> data = {}) {
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.data = std::move(data);
    g.tensors.push_back(std::move(t));
    return static_cast<int32_t>(g.tensors.size() - 1);
  };
  std::vector<float> inv(f);
  for (int i = 0; i < f; ++i) inv[i] = 1.f / m.norm.stddev[i];
  const int32_t input = add("features", {1, f});
  const int32_t mean = add("normalization/mean", {f}, ToBytes(m.norm.mean));
  const int32_t centered = add("normalization/centered", {1, f});
  const int32_t inv_std = add("normalization/inv_stddev", {f}, ToBytes(inv));
  const int32_t normalized = add("normalization/output", {1, f});
  g.inputs = {input};
  OpSpec sub;
  sub.builtin_code = static_cast<int32_t>(Op::kSub);
  sub.inputs = {input, mean};
  sub.outputs = {centered};
  g.ops.push_back(sub);
  OpSpec mul;
  mul.builtin_code = static_cast<int32_t>(Op::kMul);
  mul.inputs = {centered, inv_std};
  mul.outputs = {normalized};
  g.ops.push_back(mul);
  int32_t cur = normalized;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const DenseLayer& L = m.layers[l];
    const std::string prefix = "dense_" + std::to_string(l);
    const int32_t w = add(prefix + "/weights", {L.outputs, L.inputs}, ToBytes(L.weights));
    const int32_t b = add(prefix + "/bias", {L.outputs}, ToBytes(L.bias));
    const int32_t out =
        add(prefix + (l + 1 < m.layers.size() ? "/relu" : "/logits"), {1, L.outputs});
    OpSpec fc;
    fc.builtin_code = static_cast<int32_t>(Op::kFullyConnected);
    fc.inputs = {cur, w, b};
    fc.outputs = {out};
    fc.activation = L.relu ? Activation::kRelu : Activation::kNone;
    g.ops.push_back(fc);
    cur = out;
  }
  const int32_t score =
      add(m.output == OutputKind::kSigmoid ? "score" : "probabilities", {1, m.num_outputs()});
  OpSpec act;
  act.builtin_code =
      static_cast<int32_t>(m.output == OutputKind::kSigmoid ? Op::kLogistic : Op::kSoftmax);
  act.inputs = {cur};
  act.outputs = {score};
  g.ops.push_back(act);
  g.outputs = {score};
  g.metadata.emplace_back(kMetadataName, EncodeMetadata(metadata));
  return g;
}

GraphSpec BuildTreeGraph(const TreeEnsemble& trees, const ModelMetadata& metadata, bool regression,
                         TreeEncoding encoding) {
  GraphSpec g;
  g.name = "main";
  g.description = "aiot " + (metadata.name.empty() ? std::string("model") : metadata.name);
  auto add = [&](std::string name, std::vector<int32_t> shape) {
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    g.tensors.push_back(std::move(t));
    return static_cast<int32_t>(g.tensors.size() - 1);
  };
  const int32_t input = add("features", {1, trees.num_features});
  const int32_t margin = add(regression ? "prediction" : "trees/margin", {1, 1});
  const int32_t score = regression ? margin : add("score", {1, 1});
  OpSpec op;
  op.builtin_code = static_cast<int32_t>(Op::kCustom);
  op.custom_code = kTreeEnsembleOp;
  op.custom_options = EncodeTreeEnsemble(trees, encoding);
  op.inputs = {input};
  op.outputs = {margin};
  g.ops.push_back(std::move(op));
  if (!regression) {
    OpSpec act;
    act.builtin_code = static_cast<int32_t>(Op::kLogistic);
    act.inputs = {margin};
    act.outputs = {score};
    g.ops.push_back(act);
  }
  g.inputs = {input};
  g.outputs = {score};
  g.metadata.emplace_back(kMetadataName, EncodeMetadata(metadata));
  return g;
}

namespace {

int32_t AddTensor(GraphSpec& g, std::string name, std::vector<int32_t> shape,
                  std::vector<uint8_t> data = {}, TensorType type = TensorType::kFloat32) {
  TensorSpec t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.data = std::move(data);
  t.type = type;
  g.tensors.push_back(std::move(t));
  return static_cast<int32_t>(g.tensors.size() - 1);
}

OpSpec MakeOp(Op op, std::vector<int32_t> inputs, int32_t output) {
  OpSpec o;
  o.builtin_code = static_cast<int32_t>(op);
  o.inputs = std::move(inputs);
  o.outputs = {output};
  return o;
}

Op BinaryOp(DeriveStep::Kind k) {
  switch (k) {
    case DeriveStep::Kind::kAdd:
      return Op::kAdd;
    case DeriveStep::Kind::kSub:
      return Op::kSub;
    case DeriveStep::Kind::kMul:
      return Op::kMul;
    default:
      return Op::kDiv;
  }
}

// Builds one derived feature's ops (appended to `ops`); returns its [1,1] tensor. `columns` maps
// a column index (raw, then derived) to its [1,1] tensor, creating raw slices on first use.
int32_t CompileDerived(GraphSpec& g, std::vector<OpSpec>& ops, const DerivedFeature& d,
                       const std::function<int32_t(int)>& column) {
  std::vector<int32_t> stack;  // tensor indices (constants are scalar constant tensors)
  int tmp = 0;
  for (size_t i = 0; i < d.steps.size(); ++i) {
    const DeriveStep& s = d.steps[i];
    if (s.kind == DeriveStep::Kind::kColumn) {
      stack.push_back(column(s.column));
    } else if (s.kind == DeriveStep::Kind::kConstant) {
      stack.push_back(AddTensor(g, "derived/" + d.name + "/c" + std::to_string(tmp++), {1},
                                ToBytes(std::vector<float>{s.value})));
    } else {
      const int32_t b = stack.back();
      stack.pop_back();
      const int32_t a = stack.back();
      const bool last = i + 1 == d.steps.size();
      const int32_t out = AddTensor(
          g, "derived/" + d.name + (last ? std::string() : "/t" + std::to_string(tmp++)), {1, 1});
      ops.push_back(MakeOp(BinaryOp(s.kind), {a, b}, out));
      stack.back() = out;
    }
  }
  return stack.back();
}

}  // namespace

GraphSpec WithDerivedFeatures(GraphSpec g, int raw_cols,
                              const std::vector<DerivedFeature>& derived) {
  if (derived.empty() || g.inputs.empty()) return g;
  const int32_t all = g.inputs[0];
  g.tensors[all].name = "derived/features";
  const int32_t input = AddTensor(g, "features", {1, raw_cols});
  const int32_t size = AddTensor(g, "derived/slice_size", {2}, ToBytes(std::vector<int32_t>{1, 1}),
                                 TensorType::kInt32);
  std::vector<OpSpec> ops;
  std::map<int, int32_t> slices;
  std::vector<int32_t> outputs;
  auto column = [&](int c) -> int32_t {
    if (c >= raw_cols) return outputs[static_cast<size_t>(c - raw_cols)];
    if (auto it = slices.find(c); it != slices.end()) return it->second;
    const int32_t begin = AddTensor(g, "derived/begin_" + std::to_string(c), {2},
                                    ToBytes(std::vector<int32_t>{0, c}), TensorType::kInt32);
    const int32_t col = AddTensor(g, "derived/column_" + std::to_string(c), {1, 1});
    ops.push_back(MakeOp(Op::kSlice, {input, begin, size}, col));
    return slices[c] = col;
  };
  for (const DerivedFeature& d : derived) outputs.push_back(CompileDerived(g, ops, d, column));
  std::vector<int32_t> concat_inputs{input};
  concat_inputs.insert(concat_inputs.end(), outputs.begin(), outputs.end());
  OpSpec concat = MakeOp(Op::kConcatenation, concat_inputs, all);
  concat.axis = 1;
  ops.push_back(std::move(concat));
  g.ops.insert(g.ops.begin(), ops.begin(), ops.end());
  g.inputs[0] = input;
  return g;
}

ModelMetadata MakeMetadata(const Dataset& data, const std::vector<size_t>& train_rows,
                           const Mlp& model, const EvalReport& r, const std::string& name) {
  return MakeMetadata(data, train_rows, model.norm, r, name);
}

ModelMetadata MakeMetadata(const Dataset& data, const std::vector<size_t>& train_rows,
                           const Normalization& norm, const EvalReport& r,
                           const std::string& name) {
  ModelMetadata md;
  md.name = name;
  md.label = data.label_name;
  md.class_names = data.class_names;
  md.training_data_sha256 = data.sha256;
  md.training_rows = train_rows.size();
  md.decision_threshold = static_cast<float>(r.threshold);
  // The drift reference is the healthy operating data the model was trained on (class 0): live
  // telemetry is mostly healthy, and a profile that mixes in the faulty rows would call a healthy
  // fleet drifted. All training rows when there are no labels or no healthy row.
  std::vector<size_t> reference;
  for (size_t row : train_rows) {
    if (row < data.y.size() && data.y[row] == 0) reference.push_back(row);
  }
  if (reference.empty()) reference = train_rows;
  for (size_t j = 0; j < data.cols; ++j) {
    FeatureInfo fi;
    fi.name = data.feature_names[j];
    fi.mean = norm.mean[j];
    fi.stddev = norm.stddev[j];
    std::vector<float> values;
    values.reserve(reference.size());
    for (size_t row : reference) values.push_back(data.Row(row)[j]);
    ComputeProfile(std::move(values), &fi);
    md.features.push_back(std::move(fi));
  }
  md.metrics = {{"test_accuracy", r.accuracy}, {"test_precision", r.precision},
                {"test_recall", r.recall},     {"test_f1", r.f1},
                {"test_roc_auc", r.roc_auc},   {"test_samples", static_cast<double>(r.samples)}};
  return md;
}

}  // namespace aiot::ml
