#include "services/predictor_follow.h"

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/artifact.h"
#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/signature.h"
#include "net/http_client.h"
#include "services/predictor.h"

namespace aiot::services {
namespace {

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto logger = log::Get("predictor");
  return logger;
}

}  // namespace

RegistryFollower::RegistryFollower(RegistryFollowConfig config, Predictor& predictor,
                                   prometheus::Registry& metrics)
    : config_(std::move(config)),
      predictor_(predictor),
      checks_(prometheus::BuildCounter()
                  .Name("aiot_predictor_registry_checks_total")
                  .Help("Checks of the registry's production model")
                  .Register(metrics)
                  .Add({})),
      failures_(prometheus::BuildCounter()
                    .Name("aiot_predictor_registry_failures_total")
                    .Help("Production models not fetched or refused (the serving model stays)")
                    .Register(metrics)),
      public_key_pem_(config_.public_key_pem) {
  while (!config_.url.empty() && config_.url.back() == '/') config_.url.pop_back();
  followed_.emplace_back().model = config_.model;
  if (!config_.ttf_model.empty()) {
    Followed& ttf = followed_.emplace_back();
    ttf.model = config_.ttf_model;
    ttf.slot = ModelSlot::kTimeToFailure;
  }
}

RegistryFollower::~RegistryFollower() { Stop(); }

Status RegistryFollower::Fail(const char* reason, std::error_code code,
                              const std::string& message) {
  failures_.Add({{"reason", reason}}).Increment();
  Log()->warn("registry {}: {} (serving model unchanged)", config_.url, message);
  return code;
}

