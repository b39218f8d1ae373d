#pragma once

#include <memory>

#include "app/app_config.h"
#include "base/result.h"

namespace aiot::app {

// What `aiot up` adds on top of the configuration file.
struct UpOptions {
  // Devices in the simulated fleet started inside the process; 0 for none.
  int simulate = 0;
};

// The composition root: builds every service of the single-process deployment on one runtime and
// wires them together through the embedded broker and the shared HTTP server. This is the only
// place that knows which services exist; services never call each other.
//
// Thread-safety: Start() and Stop() from one controlling thread (not a runtime thread).
class Platform {
 public:
  Platform(const AppConfig& config, const UpOptions& options);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Starts the runtime and every service. On failure, what started is stopped again.
  Status Start();
  // Graceful: stop accepting, drain in-flight work, flush stores. Idempotent.
  void Stop();

  // SIGHUP: re-reads the broker's password and ACL files and the TLS certificates of the broker
  // and of HTTPS (new connections use them, open ones keep theirs). Logs what it did; a broken
  // file keeps the previous one and is named in the returned Status.
  Status Reload();

  // The HTTP port actually bound (useful with port 0).
  uint16_t http_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aiot::app
