// `aiot quantize`: post-training int8 quantization of a float aiot model.
#include <iostream>

#include "base/file.h"
#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"

namespace aiot::cli {
namespace {

struct QuantizeArgs {
  std::string model, data, out, features;
  bool per_channel = false;
  size_t rows = 2000;
};

int RunQuantize(const QuantizeArgs& a) {
  auto model = ml::Model::FromFile(a.model);
  if (!model.ok()) {
    std::cerr << "aiot quantize: " << model.status().message() << "\n";
    return kExitFailure;
  }
  ml::DatasetSchema schema;
  schema.features =
      a.features.empty() ? (*model)->metadata().feature_names() : ml::SplitList(a.features);
  if (schema.features.empty()) {
    std::cerr << "aiot quantize: the model has no aiot metadata; pass --features\n";
    return kExitUsage;
  }
  auto data = ml::LoadDataset(a.data, schema);
  if (!data.ok()) {
    std::cerr << "aiot quantize: " << data.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<size_t> rows;
  for (size_t i = 0; i < data->rows && (a.rows == 0 || i < a.rows); ++i) rows.push_back(i);
  ml::QuantizeOptions qo;
  qo.per_channel = a.per_channel;
  auto q = ml::QuantizeModel((*model)->bytes(), data->Subset(rows), qo);
  if (!q.ok()) {
    std::cerr << "aiot quantize: " << q.status().message() << "\n";
    return kExitFailure;
  }
  if (Status s = WriteFileAtomic(a.out, *q); !s.ok()) {
    std::cerr << "aiot quantize: " << s.message() << "\n";
    return kExitFailure;
  }
  // Agreement with the float model on all rows of the data.
  auto fs = ml::ScoreRows((*model)->bytes(), *data);
  auto qs = ml::ScoreRows(*q, *data);
  if (!fs.ok() || !qs.ok()) {
    std::cerr << "aiot quantize: " << (fs.ok() ? qs : fs).status().message() << "\n";
    return kExitFailure;
  }
  const int width = static_cast<int>(fs->size() / std::max<size_t>(1, data->rows));
  const ml::Agreement agree = ml::DecisionAgreement(*fs, *qs, width <= 1 ? 2 : width,
                                                    (*model)->metadata().decision_threshold);
  std::cout << "{\"model\":" << ml::JsonString(a.out) << ",\"bytes\":" << q->size()
            << ",\"calibration_rows\":" << rows.size()
            << ",\"per_channel\":" << (a.per_channel ? "true" : "false")
            << ",\"decision_agreement\":" << ml::JsonNumber(agree.decisions)
            << ",\"max_score_diff\":" << ml::JsonNumber(agree.max_score_diff) << "}\n";
  return kExitOk;
}

void RegisterQuantize(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = root.add_subcommand("quantize", "Post-training int8 quantization of a float model");
  cmd->add_option("--model", a->model, "Float .tflite model")->required();
  cmd->add_option("--data", a->data, "CSV of representative rows for calibration")->required();
  cmd->add_option("--out", a->out, "Output int8 .tflite")->required();
  cmd->add_option("--rows", a->rows, "Calibration rows to use (0 = all)")->capture_default_str();
  cmd->add_option("--features", a->features, "Feature columns (default: from the metadata)");
  cmd->add_flag("--per-channel", a->per_channel, "Per-channel weights (default per-tensor)");
  cmd->callback([&ctx, a] { ctx.run = [a] { return RunQuantize(*a); }; });
}

}  // namespace

AIOT_COMMAND(quantize, 41, RegisterQuantize);

}  // namespace aiot::cli
