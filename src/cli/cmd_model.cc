// `aiot tflite inspect`: layers, shapes, quantization parameters and metadata of a .tflite file.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"

namespace aiot::cli {
namespace {

std::string Shape(const std::vector<int32_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::string Quant(const ml::QuantParams& q) {
  if (q.empty()) return "null";
  std::string s = "{\"scale\":[";
  for (size_t i = 0; i < q.scale.size(); ++i) s += (i ? "," : "") + ml::JsonNumber(q.scale[i]);
  s += "],\"zero_point\":[";
  for (size_t i = 0; i < q.zero_point.size(); ++i) {
    s += (i ? "," : "") + std::to_string(q.zero_point[i]);
  }
  return s + "],\"quantized_dimension\":" + std::to_string(q.quantized_dimension) + "}";
}

// For an AIOT_TREE_ENSEMBLE operator: ,"trees":{...} (or the reason its options are refused).
std::string TreeSummary(const ml::OpSpec& op) {
  if (op.custom_code != ml::kTreeEnsembleOp) return "";
  auto e = ml::DecodeTreeEnsemble(op.custom_options.data(), op.custom_options.size());
  if (!e.ok()) return ",\"trees\":{\"error\":" + ml::JsonString(e.status().message()) + "}";
  int depth = 0;
  for (size_t t = 0; t < e->num_trees(); ++t) depth = std::max(depth, ml::TreeDepth(*e, t));
  const uint16_t version =
      ml::TreeEnsembleVersion(op.custom_options.data(), op.custom_options.size());
  return ",\"trees\":{\"count\":" + std::to_string(e->num_trees()) +
         ",\"options_version\":" + std::to_string(version) + ",\"thresholds\":\"" +
         (version == ml::kTreeEnsembleVersionBinned ? "binned" : "float") + "\"" +
         ",\"options_bytes\":" + std::to_string(op.custom_options.size()) +
         ",\"nodes\":" + std::to_string(e->nodes.size()) +
         ",\"max_depth\":" + std::to_string(depth) +
         ",\"features\":" + std::to_string(e->num_features) +
         ",\"base_score\":" + ml::JsonNumber(e->base_score) + "}";
}

int RunInspect(const std::string& path) {
  auto model = ml::Model::FromFile(path);
  if (!model.ok()) {
    std::cerr << "aiot tflite inspect: " << model.status().message() << "\n";
    return kExitFailure;
  }
  const auto& g = (*model)->graph();
  std::ostringstream o;
  o << "{\"file\":" << ml::JsonString(path) << ",\"bytes\":" << (*model)->bytes().size()
    << ",\"sha256\":" << ml::JsonString((*model)->sha256())
    << ",\"description\":" << ml::JsonString(g.description) << ",\"inputs\":" << Shape(g.inputs)
    << ",\"outputs\":" << Shape(g.outputs) << ",\"tensors\":[";
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    const auto& t = g.tensors[i];
    o << (i ? "," : "") << "{\"index\":" << i << ",\"name\":" << ml::JsonString(t.name)
      << ",\"type\":\"" << ml::TensorTypeName(t.type) << "\",\"shape\":" << Shape(t.shape)
      << ",\"constant\":" << (t.is_constant() ? "true" : "false")
      << ",\"quantization\":" << Quant(t.quant) << "}";
  }
  o << "],\"operators\":[";
  static const char* kActs[] = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"};
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    const int act = static_cast<int>(op.activation);
    o << (i ? "," : "") << "{\"index\":" << i << ",\"op\":"
      << ml::JsonString(op.custom_code.empty() ? ml::BuiltinOpName(op.builtin_code)
                                               : "CUSTOM:" + op.custom_code)
      << ",\"version\":" << op.version << ",\"inputs\":" << Shape(op.inputs)
      << ",\"outputs\":" << Shape(op.outputs) << ",\"activation\":\""
      << (act >= 0 && act < 6 ? kActs[act] : "?") << "\"" << TreeSummary(op) << "}";
  }
  o << "],\"metadata_entries\":[";
  for (size_t i = 0; i < g.metadata.size(); ++i) {
    o << (i ? "," : "") << "{\"name\":" << ml::JsonString(g.metadata[i].first)
      << ",\"bytes\":" << g.metadata[i].second.size() << "}";
  }
  o << "]";
  if ((*model)->has_metadata()) {
    const auto& md = (*model)->metadata();
    o << ",\"aiot_metadata\":{\"name\":" << ml::JsonString(md.name)
      << ",\"label\":" << ml::JsonString(md.label) << ",\"classes\":[";
    for (size_t i = 0; i < md.class_names.size(); ++i) {
      o << (i ? "," : "") << ml::JsonString(md.class_names[i]);
    }
    o << "],\"task\":" << ml::JsonString(md.task)
      << ",\"quantization\":" << ml::JsonString(md.quantization)
      << ",\"decision_threshold\":" << ml::JsonNumber(md.decision_threshold)
      << ",\"warning_threshold\":" << ml::JsonNumber(md.warning_threshold)
      << ",\"critical_threshold\":" << ml::JsonNumber(md.critical_threshold)
      << ",\"threshold_rule\":" << ml::JsonString(md.threshold_rule)
      << ",\"calibration\":" << ml::JsonString(md.calibration) << ",\"derived\":[";
    for (size_t i = 0; i < md.derived.size(); ++i) {
      o << (i ? "," : "") << ml::JsonString(md.derived[i]);
    }
    o << "],\"training_data_sha256\":" << ml::JsonString(md.training_data_sha256)
      << ",\"training_rows\":" << md.training_rows << ",\"features\":[";
    for (size_t i = 0; i < md.features.size(); ++i) {
      const auto& f = md.features[i];
      o << (i ? "," : "") << "{\"name\":" << ml::JsonString(f.name)
        << ",\"mean\":" << ml::JsonNumber(f.mean) << ",\"stddev\":" << ml::JsonNumber(f.stddev)
        << ",\"min\":" << ml::JsonNumber(f.min) << ",\"max\":" << ml::JsonNumber(f.max)
        << ",\"psi_edges\":[";
      for (size_t e = 0; e < f.psi_edges.size(); ++e) {
        o << (e ? "," : "") << ml::JsonNumber(f.psi_edges[e]);
      }
      o << "]}";
    }
    o << "],\"metrics\":{";
    for (size_t i = 0; i < md.metrics.size(); ++i) {
      o << (i ? "," : "") << ml::JsonString(md.metrics[i].first) << ":"
        << ml::JsonNumber(md.metrics[i].second);
    }
    o << "}}";
  }
  // Whether this runtime can execute it, and why not.
  auto scorer = ml::Scorer::Create(*model, {});
  o << ",\"runnable\":" << (scorer.ok() ? "true" : "false");
  if (!scorer.ok()) o << ",\"runtime_error\":" << ml::JsonString(scorer.status().message());
  o << "}";
  std::cout << o.str() << "\n";
  return kExitOk;
}

// `name` is `tflite`, or the deprecated `model` (hidden; says so on stderr when used).
void AddTflite(CLI::App& root, Context& ctx, const std::string& name) {
  const bool deprecated = name != "tflite";
  auto* cmd = root.add_subcommand(name, "Work with .tflite model files");
  if (deprecated) {
    cmd->group("");
    cmd->preparse_callback([name](size_t) { DeprecatedName(name, "tflite"); });
  }
  cmd->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* inspect = cmd->add_subcommand(
      "inspect", "Layers, shapes, quantization parameters and metadata of a model (JSON)");
  inspect->add_option("model", *path, ".tflite file")->required();
  inspect->callback([&ctx, path] { ctx.run = [path] { return RunInspect(*path); }; });
}

void RegisterTflite(CLI::App& root, Context& ctx) {
  AddTflite(root, ctx, "tflite");
  AddTflite(root, ctx, "model");  // until the release after next
}

}  // namespace

AIOT_COMMAND(tflite, 44, RegisterTflite);

}  // namespace aiot::cli
