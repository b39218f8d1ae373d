#include "pipeline/run_support.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "base/errc.h"
#include "base/file.h"
#include "base/version.h"

namespace aiot::pipeline {
namespace {

using Json = nlohmann::json;

std::string ParamsFile(const std::string& runs_dir, int64_t run_id) {
  return runs_dir + "/" + std::to_string(run_id) + "/params.json";
}

Json DurationMs(int64_t from_ns, int64_t to_ns) {
  if (from_ns == 0 || to_ns == 0) return nullptr;
  return (to_ns - from_ns) / 1000000;
}

Json StepJson(const StepRecord& s, bool log_tails) {
  Json j = {{"step", s.step},
            {"attempt", s.attempt},
            {"status", StepStatusName(s.status)},
            {"started_ns", s.started_ns},
            {"finished_ns", s.finished_ns},
            {"duration_ms", DurationMs(s.started_ns, s.finished_ns)},
            {"exit_code", s.exit_code ? Json(*s.exit_code) : Json(nullptr)}};
  if (log_tails) j["log_tail"] = s.log_tail;
  auto artifacts = Json::parse(s.artifacts, nullptr, false);
  j["artifacts"] = artifacts.is_object() ? artifacts : Json::object();
  return j;
}

}  // namespace

std::string CodeVersion() { return std::string(version::kVersion) + "+" + version::kGitCommit; }

Status SaveRunParams(const std::string& runs_dir, int64_t run_id, const RunParams& params) {
  const std::filesystem::path dir = std::filesystem::path(runs_dir) / std::to_string(run_id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  return WriteFileAtomic(ParamsFile(runs_dir, run_id), Json(params).dump(2) + "\n");
}

RunParams LoadRunParams(const std::string& runs_dir, int64_t run_id) {
  RunParams out;
  auto text = ReadWholeFile(ParamsFile(runs_dir, run_id));
  if (!text.ok()) return out;
  const Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

Status CheckParams(const Dag& dag, const RunParams& params) {
  for (const auto& [name, value] : params) {
    bool known = false;
    for (const auto& s : dag.steps) known = known || s.params.count(name) > 0;
    if (!known) {
      return Status(errc::invalid_argument,
                    "parameter `" + name + "` is not a parameter of any step of " + dag.name);
    }
  }
  return Status::Ok();
}

Json RunJson(const RunRecord& r, bool log_tails) {
  Json steps = Json::array();
  for (const auto& s : r.steps) steps.push_back(StepJson(s, log_tails));
  return {{"id", r.id},
          {"pipeline", r.pipeline},
          {"model", r.model},
          {"trigger", r.trigger},
          {"status", RunStatusName(r.status)},
          {"created_ns", r.created_ns},
          {"started_ns", r.started_ns},
          {"finished_ns", r.finished_ns},
          {"duration_ms", DurationMs(r.started_ns, r.finished_ns)},
          {"decision", r.decision},
          {"reason", r.reason},
          {"code_version", r.code_version},
          {"steps", steps}};
}

RunnerLock::RunnerLock(const std::string& path)
    : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {}

RunnerLock::~RunnerLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool RunnerLock::Acquire() {
  if (!held_) held_ = fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  return held_;
}

CancelWatch::CancelWatch(RunStore& store, Runner& runner, int64_t run_id)
    : thread_([this, &store, &runner, run_id] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
          auto r = store.Get(run_id);
          if (r.ok() && !IsActive(r->status)) runner.Cancel(run_id);
        }
      }) {}

CancelWatch::~CancelWatch() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace aiot::pipeline
