// `aiot eval`: metrics of a .tflite model on a labeled CSV.
#include <iostream>

#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"

namespace aiot::cli {
namespace {

struct EvalArgs {
  std::string model, data, label, label_map, features;
  double threshold = -1;
};

int RunEval(const EvalArgs& a) {
  auto model = ml::Model::FromFile(a.model);
  if (!model.ok()) {
    std::cerr << "aiot eval: " << model.status().message() << "\n";
    return kExitFailure;
  }
  const auto& md = (*model)->metadata();
  ml::DatasetSchema schema = ml::SchemaFor(md);
  if (!a.label.empty()) schema.label = a.label;
  if (!a.features.empty()) schema.features = ml::SplitList(a.features);
  if (schema.label.empty() || schema.features.empty()) {
    std::cerr << "aiot eval: the model has no aiot metadata; pass --label and --features\n";
    return kExitUsage;
  }
  if (!a.label_map.empty()) {
    schema.label_map.clear();
    if (!ml::ParseLabelMap(a.label_map, &schema.label_map)) {
      std::cerr << "aiot eval: --label-map must look like ok=0,fault=1\n";
      return kExitUsage;
    }
  }
  auto data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot eval: " << data.status().message() << "\n";
    return kExitFailure;
  }
  const double threshold = a.threshold >= 0 ? a.threshold : md.decision_threshold;
  auto report = ml::EvaluateModel((*model)->bytes(), *data, threshold);
  if (!report.ok()) {
    std::cerr << "aiot eval: " << report.status().message() << "\n";
    return kExitFailure;
  }
  std::cout << "{\"model\":" << ml::JsonString(a.model) << ",\"data\":" << ml::JsonString(a.data)
            << ",\"report\":" << ml::ToJson(*report) << "}\n";
  return kExitOk;
}

void RegisterEval(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd =
      root.add_subcommand("eval", "Evaluate a .tflite model on a labeled CSV (JSON report)");
  cmd->add_option("--model", a->model, ".tflite model")->required();
  cmd->add_option("--data", a->data, "CSV with the model's feature columns and a label")
      ->required();
  cmd->add_option("--label", a->label, "Label column (default: from the model's metadata)");
  cmd->add_option("--label-map", a->label_map, "Map text labels to classes: ok=0,fault=1");
  cmd->add_option("--features", a->features, "Feature columns (default: from the metadata)");
  cmd->add_option("--threshold", a->threshold, "Decision threshold (default: from the metadata)");
  cmd->callback([&ctx, a] { ctx.run = [a] { return RunEval(*a); }; });
}

}  // namespace

AIOT_COMMAND(eval, 42, RegisterEval);

}  // namespace aiot::cli
