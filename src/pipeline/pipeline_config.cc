#include "pipeline/pipeline_config.h"

#include <charconv>

#include "pipeline/run_support.h"

namespace aiot::pipeline {
namespace {

constexpr int64_t kMaxTimeoutS = 7LL * 24 * 3600;

// Whole seconds in 1..kMaxTimeoutS, or nullopt.
std::optional<int64_t> Seconds(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v < 1 || v > kMaxTimeoutS) return std::nullopt;
  return v;
}

// An MQTT topic name we publish or subscribe to: no wildcards, no NUL, at most 1024 bytes.
bool PlainTopic(const std::string& t) {
  return t.size() <= 1024 && t.find_first_of("+#") == std::string::npos &&
         t.find('\0') == std::string::npos;
}

}  // namespace

void Describe(config::Visitor& v, PipelineConfig& c) {
  v.Field("enabled", c.enabled,
          "Run the continuous-learning pipeline inside `aiot up` (triggers, queued runs, POST "
          "/api/v1/pipelines/continuous-learning/runs, the control topic); `aiot up --simulate` "
          "turns it on when not configured.");
  v.Field("model", c.model, "Model the pipeline retrains; empty = the top-level `model_name`.");
  config::Section(v, "triggers", c.triggers, "When a run starts by itself.");
  v.Field("params", c.params,
          "Parameter overrides for every run ({recipe: fast, min_rows: \"500\"}); a run's own "
          "overrides win.");
  v.Field("timeouts_s", c.timeouts_s, "Per-step timeout overrides in seconds ({train: \"600\"}).");
  v.Field("executable", c.executable,
          "Program the steps run (`<exe> pipeline step <name> ...`); empty = this executable.");
  v.Field("control_topic", c.control_topic,
          "MQTT topic of control commands (train-model, extract-data); empty = none.");
  v.Field("deadletter_topic", c.deadletter_topic,
          "Where malformed control messages go, with the reason.");
  v.Field("max_control_bytes", c.max_control_bytes, config::Range{64, 16 * 1024 * 1024},
          "Control messages larger than this are dead-lettered unparsed.");
  v.Field("rows_check_s", c.rows_check_s, config::Range{1, 86400},
          "How often (s) new labelled rows are counted for triggers.min_new_rows.");
  v.Field("kill_grace_ms", c.kill_grace_ms, config::Range{0, 600000},
          "A cancelled or shut-down step gets SIGTERM, then SIGKILL after this many ms.");
}

void Validate(config::Checks& checks, const PipelineConfig& c) {
  const Dag dag = TrainingPipeline();
  for (const auto& [name, value] : c.params) {
    if (Status s = CheckParams(dag, {{name, value}}); !s.ok()) checks.Fail("params", s.message());
  }
  for (const auto& [step, seconds] : c.timeouts_s) {
    if (dag.Find(step) == nullptr) {
      checks.Fail("timeouts_s", "`" + step + "` is not a step of " + dag.name);
    } else if (!Seconds(seconds)) {
      checks.Fail("timeouts_s", "`" + step + ": " + seconds +
                                    "` is not a whole number of seconds "
                                    "in 1.." +
                                    std::to_string(kMaxTimeoutS));
    }
  }
  if (!PlainTopic(c.control_topic)) checks.Fail("control_topic", "not a plain MQTT topic name");
  if (c.deadletter_topic.empty() || !PlainTopic(c.deadletter_topic)) {
    checks.Fail("deadletter_topic", "not a plain MQTT topic name");
  }
}

Dag WithTimeouts(Dag dag, const std::map<std::string, std::string>& timeouts_s) {
  for (Step& step : dag.steps) {
    auto it = timeouts_s.find(step.name);
    if (it == timeouts_s.end()) continue;
    if (auto s = Seconds(it->second)) step.timeout = std::chrono::seconds(*s);
  }
  return dag;
}

Dag ExtractPipeline() {
  Dag full = TrainingPipeline();
  Dag dag;
  dag.name = "extract-data";
  for (const Step& s : full.steps) {
    if (s.name == "extract") dag.steps.push_back(s);
  }
  return dag;
}

}  // namespace aiot::pipeline
