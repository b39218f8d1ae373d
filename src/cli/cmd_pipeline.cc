// `aiot pipeline run|trigger|list|show|cancel|step|export` (src/pipeline/README.md): runs of the
// training pipeline in <data_dir>/pipelines.db, executed step by step as `aiot pipeline step`
// child processes; `export --argo DIR` writes it as Argo Workflows / Argo Events manifests.
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/file.h"
#include "cli/command.h"
#include "cli/pipeline_step_io.h"
#include "pipeline/argo_export.h"
#include "pipeline/dag.h"

namespace aiot::cli {
namespace {

struct ExportArgs {
  std::string argo_dir;
  pipeline::ArgoOptions options;
};

int RunExport(const ExportArgs& a) {
  auto objects = pipeline::ExportArgo(pipeline::TrainingPipeline(), a.options);
  if (!objects.ok()) {
    std::cerr << "aiot pipeline export: " << objects.status().message() << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  std::filesystem::create_directories(a.argo_dir, ec);
  if (ec) {
    std::cerr << "aiot pipeline export: cannot create " << a.argo_dir << ": " << ec.message()
              << "\n";
    return kExitFailure;
  }
  for (const pipeline::ArgoObject& o : *objects) {
    const std::string path = (std::filesystem::path(a.argo_dir) / o.FileName()).string();
    if (Status s = WriteFileAtomic(path, o.yaml); !s.ok()) {
      std::cerr << "aiot pipeline export: " << s.message() << "\n";
      return kExitFailure;
    }
    std::cout << path << "  (" << o.kind << " " << o.name << ")\n";
  }
  return kExitOk;
}

void AddExport(CLI::App& pipeline, Context& ctx) {
  auto a = std::make_shared<ExportArgs>();
  pipeline::ArgoOptions& o = a->options;
  auto* cmd = pipeline.add_subcommand(
      "export",
      "Write the pipeline as Argo manifests: WorkflowTemplate, CronWorkflow, "
      "EventSource and Sensor");
  cmd->add_option("--argo", a->argo_dir, "Directory to write the YAML files into")->required();
  cmd->add_option("--image", o.image, "Image every step runs")->capture_default_str();
  cmd->add_option("--schedule", o.schedule, "Cron schedule of the CronWorkflow (UTC)")
      ->capture_default_str();
  cmd->add_option("--namespace", o.namespace_name, "metadata.namespace of every object");
  cmd->add_option("--name", o.name, "Base name of the objects (default: the pipeline's)");
  cmd->add_option("--model", o.model, "Default of the workflow parameter `model`");
  cmd->add_option("--kafka", o.kafka_brokers,
                  "Kafka brokers of the drift events (default: a webhook EventSource)");
  cmd->add_option("--kafka-topic", o.kafka_topic, "Kafka topic of the drift events")
      ->capture_default_str();
  cmd->add_option("--webhook-port", o.webhook_port, "Port of the webhook EventSource")
      ->capture_default_str();
  cmd->add_option("--webhook-endpoint", o.webhook_endpoint, "Path of the webhook EventSource")
      ->capture_default_str();
  cmd->add_option("--artifact-repository-configmap", o.artifact_repository_configmap,
                  "ConfigMap of the artifact repository (default: the namespace's default)");
  cmd->add_option("--artifact-repository-key", o.artifact_repository_key, "Key in that ConfigMap");
  // The Sensor passes the drift event's time as `since` when the embedded runner would
  // (pipeline.triggers.drift.since_event, e.g. `aiot --set ...since_event=true pipeline export`).
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      a->options.drift_since_event = ctx.Config().pipeline.triggers.drift.since_event;
      return RunExport(*a);
    };
  });
}

void AddSteps(CLI::App& pipeline, Context& ctx) {
  auto* step = pipeline.add_subcommand(
      "step",
      "Run one step of the pipeline on a run directory (exit 0 ok, 1 failed, 2 usage, "
      "3 branch stop)");
  step->require_subcommand(1);
  // After the chosen step's own callback (CLI11 runs the parent's last): the test-only hold.
  step->callback([&ctx, step] {
    for (CLI::App* chosen : step->get_subcommands()) {
      ctx.run = [inner = ctx.run, name = chosen->get_name()] {
        steps::HoldForTest(name);
        return inner();
      };
    }
  });
  steps::AddDataSteps(*step, ctx);
  steps::AddModelSteps(*step, ctx);
  steps::AddRegisterStep(*step, ctx);
  steps::AddRolloutStep(*step, ctx);
}

void RegisterPipeline(CLI::App& root, Context& ctx) {
  auto* cmd = root.add_subcommand("pipeline", "The continuous-learning training pipeline");
  cmd->require_subcommand(1);
  steps::AddRunCommands(*cmd, ctx);
  AddSteps(*cmd, ctx);
  AddExport(*cmd, ctx);
}

}  // namespace

AIOT_COMMAND(pipeline, 45, RegisterPipeline);

}  // namespace aiot::cli
