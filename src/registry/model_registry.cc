#include "registry/model_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/sha256.h"

namespace aiot::registry {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS models (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  stage TEXT NOT NULL DEFAULT 'none',
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  signature TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}',
  parameters TEXT NOT NULL DEFAULT '{}',
  training_data_hash TEXT NOT NULL DEFAULT '',
  parent_version INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  production_at INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS models_sha ON models(name, sha256);
CREATE UNIQUE INDEX IF NOT EXISTS models_one_production ON models(name) WHERE stage = 'production';
CREATE TABLE IF NOT EXISTS model_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
)sql";

constexpr const char* kColumns =
    "name, version, stage, sha256, size, signature, metrics, parameters, training_data_hash, "
    "parent_version, created_at";

ModelVersion ReadRow(const sqlite::Stmt& s) {
  ModelVersion m;
  m.name = s.TextString(0);
  m.version = s.Int(1);
  if (auto stage = ParseStage(s.TextString(2)); stage.ok()) m.stage = *stage;
  m.sha256 = s.TextString(3);
  m.size = s.Int(4);
  m.signature = s.TextString(5);
  m.metrics_json = s.TextString(6);
  m.parameters_json = s.TextString(7);
  m.training_data_hash = s.TextString(8);
  m.parent_version = s.Int(9);
  m.created_at = s.Int(10);
  return m;
}

// Ok when `text` is a JSON object; errc::invalid_metadata naming `what` otherwise.
Status CheckJsonObject(std::string_view what, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) return Status::Ok();
  return Status(errc::invalid_metadata, std::string(what) + " must be a JSON object");
}

// Ok when `version` can name a version (1, 2, ...).
Status CheckVersion(int64_t version) {
  if (version > 0) return Status::Ok();
  return Status(errc::invalid_version,
                "version must be a positive number, not " + std::to_string(version));
}

std::string Ref(std::string_view name, int64_t version) {
  return std::string(name) + "@" + std::to_string(version);
}

// What Commit checks before touching the disk, in the order a client would fix it.
Status CheckPushRequest(const PushRequest& req, int64_t size) {
  if (Status s = CheckName("model name", req.name); !s.ok()) return s;
  if (Status s = CheckJsonObject("metrics", req.metrics_json); !s.ok()) return s;
  if (Status s = CheckJsonObject("parameters", req.parameters_json); !s.ok()) return s;
  if (req.parent_version < 0) {
    return Status(errc::invalid_version, "parent_version must be 0 (none) or a version, not " +
                                             std::to_string(req.parent_version));
  }
  if (size == 0) return Status(errc::empty_artifact, "the artifact is empty");
  return Status::Ok();
}

Status TooLarge(int64_t size, int64_t limit) {
  return Status(errc::too_large, "the artifact is over max_artifact_bytes (" +
                                     std::to_string(limit) + " bytes): " + std::to_string(size) +
                                     " bytes or more");
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status(aiot::errc::io_error, "cannot open " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status(aiot::errc::io_error, "cannot fsync " + dir);
}

}  // namespace

const char* StageName(Stage s) {
  switch (s) {
    case Stage::kNone:
      return "none";
    case Stage::kStaging:
      return "staging";
    case Stage::kProduction:
      return "production";
    case Stage::kArchived:
      return "archived";
  }
  return "none";
}

Result<Stage> ParseStage(std::string_view text) {
  for (Stage s : {Stage::kNone, Stage::kStaging, Stage::kProduction, Stage::kArchived}) {
    if (text == StageName(s)) return s;
  }
  return {errc::invalid_stage, "stage `" + std::string(text.substr(0, 80)) +
                                   "` is not one of none, staging, production, archived"};
}

ArtifactUpload::~ArtifactUpload() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

