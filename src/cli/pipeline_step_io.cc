#include "cli/pipeline_step_io.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <utility>

#include "base/errc.h"
#include "base/file.h"
#include "base/sha256.h"
#include "ml/data/csv.h"
#include "pipeline/dag.h"

namespace aiot::cli::steps {

std::string StepArgs::File(const std::string& name) const {
  return (std::filesystem::path(run_dir) / name).string();
}

CLI::App* AddStep(CLI::App& step_cmd, const char* name, const char* help, StepArgs& args) {
  auto* cmd = step_cmd.add_subcommand(name, help);
  cmd->add_option("--run-dir", args.run_dir, "The run's directory (inputs and outputs)")
      ->required();
  cmd->add_option("--model", args.model, "Model name (default: the configured model_name)");
  return cmd;
}

void HoldForTest(std::string_view step) {
  const char* hold = std::getenv("AIOT_TEST_PIPELINE_HOLD");
  if (hold == nullptr) return;
  const std::string_view spec(hold);
  const size_t colon = spec.find(':');
  if (colon == std::string_view::npos || spec.substr(0, colon) != step) return;
  const std::string file(spec.substr(colon + 1));
  if (!WriteFileAtomic(file, std::to_string(::getpid()) + "\n").ok()) return;
  for (;;) ::pause();  // until killed
}

int Fail(std::string_view step, std::string_view why) {
  std::cerr << "aiot pipeline step " << step << ": " << why << "\n";
  return pipeline::kStepFailed;
}

int Usage(std::string_view step, std::string_view why) {
  std::cerr << "aiot pipeline step " << step << ": " << why << "\n";
  return pipeline::kStepUsage;
}

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(errc::io_error, "cannot create " + dir + ": " + ec.message());
  return {};
}

Status WriteJson(const std::string& path, const nlohmann::json& j) {
  return WriteFileAtomic(path, j.dump(2) + "\n");
}

Result<nlohmann::json> ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(errc::not_found, "cannot open " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(errc::parse_error, path + " is not a JSON object");
  }
  return j;
}

Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(errc::not_found, "cannot open " + path);
  Sha256 h;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    h.Update(buf, static_cast<size_t>(in.gcount()));
  }
  const auto digest = h.Final();
  return ToHex(digest.data(), digest.size());
}

Result<int64_t> ParseDuration(std::string_view text) {
  static constexpr std::pair<char, int64_t> kUnits[] = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  const auto bad = [&] {
    return Status(errc::invalid_argument, "duration `" + std::string(text) +
                                              "` must be a positive number with a unit s, m, h, "
                                              "d or w (7d)");
  };
  if (text.size() < 2 || text.size() > 12) return bad();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  for (const auto& [unit, seconds] : kUnits) {
    if (text.back() == unit && n > 0 && n <= int64_t{100} * 365 * 86400 / seconds) {
      return n * seconds * 1'000'000'000;
    }
  }
  return bad();
}

std::string TimeText(int64_t unix_ns) {
  const std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

namespace {

bool InWindow(const std::string& time, const RowFilter& f) {
  return (f.time_from.empty() || time >= f.time_from) && (f.time_to.empty() || time < f.time_to);
}

}  // namespace

Result<ml::Dataset> LoadRows(const std::string& path, ml::DatasetSchema schema,
                             const RowFilter& filter, std::vector<std::string>* times) {
  auto table = ml::ReadCsvFile(path);
  if (!table.ok()) return table.status();
  if (schema.features.empty()) {
    for (const std::string& c : table->header) {
      if (c != kDeviceColumn && c != kTimeColumn && c != schema.label) {
        schema.features.push_back(c);
      }
    }
  }
  std::vector<int> used;
  for (const std::string& c : schema.features) used.push_back(table->Column(c));
  if (!schema.label.empty()) used.push_back(table->Column(schema.label));
  const int time_col = table->Column(kTimeColumn);
  const bool by_time = !filter.time_from.empty() || !filter.time_to.empty();
  if (by_time && time_col < 0) {
    return Status(errc::invalid_argument, path + ": no " + kTimeColumn + " column");
  }
  ml::CsvTable kept;
  kept.header = table->header;
  if (times != nullptr) times->clear();
  for (auto& row : table->rows) {
    if (by_time && !InWindow(row[time_col], filter)) continue;
    bool complete = true;
    for (int c : used) complete = complete && (c < 0 || !row[c].empty());
    if (!complete) continue;
    if (times != nullptr) times->push_back(time_col >= 0 ? row[time_col] : std::string());
    kept.rows.push_back(std::move(row));
  }
  auto data = ml::BuildDataset(kept, schema);
  if (!data.ok()) return Status(data.status().code(), path + ": " + data.status().message());
  auto sha = FileSha256(path);
  if (sha.ok()) data->sha256 = *sha;
  return data;
}

std::string ModelName(const StepArgs& args, Context& ctx) {
  return args.model.empty() ? ctx.Config().model_name : args.model;
}

Result<double> MetricOf(const ml::EvalReport& r, std::string_view metric) {
  if (metric == "f1") return r.f1;
  if (metric == "accuracy") return r.accuracy;
  if (metric == "precision") return r.precision;
  if (metric == "recall") return r.recall;
  if (metric == "roc_auc") return r.roc_auc;
  return Status(errc::invalid_argument, "metric `" + std::string(metric) +
                                            "` is not one of f1, accuracy, precision, recall, "
                                            "roc_auc");
}

nlohmann::json ReportJson(const ml::EvalReport& r) {
  auto j = nlohmann::json::parse(ml::ToJson(r), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

}  // namespace aiot::cli::steps
