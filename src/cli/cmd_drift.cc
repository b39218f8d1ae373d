// `aiot drift`: PSI and KS per feature of a CSV against the model's training profile.
#include <iostream>
#include <vector>

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
  // Like with like: the model's profile is its healthy training rows, so when the CSV carries the
  // model's label column only its healthy rows (label 0) are compared.
  ml::DatasetSchema labelled = schema;
  labelled.label = md.label;
  for (size_t c = 0; c < md.class_names.size(); ++c) {
    labelled.label_map[md.class_names[c]] = static_cast<int>(c);
  }
  auto data =
      md.label.empty() ? ml::LoadDataset(a.data, schema) : ml::LoadDataset(a.data, labelled);
  const bool healthy_only = data.ok() && !data->y.empty();
  if (!data.ok() && !md.label.empty()) data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot drift: " << data.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<float> x;
  size_t rows = data->rows;
  if (healthy_only) {
    const size_t width = schema.features.size();
    rows = 0;
    for (size_t r = 0; r < data->rows; ++r) {
      if (data->y[r] != 0) continue;
      x.insert(x.end(), data->x.begin() + r * width, data->x.begin() + (r + 1) * width);
      ++rows;
    }
  }
  ml::DriftConfig cfg;
  cfg.ks_alpha = a.alpha;
  cfg.min_samples = 1;
  auto report = ml::CompareToReference(md, healthy_only ? x.data() : data->x.data(), rows, cfg);
  std::cout << "{\"model\":" << ml::JsonString(a.model) << ",\"data\":" << ml::JsonString(a.data)
            << ",\"rows_compared\":" << rows
            << ",\"healthy_rows_only\":" << (healthy_only ? "true" : "false")
            << ",\"report\":" << report.ToJson() << "}\n";
  return kExitOk;
}

void RegisterDrift(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<DriftArgs>();
  auto* cmd = root.add_subcommand(
      "drift",
      "Compare a CSV with the model's healthy training profile: PSI and KS per feature (JSON; "
      "with the model's label column, only the CSV's healthy rows are compared)");
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