Status RegistryFollower::CheckNow() {
  checks_.Increment();
  net::HttpClientOptions options;
  options.token = config_.token;
  options.timeout = std::chrono::milliseconds(config_.timeout_ms);
  options.max_body_bytes = 1 << 20;
  options.user_agent = "aiot-predictor";
  net::HttpClient client(config_.url, options);
  if (!client.valid()) {
    return Fail("reply", errc::invalid_argument, "the registry URL must be http://host:port");
  }
  Status first = Status::Ok();
  for (Followed& f : followed_) {
    client.options().max_body_bytes = 1 << 20;
    Status st = Check(client, f);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

Status RegistryFollower::Check(net::HttpClient& client, Followed& f) {
  if (!IsValidModelName(f.model)) {
    return Fail("reply", errc::invalid_argument, "invalid model name `" + f.model + "`");
  }
  auto ref = FetchProduction(client, f);
  if (!ref.ok()) return ref.status();
  const std::string& sha256 = ref->claim.sha256;
  if (sha256 == f.serving_sha256 || sha256 == f.refused_sha256) {
    return sha256 == f.serving_sha256
               ? Status::Ok()
               : Status(errc::permission_denied,
                        f.model + "@" + std::to_string(ref->version) + " was refused");
  }
  const std::string label = f.model + "@" + std::to_string(ref->version);
  if (static_cast<uint64_t>(ref->claim.size) > config_.max_artifact_bytes) {
    f.refused_sha256 = sha256;
    return Fail(
        "size", errc::resource_exhausted,
        label + " is " + std::to_string(ref->claim.size) + " bytes, over max_artifact_bytes");
  }
  auto bytes = DownloadVerified(client, f, *ref, label);
  if (!bytes.ok()) return bytes.status();
  return Serve(f, *bytes, sha256, label);
}

Result<ModelRef> RegistryFollower::FetchProduction(net::HttpClient& client, Followed& f) {
  auto r = client.Get("/api/v1/models/" + f.model + "/production");
  if (!r.ok()) return Fail("unreachable", r.error(), "unreachable: " + r.status().message());
  if (r->status == 404) {
    if (!f.logged_none) Log()->info("no `{}` in production at {} yet", f.model, config_.url);
    f.logged_none = true;
    return Status(errc::not_found, "no `" + f.model + "` in production");
  }
  if (r->status != 200) {
    return Fail("status", errc::io_error,
                "production version of " + f.model + ": HTTP " + std::to_string(r->status));
  }
  auto j = r->Json();
  if (!j.ok() || !j->is_object()) return Fail("reply", errc::parse_error, "reply is not JSON");
  auto ref = ParseModelRef(*j, f.model);
  if (!ref.ok()) return Fail("reply", errc::parse_error, "malformed production reply");
  return ref;
}

Result<std::string> RegistryFollower::DownloadVerified(net::HttpClient& client, Followed& f,
                                                       const ModelRef& ref,
                                                       const std::string& label) {
  if (public_key_pem_.empty()) {
    auto key = client.Get("/.well-known/aiot/signing-key");
    if (!key.ok() || key->status != 200 ||
        key->body.find("BEGIN PUBLIC KEY") == std::string::npos) {
      return Fail("key", errc::unavailable, "cannot fetch the signing key");
    }
    public_key_pem_ = key->body;
  }
  client.options().max_body_bytes = static_cast<size_t>(ref.claim.size) + 1;
  auto artifact = client.Get("/api/v1/models/" + f.model + "/versions/" +
                             std::to_string(ref.version) + "/artifact");
  if (!artifact.ok()) {
    return Fail("download", artifact.error(),
                "download of " + label + ": " + artifact.status().message());
  }
  if (artifact->status != 200) {
    return Fail("download", errc::io_error,
                "download of " + label + ": HTTP " + std::to_string(artifact->status));
  }
  const ClaimProblem problem = CheckArtifactClaim(public_key_pem_, artifact->body, ref.claim);
  if (problem != ClaimProblem::kNone) {
    f.refused_sha256 = ref.claim.sha256;
    // The failure label names the check: "size", "sha256" or "signature".
    Status st = ClaimStatus(problem);
    return Fail(ClaimProblemName(problem), st.error(), label + ": " + st.message());
  }
  return std::move(artifact->body);
}

bool RegistryFollower::InUseByAnother(const Followed& f, const std::string& sha256) const {
  for (const Followed& o : followed_) {
    if (&o != &f && (o.serving_sha256 == sha256 || o.previous_sha256 == sha256)) return true;
  }
  return false;
}

Status RegistryFollower::Serve(Followed& f, const std::string& bytes, const std::string& sha256,
                               const std::string& label) {
  std::error_code ec;
  const std::filesystem::path dir(config_.model_dir);
  std::filesystem::create_directories(dir, ec);
  const auto path = dir / (sha256 + ".tflite");
  if (!WriteFileAtomic(path.string(), bytes).ok()) {
    return Fail("write", errc::io_error, "cannot write " + path.string());
  }
  Status st = predictor_.LoadModel(ModelSource{path.string(), label, sha256, f.slot});
  if (!st.ok()) {
    f.refused_sha256 = sha256;
    if (!InUseByAnother(f, sha256)) std::filesystem::remove(path, ec);
    return Fail("load", st.error(), label + " does not load: " + st.message());
  }
  // Keep the serving artifact and the one before it.
  const std::string stale = f.previous_sha256;
  f.previous_sha256 = f.serving_sha256;
  f.serving_sha256 = sha256;
  if (!stale.empty() && stale != f.serving_sha256 && stale != f.previous_sha256) {
    if (!InUseByAnother(f, stale)) std::filesystem::remove(dir / (stale + ".tflite"), ec);
  }
  Log()->info("serving {} from the registry at {}", label, config_.url);
  return Status::Ok();
}

void RegistryFollower::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void RegistryFollower::Poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_one();
}

void RegistryFollower::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void RegistryFollower::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Waits for the poll period, a poke or Stop (a timer, not synchronisation).
    cv_.wait_for(lock, std::chrono::milliseconds(std::max<uint32_t>(1, config_.poll_ms)),
                 [this] { return poked_ || stopping_; });
    if (stopping_) break;
    poked_ = false;
    lock.unlock();
    (void)CheckNow();
    lock.lock();
  }
}

}  // namespace aiot::services
