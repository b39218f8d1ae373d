#include "pipeline/dag.h"

#include <algorithm>
#include <set>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

using namespace std::chrono_literals;

Status Invalid(const std::string& step, const std::string& why) {
  return Status(errc::invalid_argument, "step `" + step + "`: " + why);
}

bool ValidStepName(std::string_view n) {
  if (n.empty() || n.size() > 63 || n[0] < 'a' || n[0] > 'z') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsBuiltin(std::string_view name) {
  return std::find(std::begin(kBuiltins), std::end(kBuiltins), name) != std::end(kBuiltins);
}

// Calls `on_placeholder(name)` for each `{name}` in `arg`, `on_text` for the text between.
// errc::invalid_argument for an unclosed or empty placeholder.
template <typename Text, typename Placeholder>
Status ScanArg(std::string_view arg, Text&& on_text, Placeholder&& on_placeholder) {
  size_t i = 0;
  while (i < arg.size()) {
    size_t open = arg.find('{', i);
    on_text(arg.substr(i, open == std::string_view::npos ? arg.size() - i : open - i));
    if (open == std::string_view::npos) break;
    size_t close = arg.find('}', open);
    if (close == std::string_view::npos || close == open + 1) {
      return Status(errc::invalid_argument,
                    "argument `" + std::string(arg) + "` has an unclosed or empty {placeholder}");
    }
    if (Status s = on_placeholder(arg.substr(open + 1, close - open - 1)); !s.ok()) return s;
    i = close + 1;
  }
  return Status::Ok();
}

Status CheckStep(const Step& s) {
  if (!ValidStepName(s.name)) {
    return Invalid(s.name, "a step name must be 1..63 of [a-z0-9-] starting with a letter");
  }
  if (s.argv.empty()) return Invalid(s.name, "has no command");
  if (s.timeout <= 0s) return Invalid(s.name, "timeout must be positive");
  if (s.retries < 0 || s.retries > 10) return Invalid(s.name, "retries must be 0..10");
  if (s.retry_backoff < 0s) return Invalid(s.name, "retry_backoff must not be negative");
  if (s.branch && (s.branch->stop_exit_code <= kStepUsage || s.branch->stop_exit_code > 125 ||
                   s.branch->decision.empty())) {
    return Invalid(s.name, "a branch needs a decision and a stop exit code in 3..125");
  }
  for (const std::string& arg : s.argv) {
    Status st = ScanArg(
        arg, [](std::string_view) {},
        [&](std::string_view p) -> Status {
          if (IsBuiltin(p) || s.params.count(std::string(p))) return Status::Ok();
          return Status(errc::invalid_argument,
                        "placeholder {" + std::string(p) + "} names no parameter");
        });
    if (!st.ok()) return st.Prefix("step `" + s.name + "`");
  }
  return Status::Ok();
}

// Every input of every step is an output of one of its (transitive) dependencies.
Status CheckArtifacts(const Dag& dag, const std::vector<const Step*>& order) {
  std::map<std::string, std::set<std::string>> available;  // step -> files its ancestors write
  for (const Step* s : order) {
    std::set<std::string>& mine = available[s->name];
    for (const std::string& d : s->depends) {
      const Step* dep = dag.Find(d);
      mine.insert(available[d].begin(), available[d].end());
      mine.insert(dep->outputs.begin(), dep->outputs.end());
    }
    for (const std::string& in : s->inputs) {
      if (!mine.count(in)) {
        return Invalid(s->name, "input `" + in + "` is written by none of its dependencies");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const Step* Dag::Find(std::string_view step) const {
  for (const Step& s : steps) {
    if (s.name == step) return &s;
  }
  return nullptr;
}

Result<std::vector<const Step*>> Dag::TopologicalOrder() const {
  std::vector<const Step*> order;
  std::set<std::string> done;
  while (order.size() < steps.size()) {
    const Step* next = nullptr;
    for (const Step& s : steps) {
      if (done.count(s.name)) continue;
      if (std::all_of(s.depends.begin(), s.depends.end(),
                      [&](const std::string& d) { return done.count(d) > 0; })) {
        next = &s;
        break;
      }
    }
    if (next == nullptr) {
      std::string left;
      for (const Step& s : steps) {
        if (!done.count(s.name)) left += (left.empty() ? "" : ", ") + s.name;
      }
      return Status(errc::invalid_argument,
                    "pipeline `" + name + "`: dependency cycle among " + left);
    }
    done.insert(next->name);
    order.push_back(next);
  }
  return order;
}

Status Dag::Validate() const {
  if (steps.empty()) return Status(errc::invalid_argument, "pipeline `" + name + "` has no steps");
  std::set<std::string> names;
  for (const Step& s : steps) {
    if (Status st = CheckStep(s); !st.ok()) return st;
    if (!names.insert(s.name).second) return Invalid(s.name, "is defined twice");
  }
  for (const Step& s : steps) {
    std::set<std::string> seen;
    for (const std::string& d : s.depends) {
      if (d == s.name) return Invalid(s.name, "depends on itself");
      if (!names.count(d)) return Invalid(s.name, "depends on unknown step `" + d + "`");
      if (!seen.insert(d).second) return Invalid(s.name, "lists dependency `" + d + "` twice");
    }
  }
  auto order = TopologicalOrder();
  if (!order.ok()) return order.status();
  return CheckArtifacts(*this, *order);
}

Result<std::vector<std::string>> Dag::RenderArgv(
    const Step& step, const std::map<std::string, std::string>& values) const {
  std::vector<std::string> out;
  out.reserve(step.argv.size());
  for (const std::string& arg : step.argv) {
    std::string rendered;
    Status st = ScanArg(
        arg, [&](std::string_view text) { rendered += text; },
        [&](std::string_view p) -> Status {
          const std::string key(p);
          if (auto it = values.find(key); it != values.end()) {
            rendered += it->second;
          } else if (auto d = step.params.find(key); d != step.params.end()) {
            rendered += d->second;
          } else {
            return Status(errc::invalid_argument, "no value for {" + key + "}");
          }
          return Status::Ok();
        });
    if (!st.ok()) return st.Prefix("step `" + step.name + "`");
    out.push_back(std::move(rendered));
  }
  return out;
}

StepOutcome OutcomeOf(const Step& step, int code) {
  if (code == kStepOk) return StepOutcome::kContinue;
  if (step.branch && code == step.branch->stop_exit_code) return StepOutcome::kStop;
  if (code == kStepUsage) return StepOutcome::kFatalError;
  return StepOutcome::kRetryableError;
}

}  // namespace aiot::pipeline
