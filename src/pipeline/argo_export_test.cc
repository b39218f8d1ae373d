#include "pipeline/argo_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

using ::testing::HasSubstr;

std::map<std::string, YAML::Node> ByKind(const std::vector<ArgoObject>& objects) {
  std::map<std::string, YAML::Node> out;
  for (const ArgoObject& o : objects) {
    YAML::Node n = YAML::Load(o.yaml);
    EXPECT_EQ(n["kind"].as<std::string>(), o.kind);
    EXPECT_EQ(n["metadata"]["name"].as<std::string>(), o.name);
    EXPECT_EQ(n["apiVersion"].as<std::string>(), "argoproj.io/v1alpha1");
    out[o.kind] = n;
  }
  return out;
}

std::map<std::string, YAML::Node> ExportOf(const Dag& dag, const ArgoOptions& options = {}) {
  auto objects = ExportArgo(dag, options);
  EXPECT_TRUE(objects.ok()) << objects.status().ToString();
  if (!objects.ok()) return {};
  EXPECT_EQ(objects->size(), 4u);
  return ByKind(*objects);
}

// "a.Succeeded && b.Succeeded" -> {a, b}
std::set<std::string> DependsOf(const YAML::Node& task) {
  std::set<std::string> out;
  if (!task["depends"]) return out;
  std::string s = task["depends"].as<std::string>();
  size_t i = 0;
  while (i < s.size()) {
    size_t end = s.find(" && ", i);
    std::string term = s.substr(i, end == std::string::npos ? std::string::npos : end - i);
    EXPECT_TRUE(term.size() > 10 && term.ends_with(".Succeeded")) << term;
    out.insert(term.substr(0, term.size() - 10));
    i = end == std::string::npos ? s.size() : end + 4;
  }
  return out;
}

YAML::Node TemplateNamed(const YAML::Node& wt, const std::string& name) {
  for (const YAML::Node& t : wt["spec"]["templates"]) {
    if (t["name"].as<std::string>() == name) return t;
  }
  ADD_FAILURE() << "no template " << name;
  return YAML::Node();
}

TEST(ArgoExportTest, WorkflowTemplateHasTheDagsStepsDependenciesAndParameters) {
  const Dag dag = TrainingPipeline();
  auto objects = ExportOf(dag);
  ASSERT_EQ(objects.count("WorkflowTemplate"), 1u);
  const YAML::Node wt = objects["WorkflowTemplate"];
  const YAML::Node entry = TemplateNamed(wt, wt["spec"]["entrypoint"].as<std::string>());
  const YAML::Node tasks = entry["dag"]["tasks"];
  ASSERT_TRUE(tasks.IsSequence());
  ASSERT_EQ(tasks.size(), dag.steps.size());

  std::map<std::string, std::string> wf_params;  // name -> default
  for (const YAML::Node& p : wt["spec"]["arguments"]["parameters"]) {
    EXPECT_TRUE(
        wf_params.emplace(p["name"].as<std::string>(), p["value"].as<std::string>()).second);
  }
  std::map<std::string, std::string> dag_params = {{"model", ""}, {"code_version", "aiot:latest"}};
  for (const YAML::Node& task : tasks) {
    const std::string name = task["name"].as<std::string>();
    const Step* step = dag.Find(name);
    ASSERT_NE(step, nullptr) << "task " << name << " is no step of the Dag";
    EXPECT_EQ(DependsOf(task), std::set<std::string>(step->depends.begin(), step->depends.end()))
        << name;
    const YAML::Node t = TemplateNamed(wt, task["template"].as<std::string>());
    std::set<std::string> inputs;
    for (const YAML::Node& p : t["inputs"]["parameters"])
      inputs.insert(p["name"].as<std::string>());
    std::set<std::string> want;
    for (const auto& [param, value] : step->params) {
      want.insert(param);
      dag_params[param] = value;
    }
    EXPECT_EQ(inputs, want) << name;
    EXPECT_EQ(t["activeDeadlineSeconds"].as<int64_t>(), step->timeout.count()) << name;
    EXPECT_EQ(t["retryStrategy"] ? t["retryStrategy"]["limit"].as<int>() : 0, step->retries)
        << name;
    EXPECT_EQ(t["container"]["image"].as<std::string>(), "aiot:latest");
  }
  EXPECT_EQ(wf_params, dag_params);
}

