// `aiot drift`: PSI and KS per feature of a CSV against the model's training profile.
#include <iostream>

#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/drift/drift.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"

namespace aiot::cli {
namespace {

struct DriftArgs {
  std::string model, data;
  double alpha = 0.05;
};

int RunDrift(const DriftArgs& a) {
  auto model = ml::Model::FromFile(a.model);
  if (!model.ok()) {
    std::cerr << "aiot drift: " << model.status().message() << "\n";
    return kExitFailure;
  }
  const auto& md = (*model)->metadata();
  if (md.features.empty() || md.features[0].quantiles.empty()) {
    std::cerr << "aiot drift: the model carries no reference profile (train it with aiot train)\n";
    return kExitFailure;
  }
  ml::DatasetSchema schema;
  schema.features = md.feature_names();
  auto data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot drift: " << data.status().message() << "\n";
    return kExitFailure;
  }
  ml::DriftConfig cfg;
  cfg.ks_alpha = a.alpha;
  cfg.min_samples = 1;
  auto report = ml::CompareToReference(md, data->x.data(), data->rows, cfg);
  std::cout << "{\"model\":" << ml::JsonString(a.model) << ",\"data\":" << ml::JsonString(a.data)
            << ",\"report\":" << report.ToJson() << "}\n";
  return kExitOk;
}

void RegisterDrift(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<DriftArgs>();
  auto* cmd = root.add_subcommand(
      "drift", "Compare a CSV with the model's training data: PSI and KS per feature (JSON)");
  cmd->add_option("--model", a->model, "aiot .tflite model (carries the reference profile)")
      ->required();
  cmd->add_option("--data", a->data, "CSV with the model's feature columns")->required();
  cmd->add_option("--alpha", a->alpha, "KS family-wise significance (Bonferroni)")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.run = [a] { return RunDrift(*a); }; });
}

}  // namespace

AIOT_COMMAND(drift, 45, RegisterDrift);

}  // namespace aiot::cli
