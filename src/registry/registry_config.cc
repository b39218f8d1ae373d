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

void Describe(config::Visitor& v, DatastoreConfig& c) {
  v.Field("telemetry_topic", c.telemetry_topic, "telemetry topic filter the ingest service reads");
  v.Field("batch_rows", c.batch_rows, "rows per write transaction");
  v.Field("flush_interval_ms", c.flush_interval_ms,
          "longest time a row waits in the ingest buffer, in milliseconds");
  v.Field("label_window_s", c.label_window_s,
          "telemetry this long before a recorded failure is labelled faulty, in seconds");
  v.Field("retention_days", c.retention_days, "delete rows older than this many days (0 = keep)");
}

}  // namespace aiot::registry
