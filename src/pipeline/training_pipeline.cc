// The continuous-learning pipeline's definition (README.md, "The DAG"). Data only: the step
// commands themselves are `aiot pipeline step <name>` (src/cli/cmd_pipeline_*_steps.cc).
#include <initializer_list>

#include "pipeline/dag.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;

// `aiot pipeline step <name> --run-dir {run_dir} --model {model}` then one `--<param> {param}`
// per parameter (a parameter `min_rows` is the flag `--min-rows`).
Step MakeStep(std::string name, std::vector<std::string> depends,
              std::map<std::string, std::string> params, std::chrono::seconds timeout, int retries,
              std::vector<std::string> inputs, std::vector<std::string> outputs) {
  Step s;
  s.argv = {"aiot", "pipeline", "step", name, "--run-dir", "{run_dir}", "--model", "{model}"};
  for (const auto& [param, value] : params) {
    std::string flag = "--" + param;
    for (char& c : flag) c = c == '_' ? '-' : c;
    s.argv.push_back(flag);
    s.argv.push_back("{" + param + "}");
  }
  s.name = std::move(name);
  s.depends = std::move(depends);
  s.params = std::move(params);
  s.timeout = timeout;
  s.retries = retries;
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  return s;
}

}  // namespace

Dag TrainingPipeline() {
  Dag d;
  d.name = "continuous-learning";
  d.steps.push_back(MakeStep("extract", {},
                             {{"window", "7d"},
                              {"devices", ""},
                              {"fields", ""},
                              {"reference_window", "28d"},
                              {"label_delay", "0s"},
                              {"since", "0"}},
                             10min, 2, {},
                             {"data.csv", "reference.csv", "extract.json", "maintenance.json"}));
  d.steps.push_back(MakeStep("validate", {"extract"},
                             {{"min_rows", "1000"},
                              {"max_missing_fraction", "0.01"},
                              {"min_class_fraction", "0.05"},
                              {"holdout_fraction", "0.2"},
                              {"recipe", "default"}},
                             5min, 0, {"data.csv", "maintenance.json"}, {"validate.json"}));
  d.steps.push_back(MakeStep("drift", {"validate"},
                             {{"psi_threshold", "0.2"}, {"ks_alpha", "0.05"}, {"force", "false"}},
                             5min, 0, {"data.csv", "reference.csv"}, {"drift.json"}));
  d.steps.back().branch = Branch{kStepStop, "no_drift"};
  d.steps.push_back(MakeStep(
      "train", {"drift"}, {{"recipe", "default"}, {"seed", "42"}, {"holdout_fraction", "0.2"}},
      30min, 1, {"data.csv", "maintenance.json"}, {"challenger.tflite", "train.json"}));
  d.steps.push_back(MakeStep(
      "evaluate", {"train"}, {{"metric", "f1"}, {"margin", "0.01"}, {"floor", "0.7"}}, 10min, 0,
      {"data.csv", "maintenance.json", "challenger.tflite", "train.json"}, {"evaluate.json"}));
  d.steps.back().branch = Branch{kStepStop, "not_promoted"};
  d.steps.push_back(MakeStep("quantize", {"evaluate"}, {{"min_agreement", "0.99"}}, 10min, 0,
                             {"data.csv", "challenger.tflite", "train.json"},
                             {"challenger-int8.tflite", "quantize.json"}));
  d.steps.back().branch = Branch{kStepStop, "quantization_rejected"};
  d.steps.push_back(MakeStep(
      "register", {"quantize"}, {}, 5min, 2,
      {"challenger-int8.tflite", "extract.json", "train.json", "evaluate.json", "quantize.json"},
      {"register.json"}));
  // Lineage the registry records: the run and the code that produced the model.
  for (const char* a : {"--run-id", "{run_id}", "--code-version", "{code_version}"}) {
    d.steps.back().argv.push_back(a);
  }
  d.steps.push_back(
      MakeStep("rollout", {"register"},
               {{"canary_percent", "10"}, {"canary_soak_s", "300"}, {"failure_threshold", "0.2"}},
               2h, 0, {"register.json"}, {"rollout.json"}));
  return d;
}

}  // namespace aiot::pipeline
