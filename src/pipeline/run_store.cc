#include "pipeline/run_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/artifact.h"
#include "base/errc.h"

namespace aiot::pipeline {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline TEXT NOT NULL,
  model TEXT NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  created_ns INTEGER NOT NULL,
  started_ns INTEGER NOT NULL DEFAULT 0,
  finished_ns INTEGER NOT NULL DEFAULT 0,
  decision TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  code_version TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_active_per_model
  ON runs (model) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS runs_by_model ON runs (model, id);
CREATE TABLE IF NOT EXISTS steps (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  step TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'succeeded', 'failed', 'stopped', 'interrupted')),
  started_ns INTEGER NOT NULL,
  finished_ns INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER,
  log_tail TEXT NOT NULL DEFAULT '',
  artifacts TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, step, attempt));
)sql";

constexpr const char* kRunStatusNames[] = {"queued", "running", "succeeded", "failed", "cancelled"};
constexpr const char* kStepStatusNames[] = {"running", "succeeded", "failed", "stopped",
                                            "interrupted"};
constexpr std::string_view kRunColumns =
    "id, pipeline, model, trigger, status, created_ns, started_ns, finished_ns, decision, reason,"
    " code_version";

template <typename E, size_t N>
std::optional<E> FromName(const char* const (&names)[N], std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

// The last kMaxLogTail bytes, not starting inside a UTF-8 sequence.
std::string Tail(std::string_view log) {
  if (log.size() <= kMaxLogTail) return std::string(log);
  std::string_view t = log.substr(log.size() - kMaxLogTail);
  while (!t.empty() && (static_cast<unsigned char>(t[0]) & 0xC0) == 0x80) t.remove_prefix(1);
  return std::string(t);
}

Status CheckText(std::string_view what, std::string_view v) {
  if (v.empty() || v.size() > 128) {
    return Status(errc::invalid_argument, std::string(what) + " must be 1..128 bytes");
  }
  return Status::Ok();
}

Result<RunRecord> ReadRun(const sqlite::Stmt& s) {
  RunRecord r;
  r.id = s.Int(0);
  r.pipeline = s.TextString(1);
  r.model = s.TextString(2);
  r.trigger = s.TextString(3);
  auto status = FromName<RunStatus>(kRunStatusNames, s.Text(4));
  if (!status) return Status(errc::corrupted, "run " + std::to_string(r.id) + ": bad status");
  r.status = *status;
  r.created_ns = s.Int(5);
  r.started_ns = s.Int(6);
  r.finished_ns = s.Int(7);
  r.decision = s.TextString(8);
  r.reason = s.TextString(9);
  r.code_version = s.TextString(10);
  return r;
}

Result<StepRecord> ReadStep(const sqlite::Stmt& s) {
  StepRecord r;
  r.run_id = s.Int(0);
  r.step = s.TextString(1);
  r.attempt = static_cast<int>(s.Int(2));
  auto status = FromName<StepStatus>(kStepStatusNames, s.Text(3));
  if (!status) return Status(errc::corrupted, "step " + r.step + ": bad status");
  r.status = *status;
  r.started_ns = s.Int(4);
  r.finished_ns = s.Int(5);
  if (!s.IsNull(6)) r.exit_code = static_cast<int>(s.Int(6));
  r.log_tail = s.TextString(7);
  r.artifacts = s.TextString(8);
  return r;
}

}  // namespace

const char* RunStatusName(RunStatus s) { return kRunStatusNames[static_cast<int>(s)]; }
const char* StepStatusName(StepStatus s) { return kStepStatusNames[static_cast<int>(s)]; }
bool IsActive(RunStatus s) { return s == RunStatus::kQueued || s == RunStatus::kRunning; }

Status RunStore::Open(const std::string& path) {
  std::lock_guard lock(mu_);
  auto db = sqlite::Db::Open(path, {.wal = true});
  if (!db.ok()) return db.status().Prefix("run store " + path);
  db_ = std::move(*db);
  return db_.Exec(kSchema).Prefix("run store " + path);
}

Result<int64_t> RunStore::CreateRun(const NewRun& run) {
  for (auto [what, v] : {std::pair<std::string_view, std::string_view>{"pipeline", run.pipeline},
                         {"trigger", run.trigger}}) {
    if (Status s = CheckText(what, v); !s.ok()) return s;
  }
  if (!IsValidModelName(run.model)) {
    return Status(errc::invalid_argument,
                  "model `" + run.model.substr(0, 80) + "` must be 1..64 of [A-Za-z0-9._-]");
  }
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(
      "INSERT INTO runs (pipeline, model, trigger, status, created_ns, code_version)"
      " VALUES (?, ?, ?, 'queued', ?, ?)");
  if (!stmt.ok()) return stmt.status();
  Status s = stmt->Bind(1, run.pipeline)
                 .Bind(2, run.model)
                 .Bind(3, run.trigger)
                 .Bind(4, clock_.NowNanos())
                 .Bind(5, run.code_version)
                 .Run();
  if (s.code() == make_error_code(errc::already_exists)) {
    // The model's newest run is the active one: no run could be created after it.
    auto active = ListLocked(
        RunFilter{.model = run.model, .status = std::nullopt, .limit = 1, .pipeline = {}});
    std::string which = active.ok() && !active->empty()
                            ? " (run " + std::to_string(active->front().id) + ")"
                            : std::string();
    return Status(errc::already_exists,
                  "model `" + run.model + "` already has an active run" + which);
  }
  if (!s.ok()) return s;
  return db_.LastInsertRowId();
}