TEST(ArgoExportTest, ParameterDefaultsStayStringsAndArgvMatchesTheDag) {
  const Dag dag = TrainingPipeline();
  const YAML::Node wt = ExportOf(dag)["WorkflowTemplate"];
  // "0.2" must not be written as a plain scalar a Kubernetes reader takes for a number.
  auto objects = ExportArgo(dag, {});
  ASSERT_TRUE(objects.ok());
  EXPECT_THAT((*objects)[0].yaml, HasSubstr("value: \"0.2\""));
  const Step& train = *dag.Find("train");
  const YAML::Node c = TemplateNamed(wt, "train")["container"];
  std::vector<std::string> argv = {c["command"][0].as<std::string>()};
  for (const YAML::Node& a : c["args"]) argv.push_back(a.as<std::string>());
  auto want = dag.RenderArgv(train, {{"run_dir", kArgoRunDir},
                                     {"model", "{{workflow.parameters.model}}"},
                                     {"recipe", "{{inputs.parameters.recipe}}"},
                                     {"seed", "{{inputs.parameters.seed}}"},
                                     {"holdout_fraction", "{{inputs.parameters.holdout_fraction}}"},
                                     {"run_id", "{{workflow.name}}"},
                                     {"code_version", "{{workflow.parameters.code_version}}"}});
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(argv, *want);
}

TEST(ArgoExportTest, ArtifactsFlowFromTheirProducersAndBranchesGateDownstream) {
  const Dag dag = TrainingPipeline();
  const YAML::Node wt = ExportOf(dag)["WorkflowTemplate"];
  const YAML::Node tasks = TemplateNamed(wt, "pipeline")["dag"]["tasks"];
  for (const YAML::Node& task : tasks) {
    const Step& step = *dag.Find(task["name"].as<std::string>());
    std::set<std::string> got, want;
    for (const YAML::Node& a : task["arguments"]["artifacts"]) {
      got.insert(a["name"].as<std::string>() + "<-" + a["from"].as<std::string>());
    }
    for (const std::string& f : step.inputs) {
      std::string producer;
      for (const Step& s : dag.steps) {
        if (std::find(s.outputs.begin(), s.outputs.end(), f) != s.outputs.end()) producer = s.name;
      }
      want.insert(ArgoArtifactName(f) + "<-{{tasks." + producer + ".outputs.artifacts." +
                  ArgoArtifactName(f) + "}}");
    }
    EXPECT_EQ(got, want) << step.name;
    // A step after a branch step runs only when the branch said "go on" (exit 0).
    std::string when;
    for (const std::string& d : step.depends) {
      if (dag.Find(d)->branch) {
        when = "{{tasks." + d + ".outputs.parameters.exit-code}} == 0";
      }
    }
    EXPECT_EQ(task["when"] ? task["when"].as<std::string>() : "", when) << step.name;
  }
  // The drift step's container turns its stop code 3 into success plus an output parameter.
  const YAML::Node drift = TemplateNamed(wt, "drift");
  EXPECT_EQ(drift["outputs"]["parameters"][0]["name"].as<std::string>(), "exit-code");
  EXPECT_THAT(drift["container"]["args"][0].as<std::string>(), HasSubstr("$code -eq 3"));
  EXPECT_EQ(TemplateNamed(wt, "extract")["retryStrategy"]["expression"].as<std::string>(),
            "asInt(lastRetry.exitCode) != 2");
}

