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
  ml::DatasetSchema schema;
  schema.label = a.label.empty() ? md.label : a.label;
  schema.features = a.features.empty() ? md.feature_names() : ml::SplitList(a.features);
  if (schema.label.empty() || schema.features.empty()) {
    std::cerr << "aiot eval: the model has no aiot metadata; pass --label and --features\n";
    return kExitUsage;
  }
  if (!a.label_map.empty()) {
    if (!ml::ParseLabelMap(a.label_map, &schema.label_map)) {
      std::cerr << "aiot eval: --label-map must look like ok=0,fault=1\n";
      return kExitUsage;
    }
  } else {
    // Text class names recorded at training time map labels back to classes.
    for (size_t c = 0; c < md.class_names.size(); ++c) {
      if (md.class_names[c] != std::to_string(c))
        schema.label_map[md.class_names[c]] = static_cast<int>(c);
    }
  }
  auto data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot eval: " << data.status().message() << "\n";
    return kExitFailure;
  }
  auto scores = ml::ScoreRows((*model)->bytes(), *data);
  if (!scores.ok()) {
    std::cerr << "aiot eval: " << scores.status().message() << "\n";
    return kExitFailure;
  }
  const int width = static_cast<int>(scores->size() / std::max<size_t>(1, data->rows));
  const int k = width == 1 ? 2 : width;
  const double threshold = a.threshold >= 0 ? a.threshold : md.decision_threshold;
  auto report = ml::Evaluate(*scores, data->y, k, threshold);
  std::cout << "{\"model\":" << ml::JsonString(a.model) << ",\"data\":" << ml::JsonString(a.data)
            << ",\"report\":" << ml::ToJson(report) << "}\n";
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
