#include "store/store_config.h"

namespace aiot::store {

void Describe(config::Visitor& v, InfluxConfig& c) {
  v.Field("enabled", c.enabled, "write telemetry to InfluxDB 1.x as well");
  v.Field("url", c.url, "InfluxDB base URL (http://host:port)");
  v.Field("schema", c.schema, kInfluxSchemaNames,
          "aiot (scores in anomaly_measurement) or telegraf (as the reference's Telegraf wrote "
          "fan/#: all in measurement, topic tag, fault a string)");
  v.Field("database", c.database, "database (db=); empty = aiot, or fan with schema telegraf");
  v.Field("retention_policy", c.retention_policy, "retention policy (rp=); empty = default");
  v.Field("precision", c.precision, kInfluxPrecisionNames, "timestamp precision: ns, u, ms, s");
  v.Field("username", c.username, "user for basic auth; empty = none");
  v.Field("password", c.password, "password; prefer AIOT_STORE_INFLUX_PASSWORD");
  v.Field("measurement", c.measurement,
          "measurement for telemetry (Telegraf's name_override); with schema telegraf also for "
          "anomalies");
  v.Field("anomaly_measurement", c.anomaly_measurement,
          "measurement for anomaly scores (schema aiot); empty = not written");
  v.Field("create_database", c.create_database, "send CREATE DATABASE at start");
  v.Field("gzip", c.gzip, "gzip request bodies");
  v.Field("batch_max_points", c.batch_max_points, config::Range{1, INT32_MAX},
          "points per write request");
  v.Field("batch_max_delay_ms", c.batch_max_delay_ms, config::Range{1, INT32_MAX},
          "max age of a batch before it is sent");
  v.Field("queue_capacity", c.queue_capacity, config::Range{1, INT32_MAX},
          "points buffered in memory before spooling");
  v.Field("retry_initial_ms", c.retry_initial_ms, config::Range{1, INT32_MAX}, "first retry delay");
  v.Field("retry_max_ms", c.retry_max_ms, config::Range{1, INT32_MAX}, "maximum retry delay");
  v.Field("timeout_ms", c.timeout_ms, config::Range{1, INT32_MAX}, "per-request timeout");
  v.Field("spool_dir", c.spool_dir, "directory for batches kept while InfluxDB is unreachable");
  v.Field("spool_max_bytes", c.spool_max_bytes, config::Range{0, INT64_MAX},
          "spool size bound; oldest batches dropped beyond");
}

std::string InfluxDatabase(const InfluxConfig& c) {
  if (!c.database.empty()) return c.database;
  return c.schema == InfluxSchema::kTelegraf ? "fan" : "aiot";
}

void Validate(config::Checks& checks, const InfluxConfig& c) {
  if (!c.enabled) return;
  if (c.measurement.empty()) checks.Fail("measurement", "must not be empty");
  if (c.retry_initial_ms > c.retry_max_ms) {
    checks.Fail("retry_initial_ms", "must not exceed retry_max_ms");
  }
}

void Describe(config::Visitor& v, StoreConfig& c) {
  v.Field("path", c.path, "SQLite database file (WAL mode)");
  v.Field("fields", c.fields,
          "telemetry fields stored as columns; other numeric fields go to a side table");
  v.Field("telemetry_topic", c.telemetry_topic, "MQTT topic of telemetry messages");
  v.Field("source", c.source, kafka::kTelemetrySourceNames,
          "where telemetry comes from: mqtt (telemetry_topic) or kafka (`kafka`: a consumer "
          "group; offsets committed after the record's SQLite commit)");
  config::Section(v, "kafka", c.kafka,
                  "Kafka source of telemetry (source: kafka); records are stored as the MQTT "
                  "message of their mqtt.topic header, else as telemetry_topic");
  v.Field("anomaly_topic", c.anomaly_topic, "MQTT topic of anomaly messages");
  v.Field("alerts_topic", c.alerts_topic, "MQTT topic of alerts");
  v.Field("status_topic", c.status_topic, "MQTT topic filter of device status (+ = deviceID)");
  v.Field("events_topic", c.events_topic, "MQTT topic filter of platform events");
  v.Field("raw_retention_days", c.raw_retention_days, config::Range{1, INT32_MAX},
          "days raw points are kept");
  v.Field("rollup_retention_days", c.rollup_retention_days, config::Range{1, INT32_MAX},
          "days 1-minute rollups are kept");
  v.Field("event_retention_days", c.event_retention_days, config::Range{1, INT32_MAX},
          "days anomaly/alert events are kept");
  v.Field("queue_capacity", c.queue_capacity, config::Range{1, INT32_MAX},
          "records queued for the writer before ingest fails");
  v.Field("batch_max_records", c.batch_max_records, config::Range{1, INT32_MAX},
          "records per write transaction");
  v.Field("rollup_interval_ms", c.rollup_interval_ms, config::Range{1, INT32_MAX},
          "how often 1-minute rollups are updated");
  v.Field("retention_interval_s", c.retention_interval_s, config::Range{1, INT32_MAX},
          "how often retention runs");
  v.Field("reader_connections", c.reader_connections, config::Range{1, INT32_MAX},
          "pooled read connections for queries");
  v.Field("cache_kib", c.cache_kib, config::Range{0, INT64_MAX},
          "SQLite page cache per connection (KiB)");
  v.Field("synchronous", c.synchronous, kSynchronousNames,
          "SQLite synchronous mode: off, normal, full");
  v.Field("max_query_points", c.max_query_points, config::Range{1, INT32_MAX},
          "largest query result, in points");
  config::Section(v, "influx", c.influx, "optional InfluxDB 1.x sink");
}

}  // namespace aiot::store
