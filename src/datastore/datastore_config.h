#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "kafka/source_config.h"
#include "telemetry/field_schema.h"

namespace aiot::datastore {

struct DatastoreConfig {
  // Telemetry topic filter the ingest service subscribes to.
  std::string telemetry_topic = "fan/messages";
  // Where telemetry comes from: mqtt (telemetry_topic) or kafka (`kafka`: a consumer group; a
  // record's offset is committed only after the transaction holding its row). Maintenance
  // records stay on MQTT.
  kafka::TelemetrySource source = kafka::TelemetrySource::kMqtt;
  kafka::SourceConfig kafka;  // source: kafka (group default aiot-datastore)
  // Rows per write transaction; the ingest service flushes earlier on flush_interval_ms.
  int32_t batch_rows = 5000;
  // Longest time a row waits in the ingest buffer before it is written, in milliseconds.
  int32_t flush_interval_ms = 500;
  // Maintenance records (failure, repair, inspection) as JSON, e.g. from a CMMS gateway or the
  // simulated fleet; empty = not subscribed (the HTTP API still takes them).
  std::string maintenance_topic = "fan/maintenance";
  // The labelling horizon: telemetry up to this long before a recorded failure is labelled
  // faulty in exports (unless a repair lies between the reading and the failure), in seconds.
  int64_t label_window_s = 24 * 3600;
  // Rows older than this many days are deleted by retention (0 keeps everything).
  int32_t retention_days = 90;

  // Not configuration keys of this section: the app sets them from the top-level `fields` schema
  // (app::ResolveFields), so the datastore stores and exports the fields everything else uses.
  // Telemetry fields stored as columns, in export order (names valid by telemetry::FieldSchema).
  std::vector<std::string> fields = telemetry::FieldSchema::FanFeatures();
  // Header of the export's label column; empty = no label column.
  std::string label = "faulty";
};

void Describe(config::Visitor& v, DatastoreConfig& c);

}  // namespace aiot::datastore
