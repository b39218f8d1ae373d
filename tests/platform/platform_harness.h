#pragma once

// The platform's HTTP API on a real server (loopback, free port) over registries in a temp dir,
// with an admin and an operator token. Shared by the platform tests and benchmarks.
#include <memory>
#include <string>

#include "base/metrics.h"
#include "datastore/data_routes.h"
#include "datastore/datastore.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "registry/device_registry.h"
#include "registry/http_api.h"
#include "registry/model_registry.h"
#include "tests/support/temp_dir.h"

namespace aiot::platform_test {

inline constexpr const char* kAdminToken = "test-admin-token-0123456789";
inline constexpr const char* kOperatorToken = "test-operator-token-0123456789";

class PlatformHarness {
 public:
  explicit PlatformHarness(int64_t max_artifact_bytes = 1 << 20, size_t threads = 1)
      : runtime_(threads) {
    registry::RegistryConfig rc;
    rc.data_dir = dir_.path();
    rc.max_artifact_bytes = max_artifact_bytes;
    rc.password_iterations = 1000;
    models = std::make_unique<registry::ModelRegistry>(rc);
    devices = std::make_unique<registry::DeviceRegistry>(rc);
    datastore =
        std::make_unique<datastore::TrainingDatastore>(rc.data_dir, datastore::DatastoreConfig{});
    ok_ = models->Open().ok() && devices->Open().ok() && datastore->Open().ok();
    registry::RegisterRegistryRoutes(router, *models, *devices);
    datastore::RegisterDataRoutes(router, *datastore);
  }

  // Call after adding any extra routes.
  bool Start() {
    if (!ok_) return false;
    net::HttpServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.auth_tokens = {{"alice", kAdminToken}, {"olga", kOperatorToken}};
    cfg.auth_roles = {{"alice", "admin"}, {"olga", "operator"}};
    cfg.max_body_bytes = 64 << 20;
    server_ = std::make_unique<net::HttpServer>(cfg, runtime_, router, metrics_);
    server_->SetAuthenticator(std::make_shared<registry::PlatformAuthenticator>(
        *devices,
        std::make_shared<net::StaticTokenAuthenticator>(cfg.auth_tokens, cfg.auth_roles)));
    runtime_.Start();
    return server_->Start().ok();
  }

  ~PlatformHarness() {
    if (server_) server_->Stop();
    runtime_.Stop();
    runtime_.Join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::unique_ptr<net::HttpClient> Client(const std::string& token) const {
    return std::make_unique<net::HttpClient>(url(), token);
  }
  const std::string& data_dir() const { return dir_.path(); }

  net::Router router;
  std::unique_ptr<registry::ModelRegistry> models;
  std::unique_ptr<registry::DeviceRegistry> devices;
  std::unique_ptr<datastore::TrainingDatastore> datastore;

 private:
  test_support::TempDir dir_;
  bool ok_ = false;
  net::Runtime runtime_;
  metrics::Registry metrics_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace aiot::platform_test
