// `aiot pipeline run|trigger|list|show|cancel`: pipeline runs in <data_dir>/pipelines.db
// (src/pipeline/README.md, "Runs"), executed by the Runner with `aiot pipeline step` children.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "base/errc.h"
#include "base/json.h"
#include "cli/pipeline_step_io.h"
#include "pipeline/dag.h"
#include "pipeline/run_store.h"
#include "pipeline/run_support.h"
#include "pipeline/runner.h"
#include "pipeline/subprocess_step.h"
#include "registry/api_client.h"

namespace aiot::cli::steps {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

struct RunsArgs {
  std::string model, data_dir, runs_dir, trigger = "cli", status;
  std::vector<std::string> params;
  int64_t run_id = 0;
  int limit = 20;
  bool json = false;
  registry::ApiEndpoint api;
};

// Where runs live: <data_dir>/pipelines.db and <data_dir>/pipeline-runs/<id>/ (absolute, so
// that steps find them whatever their working directory).
struct Places {
  std::string db, runs_dir;
};

Result<Places> PlacesOf(const RunsArgs& a, Context& ctx) {
  const std::string dir = a.data_dir.empty() ? ctx.Config().registry.data_dir : a.data_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(errc::io_error, "cannot create " + dir + ": " + ec.message());
  Places p;
  p.db = (fs::absolute(dir) / "pipelines.db").string();
  p.runs_dir = a.runs_dir.empty() ? (fs::absolute(dir) / "pipeline-runs").string()
                                  : fs::absolute(a.runs_dir).string();
  return p;
}

// --param name=value: a parameter some step of the DAG declares.
Result<std::map<std::string, std::string>> ParseParams(const std::vector<std::string>& items,
                                                       const pipeline::Dag& dag) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (eq == std::string::npos || !pipeline::CheckParams(dag, {{name, ""}}).ok()) {
      return Status(errc::invalid_argument,
                    "--param `" + item + "`: must be name=value with a parameter of a step");
    }
    out[name] = item.substr(eq + 1);
  }
  return out;
}

std::string Seconds(int64_t from_ns, int64_t to_ns) {
  if (from_ns == 0 || to_ns == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(to_ns - from_ns) / 1e9);
  return buf;
}

void PrintRuns(const std::vector<pipeline::RunRecord>& runs) {
  std::printf("%-6s %-16s %-8s %-10s %-22s %-19s %8s  %s\n", "ID", "MODEL", "TRIGGER", "STATUS",
              "DECISION", "CREATED", "TOOK", "REASON");
  for (const auto& r : runs) {
    std::printf("%-6lld %-16s %-8s %-10s %-22s %-19s %8s  %s\n", static_cast<long long>(r.id),
                r.model.c_str(), r.trigger.c_str(), pipeline::RunStatusName(r.status),
                r.decision.empty() ? "-" : r.decision.c_str(), TimeText(r.created_ns).c_str(),
                Seconds(r.started_ns, r.finished_ns).c_str(), r.reason.c_str());
  }
}

void PrintRun(const pipeline::RunRecord& r) {
  PrintRuns({r});
  std::printf("\n  %-10s %7s %-12s %4s %8s  %s\n", "STEP", "ATTEMPT", "STATUS", "EXIT", "TOOK",
              "LAST LINE");
  for (const auto& s : r.steps) {
    std::string last = s.log_tail;
    while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
    last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
    std::printf("  %-10s %7d %-12s %4s %8s  %s\n", s.step.c_str(), s.attempt,
                pipeline::StepStatusName(s.status),
                s.exit_code ? std::to_string(*s.exit_code).c_str() : "-",
                Seconds(s.started_ns, s.finished_ns).c_str(), last.substr(0, 160).c_str());
  }
}

Result<std::unique_ptr<pipeline::RunStore>> OpenStore(const Places& p) {
  auto store = std::make_unique<pipeline::RunStore>();
  if (Status s = store->Open(p.db); !s.ok()) return s;
  return store;
}

int Report(const char* what, const Status& s) {
  std::cerr << "aiot pipeline " << what << ": " << s.message() << "\n";
  return s.code() == errc::invalid_argument ? kExitUsage : kExitFailure;
}

// The run `run` executes: --run-id, else the model's active run (queued by `trigger`, or
// resumed after a restart), else a new one.
Result<int64_t> PickRun(const RunsArgs& a, pipeline::RunStore& store, const Places& p,
                        const std::string& model, const pipeline::Dag& dag) {
  if (a.run_id > 0) return a.run_id;
  auto active = store.List({.model = model, .status = std::nullopt, .limit = 1000, .pipeline = {}});
  if (!active.ok()) return active.status();
  for (const auto& r : *active) {
    if (pipeline::IsActive(r.status)) return r.id;
  }
  auto params = ParseParams(a.params, dag);
  if (!params.ok()) return params.status();
  auto id = store.CreateRun({dag.name, model, a.trigger, pipeline::CodeVersion()});
  if (!id.ok()) return id.status();
  if (Status s = pipeline::SaveRunParams(p.runs_dir, *id, *params); !s.ok()) return s;
  return id;
}