Result<int> RunStore::StartStep(int64_t run_id, std::string_view step) {
  if (Status s = CheckText("step", step); !s.ok()) return s;
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto run = GetLocked(run_id);
  if (!run.ok()) return run.status();
  if (!IsActive(run->status)) {
    return Status(errc::invalid_argument, "run " + std::to_string(run_id) + " is " +
                                              RunStatusName(run->status) + ": no step can start");
  }
  int attempt = 1;
  for (const StepRecord& s : run->steps) {
    if (s.step != step) continue;
    if (s.status == StepStatus::kRunning) {
      return Status(errc::invalid_argument, "step `" + std::string(step) + "` of run " +
                                                std::to_string(run_id) + " is already running");
    }
    attempt = std::max(attempt, s.attempt + 1);
  }
  const int64_t now = clock_.NowNanos();
  auto insert = db_.Prepare(
      "INSERT INTO steps (run_id, step, attempt, status, started_ns) VALUES (?, ?, ?, 'running', "
      "?)");
  if (!insert.ok()) return insert.status();
  if (Status s = insert->Bind(1, run_id).Bind(2, step).Bind(3, attempt).Bind(4, now).Run();
      !s.ok()) {
    return s;
  }
  auto update = db_.Prepare(
      "UPDATE runs SET status = 'running',"
      " started_ns = CASE started_ns WHEN 0 THEN ? ELSE started_ns END WHERE id = ?");
  if (!update.ok()) return update.status();
  if (Status s = update->Bind(1, now).Bind(2, run_id).Run(); !s.ok()) return s;
  if (Status s = tx.Commit(); !s.ok()) return s;
  return attempt;
}

Status RunStore::FinishStep(int64_t run_id, std::string_view step, int attempt,
                            const StepResult& result) {
  if (result.status == StepStatus::kRunning || result.status == StepStatus::kInterrupted) {
    return Status(errc::invalid_argument, "a step finishes as succeeded, failed or stopped");
  }
  auto artifacts = nlohmann::json::parse(result.artifacts, nullptr, /*allow_exceptions=*/false);
  if (!artifacts.is_object()) {
    return Status(errc::invalid_argument,
                  "step `" + std::string(step) + "`: artifacts must be a JSON object");
  }
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(
      "UPDATE steps SET status = ?, finished_ns = ?, exit_code = ?, log_tail = ?, artifacts = ?"
      " WHERE run_id = ? AND step = ? AND attempt = ? AND status = 'running'");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, StepStatusName(result.status)).Bind(2, clock_.NowNanos());
  if (result.exit_code) {
    stmt->Bind(3, *result.exit_code);
  } else {
    stmt->BindNull(3);
  }
  Status s = stmt->Bind(4, Tail(result.log))
                 .Bind(5, artifacts.dump())
                 .Bind(6, run_id)
                 .Bind(7, step)
                 .Bind(8, attempt)
                 .Run();
  if (!s.ok()) return s;
  if (db_.Changes() == 0) {
    return Status(errc::not_found, "run " + std::to_string(run_id) + " has no running step `" +
                                       std::string(step) + "` attempt " + std::to_string(attempt));
  }
  return Status::Ok();
}

Status RunStore::FinishRun(int64_t run_id, RunStatus status, std::string_view decision,
                           std::string_view reason) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  if (Status s = FinishRunLocked(run_id, status, decision, reason); !s.ok()) return s;
  return tx.Commit();
}