Status ArtifactUpload::Write(std::string_view data) {
  if (fd_ < 0) return Status(aiot::errc::cancelled, "the upload is already finished");
  if (size_ + static_cast<int64_t>(data.size()) > limit_) {
    return TooLarge(size_ + static_cast<int64_t>(data.size()), limit_);
  }
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(aiot::errc::io_error, "cannot write " + path_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  hash_.Update(data);
  size_ += static_cast<int64_t>(data.size());
  return Status::Ok();
}

ModelRegistry::ModelRegistry(RegistryConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  artifacts_dir_ = config_.data_dir + "/artifacts";
  tmp_dir_ = artifacts_dir_ + "/tmp";
}

Status ModelRegistry::Open() {
  std::error_code ec;
  std::filesystem::create_directories(tmp_dir_, ec);
  if (ec) {
    return Status(aiot::errc::io_error, "cannot create " + tmp_dir_ + ": " + ec.message());
  }
  auto key = SigningKey::LoadOrCreate(config_.data_dir + "/signing_key.pem");
  if (!key.ok()) return key.status();
  key_ = *key;
  std::lock_guard lock(mu_);
  if (auto db = sqlite::Db::Open(config_.data_dir + "/registry.db", {.wal = true}); db.ok()) {
    db_ = std::move(*db);
  } else {
    return db.status();
  }
  if (Status s = db_.Exec(kSchema); !s.ok()) return s;
  CleanUp();
  return Status::Ok();
}

void ModelRegistry::CleanUp() {
  auto log = log::Get("registry");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(tmp_dir_, ec)) {
    log->warn("removing interrupted upload {}", e.path().string());
    std::filesystem::remove(e.path(), ec);
  }
  // Only with the complete set of referenced digests: an incomplete one would delete the
  // artifacts of registered models.
  std::set<std::string> referenced;
  auto st = db_.Prepare("SELECT DISTINCT sha256 FROM models WHERE deleted = 0");
  Status listed =
      st.ok()
          ? st->ForEachRow([&](const sqlite::Stmt& row) { referenced.insert(row.TextString(0)); })
          : st.status();
  if (!listed.ok()) {
    log->warn("not sweeping unregistered artifact files: {}", listed.message());
    return;
  }
  for (const auto& e : std::filesystem::directory_iterator(artifacts_dir_, ec)) {
    if (!e.is_regular_file()) continue;
    std::string file = e.path().filename().string();
    std::string sha = file.substr(0, file.find('.'));
    if (!referenced.count(sha)) {
      log->warn("removing unregistered artifact file {}", e.path().string());
      std::filesystem::remove(e.path(), ec);
    }
  }
}

std::string ModelRegistry::ArtifactPath(std::string_view sha256) const {
  return artifacts_dir_ + "/" + std::string(sha256);
}

Result<std::unique_ptr<ArtifactUpload>> ModelRegistry::BeginUpload() {
  std::string path = tmp_dir_ + "/upload-" + RandomHex(8);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return {aiot::errc::io_error, "cannot create " + path};
  return std::unique_ptr<ArtifactUpload>(new ArtifactUpload(path, fd, config_.max_artifact_bytes));
}

Result<ModelVersion> ModelRegistry::Push(std::string_view bytes, const PushRequest& req,
                                         bool* created) {
  // Refused before anything is written; Commit checks the same.
  if (Status s = CheckPushRequest(req, static_cast<int64_t>(bytes.size())); !s.ok()) return s;
  if (static_cast<int64_t>(bytes.size()) > config_.max_artifact_bytes) {
    return TooLarge(static_cast<int64_t>(bytes.size()), config_.max_artifact_bytes);
  }
  auto up = BeginUpload();
  if (!up.ok()) return up.status();
  if (Status s = (*up)->Write(bytes); !s.ok()) return s;
  return Commit(std::move(*up), req, created);
}

Result<ModelVersion> ModelRegistry::Commit(std::unique_ptr<ArtifactUpload> up,
                                           const PushRequest& req, bool* created) {
  if (created) *created = false;
  if (Status s = CheckPushRequest(req, up->size_); !s.ok()) return s;
  std::string sha = up->hash_.FinishHex();
  if (::fsync(up->fd_) != 0) return {aiot::errc::io_error, "cannot fsync " + up->path_};
  ::close(up->fd_);
  up->fd_ = -1;
  std::string sig = SignArtifactDigest(key_, sha);

  std::lock_guard lock(mu_);
  // Same name and bytes as an existing version: idempotent.
  auto existing = FindBySha(req.name, sha);
  if (!existing.ok()) return existing.status();
  if (*existing) return std::move(**existing);
  if (req.parent_version > 0 && !GetLocked(req.name, req.parent_version).ok()) {
    return {errc::unknown_parent, "parent_version " + std::to_string(req.parent_version) + ": " +
                                      req.name + " has no such version"};
  }
  if (Status s = PlaceArtifact(*up, sha, sig); !s.ok()) return s;
  auto m = InsertVersion(req, sha, sig, up->size_);
  if (!m.ok()) return m;
  if (created) *created = true;
  log::Get("registry")
      ->info("registered model {}@{} ({} bytes, sha256 {})", m->name, m->version, m->size, sha);
  return m;
}

