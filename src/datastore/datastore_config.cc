#include "datastore/datastore_config.h"

namespace aiot::datastore {

void Describe(config::Visitor& v, DatastoreConfig& c) {
  v.Field("telemetry_topic", c.telemetry_topic, "telemetry topic filter the ingest service reads");
  v.Field("batch_rows", c.batch_rows, "rows per write transaction");
  v.Field("flush_interval_ms", c.flush_interval_ms,
          "longest time a row waits in the ingest buffer, in milliseconds");
  v.Field("label_window_s", c.label_window_s,
          "telemetry this long before a recorded failure is labelled faulty, in seconds");
  v.Field("retention_days", c.retention_days, "delete rows older than this many days (0 = keep)");
}

}  // namespace aiot::datastore