// The steps' children reach the platform API with the runner's URL and token.
void ExportApi(registry::ApiEndpoint& api, Context& ctx) {
  ctx.ResolveTokenFile(api);
  ::setenv("AIOT_URL", api.url.c_str(), 1);
  if (!api.token.empty()) ::setenv("AIOT_TOKEN", api.token.c_str(), 1);
  if (!api.token_file.empty()) ::setenv("AIOT_TOKEN_FILE", api.token_file.c_str(), 1);
}

int RunRun(RunsArgs& a, Context& ctx) {
  auto places = PlacesOf(a, ctx);
  if (!places.ok()) return Report("run", places.status());
  pipeline::RunnerLock lock(places->db + ".runner-lock");
  if (!lock.Acquire()) {
    return Report("run", Status(errc::already_exists,
                                "another `aiot pipeline run` is executing runs of " + places->db));
  }
  auto store = OpenStore(*places);
  if (!store.ok()) return Report("run", store.status());
  const pipeline::Dag dag = pipeline::TrainingPipeline();
  auto recovered = (*store)->RecoverAfterRestart(dag);
  if (!recovered.ok()) return Report("run", recovered.status());
  for (const auto& r : *recovered) {
    std::cerr << "aiot pipeline run: run " << r.run_id << " (" << r.model << ") "
              << (r.resumed ? "resumes" : "failed")
              << (r.interrupted_step.empty() ? "" : ": interrupted in step " + r.interrupted_step)
              << "\n";
  }
  const std::string model = a.model.empty() ? ctx.Config().model_name : a.model;
  auto id = PickRun(a, **store, *places, model, dag);
  if (!id.ok()) return Report("run", id.status());
  ExportApi(a.api, ctx);
  pipeline::SubprocessOptions so;
  if (!ctx.config_file.empty())
    so.global_args = {"--config", fs::absolute(ctx.config_file).string()};
  for (const auto& set : ctx.sets) so.global_args.insert(so.global_args.end(), {"--set", set});
  pipeline::Runner runner(
      dag, **store, SystemClock::Instance(),
      [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); },
      pipeline::RunnerOptions{places->runs_dir});
  const auto step_fn = pipeline::SubprocessStep(dag, so);
  for (const auto& s : dag.steps) runner.SetStep(s.name, step_fn);
  std::cerr << "aiot pipeline run: run " << *id << " of " << model << " in " << places->runs_dir
            << "/" << *id << "\n";
  Result<pipeline::RunRecord> run = Status(errc::internal, "not run");
  {
    pipeline::CancelWatch watch(**store, runner, *id);
    run = runner.Execute(*id, pipeline::LoadRunParams(places->runs_dir, *id));
  }
  if (!run.ok()) {
    // Ended by another process while it ran (cancel): what the store says.
    auto stored = (*store)->Get(*id);
    if (!stored.ok() || pipeline::IsActive(stored->status)) return Report("run", run.status());
    run = stored;
  }
  if (a.json) {
    std::cout << pipeline::RunJson(*run).dump(2) << "\n";
  } else {
    PrintRun(*run);
  }
  return run->status == pipeline::RunStatus::kSucceeded ? kExitOk : kExitFailure;
}

int RunTrigger(RunsArgs& a, Context& ctx) {
  auto places = PlacesOf(a, ctx);
  if (!places.ok()) return Report("trigger", places.status());
  auto store = OpenStore(*places);
  if (!store.ok()) return Report("trigger", store.status());
  const pipeline::Dag dag = pipeline::TrainingPipeline();
  auto params = ParseParams(a.params, dag);
  if (!params.ok()) return Report("trigger", params.status());
  const std::string model = a.model.empty() ? ctx.Config().model_name : a.model;
  auto id = (*store)->CreateRun({dag.name, model, a.trigger, pipeline::CodeVersion()});
  if (!id.ok()) return Report("trigger", id.status());
  if (Status s = pipeline::SaveRunParams(places->runs_dir, *id, *params); !s.ok())
    return Report("trigger", s);
  std::cout << "queued run " << *id << " of " << model << "\n";
  return kExitOk;
}