Status RunStore::FinishRunLocked(int64_t run_id, RunStatus status, std::string_view decision,
                                 std::string_view reason) {
  if (IsActive(status)) {
    return Status(errc::invalid_argument, "a run finishes as succeeded, failed or cancelled");
  }
  auto run = GetLocked(run_id);
  if (!run.ok()) return run.status();
  if (!IsActive(run->status)) {
    return Status(errc::invalid_argument,
                  "run " + std::to_string(run_id) + " is already " + RunStatusName(run->status));
  }
  if (Status s = InterruptRunningSteps(run_id, "the run ended: " + std::string(reason)); !s.ok()) {
    return s;
  }
  auto stmt = db_.Prepare(
      "UPDATE runs SET status = ?, finished_ns = ?, decision = ?, reason = ? WHERE id = ?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, RunStatusName(status))
      .Bind(2, clock_.NowNanos())
      .Bind(3, decision)
      .Bind(4, Tail(reason))
      .Bind(5, run_id)
      .Run();
}

Status RunStore::InterruptRunningSteps(int64_t run_id, std::string_view why) {
  auto select = db_.Prepare(
      "SELECT step, attempt, log_tail FROM steps WHERE run_id = ? AND status = 'running'");
  if (!select.ok()) return select.status();
  select->Bind(1, run_id);
  std::vector<std::tuple<std::string, int64_t, std::string>> running;
  for (;;) {
    auto row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    running.emplace_back(select->TextString(0), select->Int(1), select->TextString(2));
  }
  auto update = db_.Prepare(
      "UPDATE steps SET status = 'interrupted', finished_ns = ?, log_tail = ?"
      " WHERE run_id = ? AND step = ? AND attempt = ?");
  if (!update.ok()) return update.status();
  for (const auto& [step, attempt, log] : running) {
    std::string tail =
        Tail(log + (log.empty() ? "" : "\n") + "[interrupted: " + std::string(why) + "]");
    Status s = update->Bind(1, clock_.NowNanos())
                   .Bind(2, tail)
                   .Bind(3, run_id)
                   .Bind(4, step)
                   .Bind(5, attempt)
                   .Run();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<RunRecord> RunStore::Get(int64_t run_id) const {
  std::lock_guard lock(mu_);
  return GetLocked(run_id);
}

Result<RunRecord> RunStore::GetLocked(int64_t run_id) const {
  auto run = db_.Prepare("SELECT " + std::string(kRunColumns) + " FROM runs WHERE id = ?");
  if (!run.ok()) return run.status();
  run->Bind(1, run_id);
  auto row = run->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(errc::not_found, "no run " + std::to_string(run_id));
  auto record = ReadRun(*run);
  run->Reset();
  if (!record.ok()) return record;
  auto steps = db_.Prepare(
      "SELECT run_id, step, attempt, status, started_ns, finished_ns, exit_code, log_tail,"
      " artifacts FROM steps WHERE run_id = ? ORDER BY started_ns, rowid");
  if (!steps.ok()) return steps.status();
  steps->Bind(1, run_id);
  for (;;) {
    auto more = steps->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto step = ReadStep(*steps);
    if (!step.ok()) return step.status();
    record->steps.push_back(std::move(*step));
  }
  return record;
}

Result<std::vector<RunRecord>> RunStore::List(const RunFilter& filter) const {
  std::lock_guard lock(mu_);
  return ListLocked(filter);
}

Result<std::vector<RunRecord>> RunStore::ListLocked(const RunFilter& filter) const {
  if (filter.limit <= 0) return std::vector<RunRecord>{};
  const std::string sql = "SELECT " + std::string(kRunColumns) +
                          " FROM runs WHERE (?1 = '' OR model = ?1) AND (?2 = '' OR status = ?2)"
                          " AND (?4 = '' OR pipeline = ?4) ORDER BY id DESC LIMIT ?3";
  auto stmt = db_.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, filter.model)
      .Bind(2, filter.status ? RunStatusName(*filter.status) : "")
      .Bind(3, filter.limit)
      .Bind(4, filter.pipeline);
  std::vector<RunRecord> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto r = ReadRun(*stmt);
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::vector<Recovery>> RunStore::RecoverAfterRestart(const Dag& dag) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto ids = db_.Prepare("SELECT id FROM runs WHERE status IN ('queued', 'running') ORDER BY id");
  if (!ids.ok()) return ids.status();
  std::vector<int64_t> active;
  for (;;) {
    auto row = ids->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    active.push_back(ids->Int(0));
  }
  std::vector<Recovery> out;
  for (int64_t id : active) {
    auto run = GetLocked(id);
    if (!run.ok()) return run.status();
    Recovery r{.run_id = id, .model = run->model, .interrupted_step = {}, .resumed = true};
    int attempts = 0;
    for (const StepRecord& s : run->steps) {
      if (s.status == StepStatus::kRunning) r.interrupted_step = s.step;
    }
    for (const StepRecord& s : run->steps) {
      if (s.step == r.interrupted_step) ++attempts;
    }
    if (!r.interrupted_step.empty()) {
      if (Status s = InterruptRunningSteps(id, "the process running it ended"); !s.ok()) return s;
      const Step* step = run->pipeline == dag.name ? dag.Find(r.interrupted_step) : nullptr;
      r.resumed = step != nullptr && attempts <= step->retries;
      if (!r.resumed) {
        Status s = FinishRunLocked(id, RunStatus::kFailed, "",
                                   "interrupted in step " + r.interrupted_step);
        if (!s.ok()) return s;
      }
    }
    out.push_back(std::move(r));
  }
  if (Status s = tx.Commit(); !s.ok()) return s;
  return out;
}

}  // namespace aiot::pipeline
