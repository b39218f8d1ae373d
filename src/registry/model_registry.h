#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/artifact.h"
#include "base/clock.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "registry/crypto.h"
#include "registry/errc.h"
#include "registry/registry_config.h"

namespace aiot::registry {

// Lifecycle stages. At most one version per name is in production.
enum class Stage { kNone, kStaging, kProduction, kArchived };
const char* StageName(Stage s);
// "production" -> Stage::kProduction; errc::invalid_stage naming the accepted ones otherwise.
Result<Stage> ParseStage(std::string_view text);

struct ModelVersion {
  std::string name;
  int64_t version = 0;
  Stage stage = Stage::kNone;
  std::string sha256;     // lowercase hex of the artifact
  int64_t size = 0;       // bytes
  std::string signature;  // base64 Ed25519 over `sha256` (see crypto.h)
  std::string metrics_json = "{}";
  std::string parameters_json = "{}";
  std::string training_data_hash;
  int64_t parent_version = 0;  // 0 = none
  int64_t created_at = 0;      // unix nanos
};

struct PushRequest {
  std::string name;
  std::string metrics_json = "{}";     // must be a JSON object
  std::string parameters_json = "{}";  // must be a JSON object
  std::string training_data_hash;
  int64_t parent_version = 0;
  std::string actor = "system";  // who pushed, for the audit log
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at = 0;  // unix nanos
  std::string actor;
  std::string action;  // push, promote, archive, delete, rollback
  std::string name;
  int64_t version = 0;
  std::string detail;
};

// Model names (and device ids) are checked with aiot::IsValidModelName (base/artifact.h).
//
// Errors: the registry checks every argument and says in the Status message which one was wrong
// and why, with a registry::errc code (errc.h) per cause: invalid_name, invalid_version,
// unknown_parent, invalid_metadata, empty_artifact, too_large, in_production. Missing records are
// aiot::errc::not_found; storage failures keep the SQLite/file codes (io_error, ...).

class ModelRegistry;

// An artifact being written to a temp file under artifacts/tmp/. Not thread-safe; one writer.
class ArtifactUpload {
 public:
  ~ArtifactUpload();
  ArtifactUpload(const ArtifactUpload&) = delete;
  ArtifactUpload& operator=(const ArtifactUpload&) = delete;

  // Appends bytes. Returns errc::too_large once the size limit is passed (the upload is then
  // dead; drop it).
  Status Write(std::string_view data);
  int64_t size() const { return size_; }

 private:
  friend class ModelRegistry;
  ArtifactUpload(std::string path, int fd, int64_t limit)
      : path_(std::move(path)), fd_(fd), limit_(limit) {}
  std::string path_;
  int fd_;
  int64_t limit_;
  int64_t size_ = 0;
  bool committed_ = false;  // renamed into place; the destructor leaves the file alone
  Sha256 hash_;
};

// The model registry: versioned, content-addressed, signed artifacts with stages and an audit log.
//
// Storage: <data_dir>/registry.db (SQLite WAL) and <data_dir>/artifacts/<sha256> with
// <sha256>.sig beside it. A push writes the artifact to artifacts/tmp/, fsyncs, renames it into
// place, and only then inserts the row in a transaction, so a crash at any point leaves either no
// row (and an orphan file that Open() removes) or a complete model.
//
// Thread-safe: database access is serialized by a mutex; uploads write without holding it.
class ModelRegistry {
 public:
  explicit ModelRegistry(RegistryConfig config, const Clock& clock = SystemClock::Instance());

  // Creates the data dir, loads or creates the signing key, opens the database, removes temp
  // files and unreferenced artifact files.
  Status Open();

  Result<std::unique_ptr<ArtifactUpload>> BeginUpload();
  // Finishes an upload: verifies the request, makes the file durable and registers it. Pushing
  // the same bytes under the same name again returns the existing version (idempotent);
  // `created`, when given, says whether a new version was made.
  Result<ModelVersion> Commit(std::unique_ptr<ArtifactUpload> upload, const PushRequest& req,
                              bool* created = nullptr);
  // BeginUpload + Write + Commit.
  Result<ModelVersion> Push(std::string_view bytes, const PushRequest& req,
                            bool* created = nullptr);

  // All versions (of `name`, or of every model when empty), newest first; deleted ones omitted.
  Result<std::vector<ModelVersion>> List(std::string_view name = {});
  Result<ModelVersion> Get(std::string_view name, int64_t version);
  // The production version of `name`, aiot::errc::not_found when there is none.
  Result<ModelVersion> Production(std::string_view name);

  // Moves a version to `stage`. Promoting to production archives the previous production
  // version in the same transaction.
  Result<ModelVersion> SetStage(std::string_view name, int64_t version, Stage stage,
                                std::string_view actor);
  // Puts back in production the version that was in production before the current one; the
  // current one is archived. aiot::errc::not_found when there is no earlier production version.
  Result<ModelVersion> Rollback(std::string_view name, std::string_view actor);
  // Deletes a version that is not in production (errc::in_production otherwise). The
  // artifact file goes when no other version refers to it. Version numbers are never reused.
  Status Delete(std::string_view name, int64_t version, std::string_view actor);

  Result<std::vector<AuditEntry>> Audit(std::string_view name = {}, int limit = 1000);

  // Called after a version went to production (`action` "promote", or "rollback" for the version
  // Rollback() put back), after the transaction committed, without the registry's lock held, on
  // the caller's thread. One listener; set it before serving requests.
  using ProductionListener =
      std::function<void(const ModelVersion& version, std::string_view action)>;
  void SetProductionListener(ProductionListener listener);

  // Problems found by a full check (row without artifact, wrong size, bad signature, more than
  // one production version); empty when consistent.
  std::vector<std::string> CheckConsistency();

  std::string ArtifactPath(std::string_view sha256) const;
  const SigningKey& signing_key() const { return key_; }
  const RegistryConfig& config() const { return config_; }

 private:
  Status AddAudit(std::string_view actor, std::string_view action, std::string_view name,
                  int64_t version, std::string_view detail);
  Result<ModelVersion> GetLocked(std::string_view name, int64_t version);
  // The existing version of `name` with these bytes, if any.
  Result<std::optional<ModelVersion>> FindBySha(std::string_view name, std::string_view sha256);
  // Renames the upload into place and writes its signature (before the row exists).
  Status PlaceArtifact(ArtifactUpload& up, const std::string& sha256, const std::string& sig);
  Result<ModelVersion> InsertVersion(const PushRequest& req, const std::string& sha256,
                                     const std::string& sig, int64_t size);
  Result<ModelVersion> SetStageImpl(std::string_view name, int64_t version, Stage stage,
                                    std::string_view actor, bool* changed);
  Result<ModelVersion> RollbackImpl(std::string_view name, std::string_view actor);
  void NotifyProduction(const ModelVersion& m, std::string_view action);
  void CleanUp();

  RegistryConfig config_;
  const Clock& clock_;
  SigningKey key_;
  std::string artifacts_dir_;
  std::string tmp_dir_;
  std::mutex mu_;
  sqlite::Db db_;
  std::mutex listener_mu_;
  ProductionListener listener_;
};

}  // namespace aiot::registry