int RunList(RunsArgs& a, Context& ctx) {
  auto places = PlacesOf(a, ctx);
  if (!places.ok()) return Report("list", places.status());
  auto store = OpenStore(*places);
  if (!store.ok()) return Report("list", store.status());
  pipeline::RunFilter f{.model = a.model, .status = std::nullopt, .limit = a.limit, .pipeline = {}};
  for (auto st : {pipeline::RunStatus::kQueued, pipeline::RunStatus::kRunning,
                  pipeline::RunStatus::kSucceeded, pipeline::RunStatus::kFailed,
                  pipeline::RunStatus::kCancelled}) {
    if (a.status == pipeline::RunStatusName(st)) f.status = st;
  }
  if (!a.status.empty() && !f.status) {
    return Report(
        "list", Status(errc::invalid_argument, "--status `" + a.status + "` is not a run status"));
  }
  auto runs = (*store)->List(f);
  if (!runs.ok()) return Report("list", runs.status());
  if (a.json) {
    Json list = Json::array();
    for (const auto& r : *runs) list.push_back(pipeline::RunJson(r));
    std::cout << Json{{"runs", list}}.dump(2) << "\n";
  } else {
    PrintRuns(*runs);
  }
  return kExitOk;
}

int RunShow(RunsArgs& a, Context& ctx) {
  auto places = PlacesOf(a, ctx);
  if (!places.ok()) return Report("show", places.status());
  auto store = OpenStore(*places);
  if (!store.ok()) return Report("show", store.status());
  auto run = (*store)->Get(a.run_id);
  if (!run.ok()) return Report("show", run.status());
  if (a.json) {
    std::cout << pipeline::RunJson(*run).dump(2) << "\n";
  } else {
    PrintRun(*run);
  }
  return kExitOk;
}

int RunCancel(RunsArgs& a, Context& ctx) {
  auto places = PlacesOf(a, ctx);
  if (!places.ok()) return Report("cancel", places.status());
  auto store = OpenStore(*places);
  if (!store.ok()) return Report("cancel", store.status());
  if (Status s = (*store)->FinishRun(a.run_id, pipeline::RunStatus::kCancelled, "",
                                     "cancelled from the CLI");
      !s.ok()) {
    return Report("cancel", s);
  }
  std::cout << "cancelled run " << a.run_id << "\n";
  return kExitOk;
}

void AddPlaceFlags(CLI::App* cmd, RunsArgs& a) {
  cmd->add_option("--data-dir", a.data_dir,
                  "Directory of pipelines.db (default: the configured registry.data_dir)");
}

}  // namespace

void AddRunCommands(CLI::App& pipeline, Context& ctx) {
  auto a = std::make_shared<RunsArgs>();
  auto bind = [&ctx, a](CLI::App* cmd, int (*fn)(RunsArgs&, Context&)) {
    AddPlaceFlags(cmd, *a);
    cmd->callback([&ctx, a, fn] { ctx.run = [&ctx, a, fn] { return fn(*a, ctx); }; });
  };
  auto* run = pipeline.add_subcommand(
      "run", "Execute a run in the foreground: the model's queued or resumed run, else a new one");
  run->add_option("--model", a->model, "Model (default: the configured model_name)");
  run->add_option("--param", a->params, "Parameter override name=value (repeatable)");
  run->add_option("--run-id", a->run_id, "Execute this run");
  run->add_option("--runs-dir", a->runs_dir, "Run directories (default: DATA_DIR/pipeline-runs)");
  run->add_option("--trigger", a->trigger, "Trigger recorded for a new run")->capture_default_str();
  run->add_flag("--json", a->json, "Print the finished run as JSON");
  a->api.AddFlags(run);
  bind(run, RunRun);

  auto* trigger =
      pipeline.add_subcommand("trigger", "Queue a run (`aiot pipeline run` executes it)");
  trigger->add_option("--model", a->model, "Model (default: the configured model_name)");
  trigger->add_option("--param", a->params, "Parameter override name=value (repeatable)");
  trigger->add_option("--trigger", a->trigger, "Trigger recorded")->capture_default_str();
  trigger->add_option("--runs-dir", a->runs_dir,
                      "Run directories (default: DATA_DIR/pipeline-runs)");
  bind(trigger, RunTrigger);

  auto* list = pipeline.add_subcommand("list", "List runs, newest first");
  list->add_option("--model", a->model, "Only this model");
  list->add_option("--status", a->status, "Only this status (queued, running, succeeded, ...)");
  list->add_option("--limit", a->limit, "At most this many")->capture_default_str();
  list->add_flag("--json", a->json, "Print JSON");
  bind(list, RunList);

  auto* show = pipeline.add_subcommand("show", "Show a run and its steps");
  show->add_option("id", a->run_id, "Run id")->required();
  show->add_flag("--json", a->json, "Print JSON (with each step's log tail and artifacts)");
  bind(show, RunShow);

  auto* cancel =
      pipeline.add_subcommand("cancel", "End an active run (its running step is killed)");
  cancel->add_option("id", a->run_id, "Run id")->required();
  bind(cancel, RunCancel);
}

}  // namespace aiot::cli::steps
