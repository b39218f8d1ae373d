#pragma once

#include <cstdint>
#include <string>

#include "base/config.h"

namespace aiot::registry {

struct RegistryConfig {
  // Directory for registry.db, artifacts/ and the signing key (and, in `aiot up`, the training
  // datastore's datastore.db). Created on start.
  std::string data_dir = "./var/aiot";
  // Largest model artifact accepted, in bytes (uploads above it get 413).
  int64_t max_artifact_bytes = 64 * 1024 * 1024;
  // PBKDF2-HMAC-SHA256 iterations for device MQTT password hashes.
  int32_t password_iterations = 100000;
};

void Describe(config::Visitor& v, RegistryConfig& c);

}  // namespace aiot::registry
