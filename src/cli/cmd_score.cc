// `aiot score`: CSV in, CSV out with score and fault columns.
#include <fstream>
#include <iostream>

#include "base/csv.h"
#include "cli/command.h"
#include "ml/data/csv.h"
#include "ml/data/dataset.h"
#include "ml/runtime/model.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"

namespace aiot::cli {
namespace {

struct ScoreArgs {
  std::string model, data, out, features;
};

int RunScore(const ScoreArgs& a) {
  auto model = ml::Model::FromFile(a.model);
  if (!model.ok()) {
    std::cerr << "aiot score: " << model.status().message() << "\n";
    return kExitFailure;
  }
  const auto& md = (*model)->metadata();
  ml::DatasetSchema schema;
  schema.features = a.features.empty() ? md.feature_names() : ml::SplitList(a.features);
  if (schema.features.empty()) {
    std::cerr << "aiot score: the model has no aiot metadata; pass --features\n";
    return kExitUsage;
  }
  auto table = ml::ReadCsvFile(a.data);
  if (!table.ok()) {
    std::cerr << "aiot score: " << table.status().message() << "\n";
    return kExitFailure;
  }
  auto data = ml::BuildDataset(*table, schema);
  if (!data.ok()) {
    std::cerr << "aiot score: " << a.data << ": " << data.status().message() << "\n";
    return kExitFailure;
  }
  auto scores = ml::ScoreRows((*model)->bytes(), *data);
  if (!scores.ok()) {
    std::cerr << "aiot score: " << scores.status().message() << "\n";
    return kExitFailure;
  }
  const size_t width = data->rows ? scores->size() / data->rows : 1;
  const int k = width == 1 ? 2 : static_cast<int>(width);
  std::ofstream file;
  if (!a.out.empty()) {
    file.open(a.out, std::ios::trunc);
    if (!file) {
      std::cerr << "aiot score: cannot write " << a.out << "\n";
      return kExitFailure;
    }
  }
  std::ostream& os = a.out.empty() ? std::cout : file;
  for (const auto& h : table->header) os << CsvCell(h) << ",";
  if (width == 1) {
    os << "score,fault\n";
  } else {
    for (size_t c = 0; c < width; ++c) {
      os << CsvCell("p_" + (c < md.class_names.size() ? md.class_names[c] : std::to_string(c)))
         << ",";
    }
    os << "class\n";
  }
  char buf[32];
  for (size_t r = 0; r < data->rows; ++r) {
    for (const auto& cell : table->rows[r]) os << CsvCell(cell) << ",";
    const float* s = scores->data() + r * width;
    for (size_t c = 0; c < width; ++c) {
      std::snprintf(buf, sizeof(buf), "%.6g", s[c]);
      os << buf << ",";
    }
    os << ml::PredictedClass(s, k, md.decision_threshold) << "\n";
  }
  os.flush();
  if (!os) {
    std::cerr << "aiot score: write failed\n";
    return kExitFailure;
  }
  return kExitOk;
}

void RegisterScore(CLI::App& root, Context& ctx) {
  auto a = std::make_shared<ScoreArgs>();
  auto* cmd = root.add_subcommand(
      "score", "Score a CSV with a .tflite model: the input columns plus score and fault");
  cmd->add_option("--model", a->model, ".tflite model")->required();
  cmd->add_option("--data", a->data, "CSV with the model's feature columns")->required();
  cmd->add_option("--out", a->out, "Output CSV (default: stdout)");
  cmd->add_option("--features", a->features, "Feature columns (default: from the metadata)");
  cmd->callback([&ctx, a] { ctx.run = [a] { return RunScore(*a); }; });
}

}  // namespace

AIOT_COMMAND(score, 43, RegisterScore);

}  // namespace aiot::cli
