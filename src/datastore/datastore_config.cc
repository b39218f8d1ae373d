#include "datastore/datastore_config.h"

namespace aiot::datastore {

void Describe(config::Visitor& v, DatastoreConfig& c) {
  v.Field("telemetry_topic", c.telemetry_topic, "telemetry topic filter the ingest service reads");
  v.Field("source", c.source, kafka::kTelemetrySourceNames,
          "where telemetry comes from: mqtt (telemetry_topic) or kafka (`kafka`: a consumer "
          "group; offsets committed after the rows' transaction)");
  config::Section(v, "kafka", c.kafka, "Kafka source of telemetry (source: kafka)");
  v.Field("batch_rows", c.batch_rows, config::Range{1, 1'000'000}, "rows per write transaction");
  v.Field("flush_interval_ms", c.flush_interval_ms, config::Range{1, 3'600'000},
          "longest time a row waits in the ingest buffer, in milliseconds");
  v.Field("maintenance_topic", c.maintenance_topic,
          "topic of maintenance records (failure, repair, inspection) as JSON; empty = none");
  v.Field("label_window_s", c.label_window_s, config::Range{1, 365 * 86400},
          "labelling horizon: telemetry up to this long before a recorded failure is labelled "
          "faulty, unless a repair lies between (seconds, 1..31536000; `aiot up --simulate`: half "
          "of fleet.physics.time_to_failure_s in wall-clock time when not configured)");
  v.Field("retention_days", c.retention_days, "delete rows older than this many days (0 = keep)");
}

}  // namespace aiot::datastore
