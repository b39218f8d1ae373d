#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/app_config.h"
#include "base/result.h"

namespace aiot::app {

// What `aiot up` adds on top of the configuration file.
struct UpOptions {
  // Devices in the simulated fleet started inside the process; 0 for none.
  int simulate = 0;
  // Whether the user configured a dotted key (file, environment, --set); null = nothing was.
  // With `simulate`, what was not configured is filled in so that the demo runs the whole loop
  // (see SimulateDemoDefaults); what was configured wins.
  std::function<bool(const std::string& key)> configured;
};

// `aiot up --simulate N` without configuration shows the continuous-learning loop: for each key
// below that `options.configured` says was not set, the demo's value —
//   pipeline.enabled: true (the embedded runner retrains on drift);
//   fleet.state_dir: <registry.data_dir>/fleet (the devices keep their tokens across restarts);
//   datastore.label_window_s: the degraded half of a fault in wall-clock seconds,
//     fleet.physics.time_to_failure_s / 2 / fleet.time_scale (at least 1): a fast clock makes
//     faults short in wall-clock time, and the default 24 h would label a faulty machine's whole
//     life, healthy start included, as "fails soon".
// Set at start-up, once the HTTP port and the admin token are known: fleet.registry_url and
// fleet.provision_token (the devices provision and activate themselves and fetch the production
// model) and ota.public_url (where rollouts tell devices to download), all this process's API.
// Without `simulate` the configuration is returned as is.
AppConfig SimulateDemoDefaults(AppConfig config, const UpOptions& options);

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
