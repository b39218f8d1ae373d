#include "pipeline/argo_export.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/errc.h"
#include "pipeline/cron.h"

namespace aiot::pipeline {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kApiVersion = "argoproj.io/v1alpha1";
constexpr const char* kEntrypoint = "pipeline";          // the DAG template
constexpr const char* kExitCodeFile = "/tmp/exit-code";  // a branch step's real exit code
constexpr const char* kEventName = "drift";  // the EventSource's event, the Sensor's dep
// Longest base name: the CronWorkflow's name (base + "-schedule") must stay within Argo's 52.
constexpr size_t kMaxBaseName = 40;

Status Bad(const std::string& what) {
  return Status(errc::invalid_argument, "argo export: " + what);
}

// A DNS-1123 label: 1..max of [a-z0-9-], starting and ending with a letter or digit.
bool DnsLabel(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Printable, no whitespace, no Argo `{{` template: a value that reaches a manifest verbatim.
bool PlainToken(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || s.find("{{") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// Argo's CronWorkflow schema takes numeric fields (`[0-9*,/?-]`) or an @macro, not names.
Status CheckSchedule(const std::string& schedule) {
  if (auto parsed = CronSchedule::Parse(schedule); !parsed.ok()) {
    return Bad("schedule `" + schedule + "`: " + parsed.status().message());
  }
  if (schedule.front() == '@') return Status::Ok();
  for (char c : schedule) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && !std::strchr("*,/- ", c)) {
      return Bad("schedule `" + schedule +
                 "`: Argo CronWorkflows take numeric fields only (write 1-5, not MON-FRI)");
    }
  }
  return Status::Ok();
}

Status CheckOptions(const ArgoOptions& o, const std::string& base) {
  if (!DnsLabel(base, kMaxBaseName)) {
    return Bad("name `" + base + "` must be 1.." + std::to_string(kMaxBaseName) +
               " of [a-z0-9-], starting and ending with a letter or digit");
  }
  if (!o.namespace_name.empty() && !DnsLabel(o.namespace_name, 63)) {
    return Bad("namespace `" + o.namespace_name + "` is not a DNS label (1..63 of [a-z0-9-])");
  }
  if (!PlainToken(o.image, 255)) return Bad("image `" + o.image + "` is empty or not one token");
  if (!o.model.empty() && !PlainToken(o.model, 253)) return Bad("model `" + o.model + "`");
  if (Status s = CheckSchedule(o.schedule); !s.ok()) return s;
  if (!o.kafka_brokers.empty() && !PlainToken(o.kafka_brokers, 1024)) {
    return Bad("kafka brokers `" + o.kafka_brokers + "`");
  }
  if (!PlainToken(o.kafka_topic, 249)) return Bad("kafka topic `" + o.kafka_topic + "`");
  if (o.webhook_port < 1 || o.webhook_port > 65535) return Bad("webhook port out of 1..65535");
  if (o.webhook_endpoint.empty() || o.webhook_endpoint[0] != '/' ||
      !PlainToken(o.webhook_endpoint, 255)) {
    return Bad("webhook endpoint `" + o.webhook_endpoint + "` must be a path starting with /");
  }
  if (o.artifact_repository_configmap.empty() != o.artifact_repository_key.empty()) {
    return Bad("an artifact repository needs both a ConfigMap and a key");
  }
  if (!o.artifact_repository_configmap.empty() &&
      (!DnsLabel(o.artifact_repository_configmap, 253) ||
       !PlainToken(o.artifact_repository_key, 253))) {
    return Bad("artifact repository `" + o.artifact_repository_configmap + "/" +
               o.artifact_repository_key + "`");
  }
  return Status::Ok();
}

// --- YAML: a typed JSON tree written through yaml-cpp's emitter (which quotes and escapes) ---

// Strings a YAML reader could resolve to something else (a number, a bool, null) when plain.
bool NeedsQuotes(const std::string& s) {
  static const std::set<std::string> kWords = {"true", "false", "yes",  "no", "on", "off",
                                               "y",    "n",     "null", "~",  ""};
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (kWords.count(lower) || s[0] == '.') return true;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || std::strchr("+-._:eExXoObB", c);
  });
}

