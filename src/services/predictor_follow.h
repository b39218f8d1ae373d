#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include <vector>

#include "base/artifact.h"
#include "base/result.h"
#include "services/predictor.h"

namespace aiot::net {
class HttpClient;
}

namespace aiot::services {

// A predictor on another host than the model registry (`aiot predictor --registry URL`).
struct RegistryFollowConfig {
  // The registry (`aiot up`'s HTTP API), http://host:port. Empty = not following.
  std::string url;
  // Bearer token for the registry API (any role may read models).
  std::string token;
  // The model whose production version is served.
  std::string model = "fan-mlp";
  // The time-to-failure model whose production version is served beside it (results then carry
  // time_to_failure_h). Empty = none.
  std::string ttf_model;
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

// Follows the registry's production version of the fault model (and of the time-to-failure model,
// when configured) and hot-swaps it into a Predictor:
// GET /api/v1/models/<model>/production; when its sha256 differs from the one served, downloads
// the artifact, checks size, sha256 and the platform's signature (as devices do for OTA), keeps
// it in model_dir and calls Predictor::LoadModel into the model's slot (the swap drops no message;
// a model whose task does not fit the slot, e.g. a classifier promoted under the time-to-failure
// name, is refused: reason `load`). Anything that fails
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

  // One check of each followed model. Ok when every production version is served (now or
  // already), else the first model's problem (errc::not_found when it has none in production),
  // the fault model first.
  Status CheckNow();
  void Start();
  // Check now (a promotion was announced).
  void Poke();
  void Stop();

 private:
  void Run();
  // What is known about one followed model.
  struct Followed {
    std::string model;
    ModelSlot slot = ModelSlot::kFault;
    std::string serving_sha256;
    std::string previous_sha256;
    std::string refused_sha256;  // failed verification or loading: not fetched again
    bool logged_none = false;
  };
  Status Check(net::HttpClient& client, Followed& f);
  // The steps of Check: the production version's reference, its artifact downloaded and
  // verified, then written to model_dir and loaded.
  Result<ModelRef> FetchProduction(net::HttpClient& client, Followed& f);
  Result<std::string> DownloadVerified(net::HttpClient& client, Followed& f, const ModelRef& ref,
                                       const std::string& label);
  Status Serve(Followed& f, const std::string& bytes, const std::string& sha256,
               const std::string& label);
  Status Fail(const char* reason, std::error_code code, const std::string& message);
  // Whether another followed model serves (or served before) the artifact `sha256`: the same
  // bytes may be promoted under both names, and one's refusal must not delete the other's file.
  bool InUseByAnother(const Followed& f, const std::string& sha256) const;

  RegistryFollowConfig config_;
  Predictor& predictor_;
  prometheus::Counter& checks_;
  prometheus::Family<prometheus::Counter>& failures_;
  std::string public_key_pem_;
  std::vector<Followed> followed_;  // the fault model, then the time-to-failure model

  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace aiot::services