TEST(ArgoExportTest, CronEventSourceAndSensorUseTheOptions) {
  ArgoOptions o;
  o.schedule = "30 2 * * 1-5";
  o.namespace_name = "mlops";
  o.image = "registry.local/aiot:1.2";
  o.model = "fan-mlp";
  o.kafka_brokers = "kafka:9092";
  auto objects = ExportOf(TrainingPipeline(), o);
  const YAML::Node cron = objects["CronWorkflow"];
  EXPECT_EQ(cron["spec"]["schedules"][0].as<std::string>(), "30 2 * * 1-5");
  EXPECT_EQ(cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"].as<std::string>(),
            "continuous-learning");
  EXPECT_EQ(cron["metadata"]["namespace"].as<std::string>(), "mlops");
  const YAML::Node es = objects["EventSource"];
  EXPECT_EQ(es["spec"]["kafka"]["drift"]["topic"].as<std::string>(), "aiot-drift");
  EXPECT_FALSE(es["spec"]["webhook"]);
  const YAML::Node sensor = objects["Sensor"];
  EXPECT_EQ(sensor["spec"]["dependencies"][0]["eventSourceName"].as<std::string>(),
            es["metadata"]["name"].as<std::string>());
  const YAML::Node wf =
      sensor["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"];
  EXPECT_EQ(wf["spec"]["workflowTemplateRef"]["name"].as<std::string>(), "continuous-learning");
  EXPECT_EQ(wf["spec"]["arguments"]["parameters"][0]["value"].as<std::string>(), "fan-mlp");
  EXPECT_EQ(
      objects["WorkflowTemplate"]["spec"]["templates"][1]["container"]["image"].as<std::string>(),
      "registry.local/aiot:1.2");
  // Without brokers: a webhook.
  const YAML::Node hook = ExportOf(TrainingPipeline())["EventSource"];
  EXPECT_EQ(hook["spec"]["webhook"]["drift"]["endpoint"].as<std::string>(), "/drift");
}

TEST(ArgoExportTest, YamlSpecialCharactersInOptionsRoundTrip) {
  ArgoOptions o;
  o.model = "fan'\"#:&*!|>%@`[]{}-x";
  o.image = "aiot:1.0";  // a version, not a number
  o.kafka_brokers = "k:9092";
  o.kafka_topic = "yes";  // a YAML 1.1 bool when plain
  auto objects = ExportOf(TrainingPipeline(), o);
  const YAML::Node sensor = objects["Sensor"];
  EXPECT_EQ(
      sensor["spec"]["triggers"][0]["template"]["argoWorkflow"]["parameters"][0]["src"]["value"]
          .as<std::string>(),
      o.model);
  EXPECT_EQ(
      objects["WorkflowTemplate"]["spec"]["arguments"]["parameters"][0]["value"].as<std::string>(),
      o.model);
  auto raw = ExportArgo(TrainingPipeline(), o);
  ASSERT_TRUE(raw.ok());
  EXPECT_THAT((*raw)[2].yaml, HasSubstr("topic: \"yes\""));
}

std::string ErrorOf(const ArgoOptions& o, const Dag& dag = TrainingPipeline()) {
  auto r = ExportArgo(dag, o);
  if (r.ok()) return "ok";
  EXPECT_EQ(r.status().code(), make_error_code(errc::invalid_argument));
  return r.status().message();
}

TEST(ArgoExportTest, BadOptionsAreClearErrors) {
  ArgoOptions o;
  o.schedule = "0 24 * * *";
  EXPECT_THAT(ErrorOf(o), HasSubstr("hour: `24` is out of range"));
  o.schedule = "0 3 * * MON-FRI";
  EXPECT_THAT(ErrorOf(o), HasSubstr("numeric fields only"));
  o = {};
  o.name = "Bad_Name";
  EXPECT_THAT(ErrorOf(o), HasSubstr("name `Bad_Name` must be"));
  o = {};
  o.namespace_name = "ns with space";
  EXPECT_THAT(ErrorOf(o), HasSubstr("namespace"));
  o = {};
  o.image = "aiot:{{workflow.name}}";
  EXPECT_THAT(ErrorOf(o), HasSubstr("image"));
  o = {};
  o.model = "fan\nmlp";
  EXPECT_THAT(ErrorOf(o), HasSubstr("model"));
  o = {};
  o.webhook_endpoint = "drift";
  EXPECT_THAT(ErrorOf(o), HasSubstr("webhook endpoint"));
  EXPECT_EQ(ErrorOf(ArgoOptions{}), "ok");
}

TEST(ArgoExportTest, DagsItCannotRenderAreRefused) {
  Dag bad = TrainingPipeline();
  bad.steps[1].depends = {"nowhere"};
  EXPECT_THAT(ErrorOf({}, bad), HasSubstr("unknown step `nowhere`"));
  Dag twice = TrainingPipeline();
  twice.steps[3].params["window"] = "1d";  // extract's `window` is 7d
  twice.steps[3].argv.push_back("{window}");
  EXPECT_THAT(ErrorOf({}, twice), HasSubstr("parameter `window` has two defaults"));
}

