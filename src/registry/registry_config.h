#pragma once

#include <cstdint>
#include <string>

#include "base/config.h"

namespace aiot::registry {

struct RegistryConfig {
  // Directory for registry.db, datastore.db, artifacts/ and the signing key. Created on start.
  std::string data_dir = "./var/aiot";
  // Largest model artifact accepted, in bytes (uploads above it get 413).
  int64_t max_artifact_bytes = 64 * 1024 * 1024;
  // PBKDF2-HMAC-SHA256 iterations for device MQTT password hashes.
  int32_t password_iterations = 100000;
};

void Describe(config::Visitor& v, RegistryConfig& c);

struct DatastoreConfig {
  // Telemetry topic filter the ingest service subscribes to.
  std::string telemetry_topic = "fan/messages";
  // Rows per write transaction; the ingest service flushes earlier on flush_interval_ms.
  int32_t batch_rows = 5000;
  // Longest time a row waits in the ingest buffer before it is written, in milliseconds.
  int32_t flush_interval_ms = 500;
  // Telemetry this long before a recorded failure is labelled faulty in exports, in seconds.
  int64_t label_window_s = 24 * 3600;
  // Rows older than this many days are deleted by retention (0 keeps everything).
  int32_t retention_days = 90;
};

void Describe(config::Visitor& v, DatastoreConfig& c);

}  // namespace aiot::registry
