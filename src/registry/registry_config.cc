#include "registry/registry_config.h"

namespace aiot::registry {

void Describe(config::Visitor& v, RegistryConfig& c) {
  v.Field("data_dir", c.data_dir,
          "directory for registry.db, datastore.db, artifacts/ and the signing key");
  v.Field("max_artifact_bytes", c.max_artifact_bytes,
          "largest model artifact accepted, in bytes (larger uploads get 413)");
  v.Field("password_iterations", c.password_iterations,
          "PBKDF2-HMAC-SHA256 iterations for device MQTT password hashes");
}

}  // namespace aiot::registry
