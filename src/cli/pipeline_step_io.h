#pragma once

// What the `aiot pipeline step <name>` commands share (src/pipeline/README.md, "The DAG"): the
// run directory, the exit codes, JSON reports, reading the extracted CSV as data sets.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cli/command.h"
#include "ml/data/dataset.h"
#include "ml/train/metrics.h"

namespace aiot::cli::steps {

// Columns of the extracted CSV that are not features (the datastore's export writes them).
inline constexpr const char* kDeviceColumn = "DeviceID";
inline constexpr const char* kTimeColumn = "Time";

// Flags every step takes: --run-dir (required) and --model.
struct StepArgs {
  std::string run_dir;
  std::string model;
  std::string File(const std::string& name) const;
};
CLI::App* AddStep(CLI::App& step_cmd, const char* name, const char* help, StepArgs& args);

// "aiot pipeline step <step>: <why>" on stderr (the runner keeps the last line as the reason);
// returns the exit code (pipeline::kStepFailed, kStepUsage).
int Fail(std::string_view step, std::string_view why);
int Usage(std::string_view step, std::string_view why);
// The run directory, created when missing.
Status EnsureDir(const std::string& dir);

Status WriteJson(const std::string& path, const nlohmann::json& j);
// A JSON object from a file: errc::not_found or errc::parse_error naming the file.
Result<nlohmann::json> ReadJson(const std::string& path);
Result<std::string> FileSha256(const std::string& path);

// "90s", "30m", "12h", "7d", "2w" (a positive whole number and a unit) in nanoseconds.
Result<int64_t> ParseDuration(std::string_view text);
// "YYYY-MM-DD HH:MM:SS" (UTC), as the datastore's export writes the Time column.
std::string TimeText(int64_t unix_ns);

// Rows of the extracted CSV between two times (the Time column as text, `from` inclusive, `to`
// exclusive, empty = open).
struct RowFilter {
  std::string time_from, time_to;
};
// The CSV as a data set for `schema` (features empty: every column but DeviceID, Time and the
// label). Rows with an empty cell in a column the schema uses are left out (the extracted data
// keeps them so that `validate` can count them); `times` (optional) gets the Time of each row kept.
Result<ml::Dataset> LoadRows(const std::string& path, ml::DatasetSchema schema,
                             const RowFilter& filter = {},
                             std::vector<std::string>* times = nullptr);

// Test-only hook (tests/pipeline/pipeline_up_crash_test.cc): with the environment variable
// AIOT_TEST_PIPELINE_HOLD="<step>:<file>", `aiot pipeline step <step>` writes its pid to <file>
// and then waits until it is killed, before doing anything, so that a test can kill the runner
// (`aiot up`, whose death kills the step: PR_SET_PDEATHSIG) while a run is in that step. Unset
// (always, outside tests): returns at once.
void HoldForTest(std::string_view step);

// The model the run is for: --model, else the configured model_name.
std::string ModelName(const StepArgs& args, Context& ctx);

// The value of `metric` (f1, accuracy, precision, recall, roc_auc) in a report; invalid_argument
// for another name.
Result<double> MetricOf(const ml::EvalReport& report, std::string_view metric);
nlohmann::json ReportJson(const ml::EvalReport& report);

// The step commands: extract, validate, drift (cmd_pipeline_data_steps.cc); train, evaluate,
// quantize (cmd_pipeline_model_steps.cc); register, rollout (cmd_pipeline_release_steps.cc).
void AddDataSteps(CLI::App& step_cmd, Context& ctx);
void AddModelSteps(CLI::App& step_cmd, Context& ctx);
void AddRegisterStep(CLI::App& step_cmd, Context& ctx);
void AddRolloutStep(CLI::App& step_cmd, Context& ctx);
// run, trigger, list, show, cancel (cmd_pipeline_runs.cc).
void AddRunCommands(CLI::App& pipeline, Context& ctx);

}  // namespace aiot::cli::steps