void Emit(YAML::Emitter& e, const Json& v) {
  if (v.is_object()) {
    if (v.empty()) e << YAML::Flow;
    e << YAML::BeginMap;
    for (const auto& [key, value] : v.items()) {
      e << YAML::Key << key << YAML::Value;
      Emit(e, value);
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    if (v.empty()) e << YAML::Flow;
    e << YAML::BeginSeq;
    for (const Json& item : v) Emit(e, item);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (NeedsQuotes(s)) e << YAML::DoubleQuoted;
    e << s;
  } else if (v.is_boolean()) {
    e << v.get<bool>();
  } else if (v.is_number_integer()) {
    e << v.get<int64_t>();
  } else {
    e << YAML::Null;
  }
}

std::string ToYaml(const Json& object) {
  YAML::Emitter e;
  Emit(e, object);
  return std::string(e.c_str()) + "\n";
}

// --- the objects ---

Json Metadata(const std::string& name, const ArgoOptions& o, const Dag& dag) {
  Json m;
  m["name"] = name;
  if (!o.namespace_name.empty()) m["namespace"] = o.namespace_name;
  m["labels"] = {{"app.kubernetes.io/part-of", "aiot"}, {"aiot/pipeline", dag.name}};
  return m;
}

// The workflow's parameters: `model`, `code_version`, then every step's, in step order. A
// parameter two steps declare must have one default (the runner's overrides are by name too).
Result<Json> WorkflowParameters(const std::vector<const Step*>& order, const ArgoOptions& o) {
  Json params = Json::array();
  params.push_back({{"name", "model"}, {"value", o.model}});
  params.push_back({{"name", "code_version"}, {"value", o.image}});
  std::map<std::string, std::pair<std::string, std::string>> seen;  // name -> (default, step)
  for (const Step* s : order) {
    for (const auto& [name, value] : s->params) {
      auto [it, fresh] = seen.emplace(name, std::make_pair(value, s->name));
      if (!fresh && it->second.first != value) {
        return Bad("parameter `" + name + "` has two defaults (step `" + it->second.second +
                   "`: `" + it->second.first + "`, step `" + s->name + "`: `" + value + "`)");
      }
      if (fresh) params.push_back({{"name", name}, {"value", value}});
    }
  }
  return params;
}

// The step's command with `{x}` as Argo expressions: its own parameters are template inputs.
Result<std::vector<std::string>> ArgoArgv(const Dag& dag, const Step& step) {
  std::map<std::string, std::string> values = {
      {"run_id", "{{workflow.name}}"},
      {"run_dir", kArgoRunDir},
      {"model", "{{workflow.parameters.model}}"},
      {"code_version", "{{workflow.parameters.code_version}}"}};
  for (const auto& [name, value] : step.params) {
    values[name] = "{{inputs.parameters." + name + "}}";
  }
  return dag.RenderArgv(step, values);
}

Json Container(const Step& step, const std::vector<std::string>& argv, const ArgoOptions& o) {
  Json c;
  c["name"] = "main";
  c["image"] = o.image;
  if (!step.branch) {
    c["command"] = Json::array({argv[0]});
    c["args"] = Json(std::vector<std::string>(argv.begin() + 1, argv.end()));
    return c;
  }
  // A branch step's stop code is a decision, not a failure: the node succeeds and its exit code
  // goes to an output parameter that the downstream tasks' `when` reads. Other codes fail it.
  const std::string stop = std::to_string(step.branch->stop_exit_code);
  c["command"] = Json::array({"sh", "-c"});
  Json args = Json::array();
  args.push_back(std::string("\"$0\" \"$@\"; code=$?; echo $code > ") + kExitCodeFile +
                 "; if [ $code -eq 0 ] || [ $code -eq " + stop + " ]; then exit 0; fi; exit $code");
  for (const std::string& a : argv) args.push_back(a);
  c["args"] = args;
  return c;
}

Json RetryStrategy(const Step& step) {
  Json r;
  r["limit"] = step.retries;
  r["retryPolicy"] = "Always";
  // Bad arguments are not retried; failures, crashes and timeouts are (OutcomeOf).
  r["expression"] = "asInt(lastRetry.exitCode) != " + std::to_string(kStepUsage);
  r["backoff"] = {{"duration", std::to_string(step.retry_backoff.count()) + "s"}, {"factor", 2}};
  return r;
}

Json ArtifactList(const std::vector<std::string>& files, bool optional) {
  Json list = Json::array();
  for (const std::string& f : files) {
    Json a = {{"name", ArgoArtifactName(f)}, {"path", std::string(kArgoRunDir) + "/" + f}};
    if (optional) a["optional"] = true;
    list.push_back(a);
  }
  return list;
}

Result<Json> StepTemplate(const Dag& dag, const Step& step, const ArgoOptions& o) {
  auto argv = ArgoArgv(dag, step);
  if (!argv.ok()) return argv.status().Prefix("argo export");
  Json t;
  t["name"] = step.name;
  Json inputs;
  if (!step.params.empty()) {
    inputs["parameters"] = Json::array();
    for (const auto& [name, value] : step.params) inputs["parameters"].push_back({{"name", name}});
  }
  if (!step.inputs.empty()) inputs["artifacts"] = ArtifactList(step.inputs, false);
  if (!inputs.empty()) t["inputs"] = inputs;
  Json outputs;
  // A branch step that stops may not have written everything: its outputs are optional.
  if (!step.outputs.empty()) outputs["artifacts"] = ArtifactList(step.outputs, bool(step.branch));
  if (step.branch) {
    outputs["parameters"] =
        Json::array({{{"name", kArgoExitCodeParam}, {"valueFrom", {{"path", kExitCodeFile}}}}});
  }
  if (!outputs.empty()) t["outputs"] = outputs;
  t["activeDeadlineSeconds"] = step.timeout.count();
  if (step.retries > 0) t["retryStrategy"] = RetryStrategy(step);
  t["container"] = Container(step, *argv, o);
  return t;
}

// Which ancestor of `step` wrote `file` last in `order` (the runner's run directory semantics).
const Step* Producer(const Dag& dag, const std::vector<const Step*>& order, const Step& step,
                     const std::string& file) {
  std::set<std::string> ancestors;
  std::vector<std::string> todo(step.depends.begin(), step.depends.end());
  while (!todo.empty()) {
    std::string n = todo.back();
    todo.pop_back();
    if (!ancestors.insert(n).second) continue;
    for (const std::string& d : dag.Find(n)->depends) todo.push_back(d);
  }
  const Step* producer = nullptr;
  for (const Step* s : order) {
    if (ancestors.count(s->name) &&
        std::find(s->outputs.begin(), s->outputs.end(), file) != s->outputs.end()) {
      producer = s;
    }
  }
  return producer;
}

Json DagTask(const Dag& dag, const std::vector<const Step*>& order, const Step& step) {
  Json task;
  task["name"] = step.name;
  task["template"] = step.name;
  std::string depends, when;
  for (const std::string& d : step.depends) {
    depends += (depends.empty() ? "" : " && ") + d + ".Succeeded";
    if (dag.Find(d)->branch) {
      when += std::string(when.empty() ? "" : " && ") + "{{tasks." + d + ".outputs.parameters." +
              kArgoExitCodeParam + "}} == " + std::to_string(kStepOk);
    }
  }
  if (!depends.empty()) task["depends"] = depends;
  if (!when.empty()) task["when"] = when;
  Json args;
  for (const auto& [name, value] : step.params) {
    args["parameters"].push_back(
        {{"name", name}, {"value", "{{workflow.parameters." + name + "}}"}});
  }
  for (const std::string& f : step.inputs) {
    const std::string art = ArgoArtifactName(f);
    const Step* from = Producer(dag, order, step, f);  // Validate() ensured there is one
    args["artifacts"].push_back(
        {{"name", art}, {"from", "{{tasks." + from->name + ".outputs.artifacts." + art + "}}"}});
  }
  if (!args.empty()) task["arguments"] = args;
  return task;
}

// Artifact names must be unique per step and must not collide between files.
Status CheckArtifactNames(const Dag& dag) {
  std::map<std::string, std::string> by_name;  // artifact name -> file
  for (const Step& s : dag.steps) {
    for (const auto* files : {&s.inputs, &s.outputs}) {
      for (const std::string& f : *files) {
        auto [it, fresh] = by_name.emplace(ArgoArtifactName(f), f);
        if (!fresh && it->second != f) {
          return Bad("files `" + it->second + "` and `" + f + "` map to one artifact name `" +
                     it->first + "`");
        }
      }
    }
  }
  return Status::Ok();
}

Result<Json> WorkflowTemplate(const Dag& dag, const ArgoOptions& o, const std::string& base) {
  auto order = dag.TopologicalOrder();
  if (!order.ok()) return order.status();
  auto params = WorkflowParameters(*order, o);
  if (!params.ok()) return params.status();
  Json tasks = Json::array();
  Json templates = Json::array({Json{{"name", kEntrypoint}}});
  for (const Step* s : *order) {
    tasks.push_back(DagTask(dag, *order, *s));
    auto t = StepTemplate(dag, *s, o);
    if (!t.ok()) return t.status();
    templates.push_back(*t);
  }
  templates[0]["dag"] = {{"tasks", tasks}};
  Json spec;
  spec["entrypoint"] = kEntrypoint;
  spec["arguments"] = {{"parameters", *params}};
  if (!o.artifact_repository_configmap.empty()) {
    spec["artifactRepositoryRef"] = {{"configMap", o.artifact_repository_configmap},
                                     {"key", o.artifact_repository_key}};
  }
  spec["templates"] = templates;
  return Json{{"apiVersion", kApiVersion},
              {"kind", "WorkflowTemplate"},
              {"metadata", Metadata(base, o, dag)},
              {"spec", spec}};
}

Json CronWorkflow(const Dag& dag, const ArgoOptions& o, const std::string& base) {
  Json spec;
  spec["schedules"] = Json::array({o.schedule});
  spec["timezone"] = "UTC";  // like pipeline::CronSchedule
  spec["concurrencyPolicy"] = "Forbid";
  spec["workflowSpec"] = {{"workflowTemplateRef", {{"name", base}}}};
  return Json{{"apiVersion", kApiVersion},
              {"kind", "CronWorkflow"},
              {"metadata", Metadata(base + "-schedule", o, dag)},
              {"spec", spec}};
}

Json EventSource(const Dag& dag, const ArgoOptions& o, const std::string& base) {
  Json spec;
  if (o.kafka_brokers.empty()) {
    const std::string port = std::to_string(o.webhook_port);
    spec["service"] = {
        {"ports", Json::array({{{"port", o.webhook_port}, {"targetPort", o.webhook_port}}})}};
    spec["webhook"] = {
        {kEventName, {{"port", port}, {"endpoint", o.webhook_endpoint}, {"method", "POST"}}}};
  } else {
    spec["kafka"] = {{kEventName,
                      {{"url", o.kafka_brokers},
                       {"topic", o.kafka_topic},
                       {"jsonBody", true},
                       {"consumerGroup", {{"groupName", base + "-drift"}}}}}};
  }
  return Json{{"apiVersion", kApiVersion},
              {"kind", "EventSource"},
              {"metadata", Metadata(base + "-drift", o, dag)},
              {"spec", spec}};
}

// The Sensor's Go template (Argo Events: sprig functions on `.Input`, the event's data) that turns
// the drift event body's `window.to` (RFC 3339) into unix seconds. mustToDate fails on a missing
// or malformed time (toDate would give year 1), and a failed template falls back to `value`.
constexpr const char* kSinceTemplate =
    "{{ mustToDate \"2006-01-02T15:04:05Z07:00\" .Input.body.window.to | unixEpoch }}";

// The Sensor's Go template for the model: the drift event body's `model` without its
// `@version` ("fan-mlp@3" -> "fan-mlp"), as the embedded runner strips it. A missing model fails
// the template (splitList takes a string) and an empty one renders empty: both fall back to
// `value`. No dataKey beside it: Argo Events would fall back to that, the model with its version.
constexpr const char* kModelTemplate = "{{ .Input.body.model | splitList \"@\" | first }}";

// Submits a Workflow from the WorkflowTemplate on a drift event whose body says `drift: true`
// (the predictor also publishes `drift: false` when drift ends, which the embedded runner
// ignores); the event's `model` without its version picks the model, and with drift_since_event
// its time is the parameter `since`.
Json Sensor(const Dag& dag, const ArgoOptions& o, const std::string& base) {
  Json wf_meta = {{"generateName", base + "-"}};
  if (!o.namespace_name.empty()) wf_meta["namespace"] = o.namespace_name;
  Json arguments = Json::array({{{"name", "model"}, {"value", o.model}}});
  Json parameters = Json::array(
      {{{"src",
         {{"dependencyName", kEventName}, {"dataTemplate", kModelTemplate}, {"value", o.model}}},
        {"dest", "spec.arguments.parameters.0.value"}}});
  if (o.drift_since_event) {
    arguments.push_back({{"name", "since"}, {"value", "0"}});
    parameters.push_back(
        {{"src",
          {{"dependencyName", kEventName}, {"dataTemplate", kSinceTemplate}, {"value", "0"}}},
         {"dest", "spec.arguments.parameters.1.value"}});
  }
  Json workflow = {
      {"apiVersion", kApiVersion},
      {"kind", "Workflow"},
      {"metadata", wf_meta},
      {"spec",
       {{"workflowTemplateRef", {{"name", base}}}, {"arguments", {{"parameters", arguments}}}}}};
  Json trigger = {{"template",
                   {{"name", "submit-" + base},
                    {"argoWorkflow",
                     {{"operation", "submit"},
                      {"source", {{"resource", workflow}}},
                      {"parameters", parameters}}}}}};
  Json spec;
  spec["dependencies"] =
      Json::array({{{"name", kEventName},
                    {"eventSourceName", base + "-drift"},
                    {"eventName", kEventName},
                    {"filters",
                     {{"data", Json::array({{{"path", "body.drift"},
                                             {"type", "bool"},
                                             {"value", Json::array({"true"})}}})}}}}});
  spec["triggers"] = Json::array({trigger});
  return Json{{"apiVersion", kApiVersion},
              {"kind", "Sensor"},
              {"metadata", Metadata(base + "-on-drift", o, dag)},
              {"spec", spec}};
}

ArgoObject Object(const Json& j) {
  return ArgoObject{j["kind"].get<std::string>(), j["metadata"]["name"].get<std::string>(),
                    ToYaml(j)};
}

}  // namespace

