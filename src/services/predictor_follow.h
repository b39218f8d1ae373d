#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "base/artifact.h"
#include "base/result.h"

namespace aiot::net {
class HttpClient;
}

namespace aiot::services {

class Predictor;

// A predictor on another host than the model registry (`aiot predictor --registry URL`).
struct RegistryFollowConfig {
  // The registry (`aiot up`'s HTTP API), http://host:port. Empty = not following.
  std::string url;
  // Bearer token for the registry API (any role may read models).
  std::string token;
  // The model whose production version is served.
  std::string model = "fan-mlp";
  // How often the production version is checked (a `promoted` model event checks at once).
  uint32_t poll_ms = 10000;
  // Bounds each HTTP call.
  uint32_t timeout_ms = 30000;
  // Where downloaded artifacts are kept (the serving one and the one before).
  std::string model_dir = "var/aiot/predictor-models";
  // The platform's Ed25519 public key (PEM). Empty = fetched once from
  // <url>/.well-known/aiot/signing-key.
  std::string public_key_pem;
  // Artifacts larger than this are refused.
  uint64_t max_artifact_bytes = 256u << 20;
};

// Follows the registry's production version of one model and hot-swaps it into a Predictor:
// GET /api/v1/models/<model>/production; when its sha256 differs from the one served, downloads
// the artifact, checks size, sha256 and the platform's signature (as devices do for OTA), keeps
// it in model_dir and calls Predictor::LoadModel (the swap drops no message). Anything that fails
// keeps the serving model, is logged and counted in
// aiot_predictor_registry_failures_total{reason} (unreachable, status, reply, key, download,
// size, sha256, signature, write, load); an artifact that failed verification or loading is not
// fetched again until production changes. The registry's replies are hostile input: every field
// is checked, the artifact URL is built here, bodies are bounded.
//
// Threading: CheckNow() blocks (call it before Start(), e.g. to serve from the first message);
// Start() runs the checks on a thread of its own; Poke() and Stop() are thread-safe.
class RegistryFollower {
 public:
  RegistryFollower(RegistryFollowConfig config, Predictor& predictor,
                   prometheus::Registry& metrics);
  ~RegistryFollower();
  RegistryFollower(const RegistryFollower&) = delete;
  RegistryFollower& operator=(const RegistryFollower&) = delete;

  // One check. Ok when the production version is served (now or already), errc::not_found when
  // there is none, else why it failed.
  Status CheckNow();
  void Start();
  // Check now (a promotion was announced).
  void Poke();
  void Stop();

 private:
  void Run();
  // The steps of CheckNow: the production version's reference, its artifact downloaded and
  // verified, then written to model_dir and loaded.
  Result<ModelRef> FetchProduction(net::HttpClient& client);
  Result<std::string> DownloadVerified(net::HttpClient& client, const ModelRef& ref,
                                       const std::string& label);
  Status Serve(const std::string& bytes, const std::string& sha256, const std::string& label);
  Status Fail(const char* reason, std::error_code code, const std::string& message);

  RegistryFollowConfig config_;
  Predictor& predictor_;
  prometheus::Counter& checks_;
  prometheus::Family<prometheus::Counter>& failures_;
  std::string public_key_pem_;
  std::string serving_sha256_;
  std::string previous_sha256_;
  std::string refused_sha256_;  // failed verification or loading: not fetched again
  bool logged_none_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace aiot::services