Result<std::optional<ModelVersion>> ModelRegistry::FindBySha(std::string_view name,
                                                             std::string_view sha256) {
  auto st = db_.Prepare(std::string("SELECT ") + kColumns +
                        " FROM models WHERE name = ? AND sha256 = ? AND deleted = 0 "
                        "ORDER BY version LIMIT 1");
  if (!st.ok()) return st.status();
  st->Bind(1, name).Bind(2, sha256);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  if (!*r) return std::optional<ModelVersion>();
  return std::optional<ModelVersion>(ReadRow(*st));
}

Status ModelRegistry::PlaceArtifact(ArtifactUpload& up, const std::string& sha256,
                                    const std::string& sig) {
  // The file goes into place before the row exists; Open() removes it if we die in between.
  std::string final_path = ArtifactPath(sha256);
  if (::rename(up.path_.c_str(), final_path.c_str()) != 0) {
    return Status(aiot::errc::io_error, "cannot rename " + up.path_ + " to " + final_path);
  }
  up.committed_ = true;
  if (Status s = WriteFileAtomic(final_path + ".sig", sig + "\n"); !s.ok()) return s;
  return FsyncDir(artifacts_dir_);
}

Result<ModelVersion> ModelRegistry::InsertVersion(const PushRequest& req, const std::string& sha256,
                                                  const std::string& sig, int64_t size) {
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto next = db_.Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = ?");
  if (!next.ok()) return next.status();
  next->Bind(1, req.name);
  auto r = next->Step();
  if (!r.ok()) return r.status();
  ModelVersion m;
  m.name = req.name;
  m.version = next->Int(0);
  m.stage = Stage::kNone;
  m.sha256 = sha256;
  m.size = size;
  m.signature = sig;
  m.metrics_json = req.metrics_json;
  m.parameters_json = req.parameters_json;
  m.training_data_hash = req.training_data_hash;
  m.parent_version = req.parent_version;
  m.created_at = clock_.NowNanos();
  auto ins = db_.Prepare(
      "INSERT INTO models (name, version, stage, sha256, size, signature, metrics, parameters, "
      "training_data_hash, parent_version, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  if (!ins.ok()) return ins.status();
  ins->Bind(1, m.name)
      .Bind(2, m.version)
      .Bind(3, StageName(m.stage))
      .Bind(4, m.sha256)
      .Bind(5, m.size)
      .Bind(6, m.signature)
      .Bind(7, m.metrics_json)
      .Bind(8, m.parameters_json)
      .Bind(9, m.training_data_hash)
      .Bind(10, m.parent_version)
      .Bind(11, m.created_at);
  if (Status s = ins->Run(); !s.ok()) return s;
  if (Status s = AddAudit(req.actor, "push", m.name, m.version, "sha256=" + sha256); !s.ok()) {
    return s;
  }
  if (Status s = tx.Commit(); !s.ok()) return s;
  return m;
}

Status ModelRegistry::AddAudit(std::string_view actor, std::string_view action,
                               std::string_view name, int64_t version, std::string_view detail) {
  auto st = db_.Prepare(
      "INSERT INTO model_audit (at, actor, action, name, version, detail) VALUES (?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->Bind(1, clock_.NowNanos())
      .Bind(2, actor)
      .Bind(3, action)
      .Bind(4, name)
      .Bind(5, version)
      .Bind(6, detail);
  return st->Run();
}

Result<std::vector<ModelVersion>> ModelRegistry::List(std::string_view name) {
  if (!name.empty()) {
    if (Status s = CheckName("model name", name); !s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(std::string("SELECT ") + kColumns +
                        " FROM models WHERE deleted = 0 AND (?1 = '' OR name = ?1) "
                        "ORDER BY name, version DESC");
  if (!st.ok()) return st.status();
  st->Bind(1, name);
  std::vector<ModelVersion> out;
  Status s = st->ForEachRow([&out](const sqlite::Stmt& row) { out.push_back(ReadRow(row)); });
  if (!s.ok()) return s;
  return out;
}

Result<ModelVersion> ModelRegistry::GetLocked(std::string_view name, int64_t version) {
  auto st = db_.Prepare(std::string("SELECT ") + kColumns +
                        " FROM models WHERE name = ? AND version = ? AND deleted = 0");
  if (!st.ok()) return st.status();
  st->Bind(1, name).Bind(2, version);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  if (!*r) return {aiot::errc::not_found, "model " + Ref(name, version) + " not found"};
  return ReadRow(*st);
}

Result<ModelVersion> ModelRegistry::Get(std::string_view name, int64_t version) {
  if (Status s = CheckName("model name", name); !s.ok()) return s;
  if (Status s = CheckVersion(version); !s.ok()) return s;
  std::lock_guard lock(mu_);
  return GetLocked(name, version);
}

Result<ModelVersion> ModelRegistry::Production(std::string_view name) {
  if (Status s = CheckName("model name", name); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(std::string("SELECT ") + kColumns +
                        " FROM models WHERE name = ? AND stage = 'production' AND deleted = 0");
  if (!st.ok()) return st.status();
  st->Bind(1, name);
  auto r = st->Step();
  if (!r.ok()) return r.status();
  if (!*r)
    return {aiot::errc::not_found, "model " + std::string(name) + " has no production version"};
  return ReadRow(*st);
}

void ModelRegistry::SetProductionListener(ProductionListener listener) {
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

void ModelRegistry::NotifyProduction(const ModelVersion& m, std::string_view action) {
  ProductionListener listener;
  {
    std::lock_guard lock(listener_mu_);
    listener = listener_;
  }
  if (listener) listener(m, action);
}

Result<ModelVersion> ModelRegistry::SetStage(std::string_view name, int64_t version, Stage stage,
                                             std::string_view actor) {
  if (Status s = CheckName("model name", name); !s.ok()) return s;
  if (Status s = CheckVersion(version); !s.ok()) return s;
  bool changed = false;
  auto m = SetStageImpl(name, version, stage, actor, &changed);
  if (m.ok() && changed && stage == Stage::kProduction) NotifyProduction(*m, "promote");
  return m;
}

Result<ModelVersion> ModelRegistry::Rollback(std::string_view name, std::string_view actor) {
  if (Status s = CheckName("model name", name); !s.ok()) return s;
  auto m = RollbackImpl(name, actor);
  if (m.ok()) NotifyProduction(*m, "rollback");
  return m;
}

Result<ModelVersion> ModelRegistry::SetStageImpl(std::string_view name, int64_t version,
                                                 Stage stage, std::string_view actor,
                                                 bool* changed) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto m = GetLocked(name, version);
  if (!m.ok()) return m;
  if (m->stage == stage) return m;
  if (stage == Stage::kProduction) {
    auto demote =
        db_.Prepare("UPDATE models SET stage = 'archived' WHERE name = ? AND stage = 'production'");
    if (!demote.ok()) return demote.status();
    demote->Bind(1, name);
    if (Status s = demote->Run(); !s.ok()) return s;
  }
  auto up = db_.Prepare(
      "UPDATE models SET stage = ?, production_at = CASE WHEN ? = 'production' THEN ? ELSE "
      "production_at END WHERE name = ? AND version = ?");
  if (!up.ok()) return up.status();
  up->Bind(1, StageName(stage))
      .Bind(2, StageName(stage))
      .Bind(3, clock_.NowNanos())
      .Bind(4, name)
      .Bind(5, version);
  if (Status s = up->Run(); !s.ok()) return s;
  const char* action = stage == Stage::kArchived ? "archive" : "promote";
  if (Status s = AddAudit(actor, action, name, version,
                          std::string(StageName(m->stage)) + "->" + StageName(stage));
      !s.ok()) {
    return s;
  }
  if (Status s = tx.Commit(); !s.ok()) return s;
  m->stage = stage;
  *changed = true;
  return m;
}

Result<ModelVersion> ModelRegistry::RollbackImpl(std::string_view name, std::string_view actor) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto st = db_.Prepare(
      "SELECT version, stage FROM models WHERE name = ? AND deleted = 0 AND production_at > 0 "
      "ORDER BY production_at DESC LIMIT 2");
  if (!st.ok()) return st.status();
  st->Bind(1, name);
  std::vector<std::pair<int64_t, std::string>> rows;
  Status listed = st->ForEachRow(
      [&rows](const sqlite::Stmt& row) { rows.emplace_back(row.Int(0), row.TextString(1)); });
  if (!listed.ok()) return listed;
  if (rows.size() < 2 || rows[0].second != "production") {
    return {aiot::errc::not_found,
            "model " + std::string(name) + " has no earlier production version to roll back to"};
  }
  int64_t current = rows[0].first, previous = rows[1].first;
  // Archive first so the one-production index never sees two.
  auto archive = db_.Prepare("UPDATE models SET stage = 'archived' WHERE name = ? AND version = ?");
  if (!archive.ok()) return archive.status();
  archive->Bind(1, name).Bind(2, current);
  if (Status s = archive->Run(); !s.ok()) return s;
  auto promote = db_.Prepare(
      "UPDATE models SET stage = 'production', production_at = ? WHERE name = ? AND version = ?");
  if (!promote.ok()) return promote.status();
  promote->Bind(1, clock_.NowNanos()).Bind(2, name).Bind(3, previous);
  if (Status s = promote->Run(); !s.ok()) return s;
  if (Status s = AddAudit(actor, "rollback", name, previous,
                          "from " + std::to_string(current) + " to " + std::to_string(previous));
      !s.ok()) {
    return s;
  }
  if (Status s = tx.Commit(); !s.ok()) return s;
  auto m = GetLocked(name, previous);
  return m;
}

Status ModelRegistry::Delete(std::string_view name, int64_t version, std::string_view actor) {
  if (Status s = CheckName("model name", name); !s.ok()) return s;
  if (Status s = CheckVersion(version); !s.ok()) return s;
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto m = GetLocked(name, version);
  if (!m.ok()) return m.status();
  if (m->stage == Stage::kProduction) {
    return Status(errc::in_production, "model " + Ref(name, version) +
                                           " is in production: archive or replace it before "
                                           "deleting it");
  }
  auto del = db_.Prepare("UPDATE models SET deleted = 1 WHERE name = ? AND version = ?");
  if (!del.ok()) return del.status();
  del->Bind(1, name).Bind(2, version);
  if (Status s = del->Run(); !s.ok()) return s;
  if (Status s = AddAudit(actor, "delete", name, version, ""); !s.ok()) return s;
  auto refs = db_.Prepare("SELECT COUNT(*) FROM models WHERE sha256 = ? AND deleted = 0");
  if (!refs.ok()) return refs.status();
  refs->Bind(1, m->sha256);
  auto r = refs->Step();
  if (!r.ok()) return r.status();
  bool unreferenced = refs->Int(0) == 0;
  if (Status s = tx.Commit(); !s.ok()) return s;
  if (unreferenced) {
    // After the commit: a crash here leaves an unreferenced file that Open() removes.
    ::unlink(ArtifactPath(m->sha256).c_str());
    ::unlink((ArtifactPath(m->sha256) + ".sig").c_str());
  }
  return Status::Ok();
}

Result<std::vector<AuditEntry>> ModelRegistry::Audit(std::string_view name, int limit) {
  if (!name.empty()) {
    if (Status s = CheckName("model name", name); !s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  auto st = db_.Prepare(
      "SELECT id, at, actor, action, name, version, detail FROM model_audit "
      "WHERE (?1 = '' OR name = ?1) ORDER BY id DESC LIMIT ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, name).Bind(2, limit);
  std::vector<AuditEntry> out;
  Status s = st->ForEachRow([&out](const sqlite::Stmt& row) {
    out.push_back({row.Int(0), row.Int(1), row.TextString(2), row.TextString(3), row.TextString(4),
                   row.Int(5), row.TextString(6)});
  });
  if (!s.ok()) return s;
  return out;
}

std::vector<std::string> ModelRegistry::CheckConsistency() {
  std::vector<std::string> problems;
  auto all = List();
  if (!all.ok()) return {"cannot list models"};
  std::map<std::string, int> production;
  for (const auto& m : *all) {
    std::string id = m.name + "@" + std::to_string(m.version);
    if (m.stage == Stage::kProduction) ++production[m.name];
    std::ifstream in(ArtifactPath(m.sha256), std::ios::binary);
    if (!in) {
      problems.push_back(id + ": artifact missing");
      continue;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (static_cast<int64_t>(bytes.size()) != m.size) problems.push_back(id + ": size differs");
    if (!VerifyArtifact(key_.PublicKeyPem(), bytes, m.sha256, m.signature).ok()) {
      problems.push_back(id + ": digest or signature does not verify");
    }
    if (!IsSha256Hex(m.sha256)) problems.push_back(id + ": malformed sha256");
  }
  for (const auto& [name, n] : production) {
    if (n > 1) problems.push_back(name + ": more than one production version");
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(tmp_dir_, ec)) {
    problems.push_back("leftover temp file " + e.path().string());
  }
  return problems;
}

}  // namespace aiot::registry