std::string ArgoObject::FileName() const {
  std::string f = kind;
  std::transform(f.begin(), f.end(), f.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return f + ".yaml";
}

std::string ArgoArtifactName(const std::string& file) {
  std::string n = file;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '-';
  }
  return n;
}

Result<std::vector<ArgoObject>> ExportArgo(const Dag& dag, const ArgoOptions& options) {
  if (Status s = dag.Validate(); !s.ok()) return s.Prefix("argo export");
  const std::string base = options.name.empty() ? dag.name : options.name;
  if (Status s = CheckOptions(options, base); !s.ok()) return s;
  if (dag.Find(kEntrypoint) != nullptr) {
    return Bad(std::string("a step may not be named `") + kEntrypoint + "` (the DAG template)");
  }
  if (Status s = CheckArtifactNames(dag); !s.ok()) return s;
  if (options.drift_since_event &&
      std::none_of(dag.steps.begin(), dag.steps.end(),
                   [](const Step& s) { return s.params.count("since") > 0; })) {
    return Bad("drift_since_event: no step of the pipeline takes a `since` parameter");
  }
  auto wt = WorkflowTemplate(dag, options, base);
  if (!wt.ok()) return wt.status();
  return std::vector<ArgoObject>{Object(*wt), Object(CronWorkflow(dag, options, base)),
                                 Object(EventSource(dag, options, base)),
                                 Object(Sensor(dag, options, base))};
}

}  // namespace aiot::pipeline
