#pragma once

#include <cstdint>
#include <string>

#include "base/config.h"

namespace aiot::datastore {

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

}  // namespace aiot::datastore