// The predictor publishes `drift: false` when drift ends and `model` as "name@version": the
// Sensor runs on `drift: true` only and passes the model without its version, as the embedded
// runner (PipelineTopics::OnDriftEvent) does.
TEST(ArgoExportTest, SensorRunsOnDriftTrueOnlyAndPassesTheModelWithoutVersion) {
  ArgoOptions o;
  o.model = "fan-mlp";
  auto objects = ExportOf(TrainingPipeline(), o);
  const YAML::Node dep = objects["Sensor"]["spec"]["dependencies"][0];
  ASSERT_EQ(dep["filters"]["data"].size(), 1u);
  const YAML::Node filter = dep["filters"]["data"][0];
  EXPECT_EQ(filter["path"].as<std::string>(), "body.drift");
  EXPECT_EQ(filter["type"].as<std::string>(), "bool");
  ASSERT_EQ(filter["value"].size(), 1u);
  EXPECT_EQ(filter["value"][0].as<std::string>(), "true");
  const YAML::Node model =
      objects["Sensor"]["spec"]["triggers"][0]["template"]["argoWorkflow"]["parameters"][0];
  EXPECT_EQ(model["dest"].as<std::string>(), "spec.arguments.parameters.0.value");
  EXPECT_EQ(model["src"]["dataTemplate"].as<std::string>(),
            "{{ .Input.body.model | splitList \"@\" | first }}");
  EXPECT_FALSE(model["src"]["dataKey"]);  // Argo Events would fall back to it, version and all
  EXPECT_EQ(model["src"]["value"].as<std::string>(), "fan-mlp");
}

// pipeline.triggers.drift.since_event: the Sensor passes the drift event's time (its body's
// window.to, as unix seconds) as the workflow parameter `since`, as the embedded runner does;
// without it only the model.
TEST(ArgoExportTest, SensorPassesTheDriftEventTimeAsSinceWithSinceEvent) {
  auto trigger_of = [](std::map<std::string, YAML::Node> objects) {
    return objects["Sensor"]["spec"]["triggers"][0]["template"]["argoWorkflow"];
  };
  const YAML::Node plain = trigger_of(ExportOf(TrainingPipeline()));
  EXPECT_EQ(plain["parameters"].size(), 1u);
  EXPECT_EQ(plain["source"]["resource"]["spec"]["arguments"]["parameters"].size(), 1u);

  ArgoOptions o;
  o.drift_since_event = true;
  auto objects = ExportOf(TrainingPipeline(), o);
  const YAML::Node trigger = trigger_of(objects);
  const YAML::Node args = trigger["source"]["resource"]["spec"]["arguments"]["parameters"];
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[1]["name"].as<std::string>(), "since");
  EXPECT_EQ(args[1]["value"].as<std::string>(), "0");
  ASSERT_EQ(trigger["parameters"].size(), 2u);
  const YAML::Node since = trigger["parameters"][1];
  EXPECT_EQ(since["dest"].as<std::string>(), "spec.arguments.parameters.1.value");
  EXPECT_EQ(since["src"]["dependencyName"].as<std::string>(), "drift");
  EXPECT_EQ(since["src"]["dataTemplate"].as<std::string>(),
            "{{ mustToDate \"2006-01-02T15:04:05Z07:00\" .Input.body.window.to | unixEpoch }}");
  EXPECT_EQ(since["src"]["value"].as<std::string>(), "0");  // the body has no time
  // `since` is the WorkflowTemplate's parameter that extract's `--since` reads.
  bool declared = false;
  for (const auto& p : objects["WorkflowTemplate"]["spec"]["arguments"]["parameters"]) {
    declared |= p["name"].as<std::string>() == "since";
  }
  EXPECT_TRUE(declared);
  // A Dag without a `since` parameter cannot honour it.
  Dag no_since = TrainingPipeline();
  for (Step& s : no_since.steps) {
    s.params.erase("since");
    std::erase_if(s.argv,
                  [](const std::string& a) { return a.find("since") != std::string::npos; });
  }
  EXPECT_THAT(ErrorOf(o, no_since), HasSubstr("no step of the pipeline takes a `since`"));
}

}  // namespace
}  // namespace aiot::pipeline
