#include "store/store_config.h"

namespace aiot::store {

void Describe(config::Visitor& v, InfluxConfig& c) {
  v.Field("enabled", c.enabled, "write telemetry to InfluxDB 1.x as well");
  v.Field("url", c.url, "InfluxDB base URL (http://host:port)");
  v.Field("schema", c.schema,
          "aiot (scores in anomaly_measurement) or telegraf (as the reference's Telegraf wrote "
          "fan/#: all in measurement, topic tag, fault a string)");
  v.Field("database", c.database, "database (db=); empty = aiot, or fan with schema telegraf");
  v.Field("retention_policy", c.retention_policy, "retention policy (rp=); empty = default");
  v.Field("precision", c.precision, "timestamp precision: ns, u, ms, s");
  v.Field("username", c.username, "user for basic auth; empty = none");
  v.Field("password", c.password, "password; prefer AIOT_STORE_INFLUX_PASSWORD");
  v.Field("measurement", c.measurement,
          "measurement for telemetry (Telegraf's name_override); with schema telegraf also for "
          "anomalies");
  v.Field("anomaly_measurement", c.anomaly_measurement,
          "measurement for anomaly scores (schema aiot); empty = not written");
  v.Field("create_database", c.create_database, "send CREATE DATABASE at start");
  v.Field("gzip", c.gzip, "gzip request bodies");
  v.Field("batch_max_points", c.batch_max_points, "points per write request");
  v.Field("batch_max_delay_ms", c.batch_max_delay_ms, "max age of a batch before it is sent");
  v.Field("queue_capacity", c.queue_capacity, "points buffered in memory before spooling");
  v.Field("retry_initial_ms", c.retry_initial_ms, "first retry delay");
  v.Field("retry_max_ms", c.retry_max_ms, "maximum retry delay");
  v.Field("timeout_ms", c.timeout_ms, "per-request timeout");
  v.Field("spool_dir", c.spool_dir, "directory for batches kept while InfluxDB is unreachable");
  v.Field("spool_max_bytes", c.spool_max_bytes, "spool size bound; oldest batches dropped beyond");
}

std::string InfluxDatabase(const InfluxConfig& c) {
  if (!c.database.empty()) return c.database;
  return c.schema == kInfluxSchemaTelegraf ? "fan" : "aiot";
}

void Describe(config::Visitor& v, StoreConfig& c) {
  v.Field("path", c.path, "SQLite database file (WAL mode)");
  v.Field("fields", c.fields,
          "telemetry fields stored as columns; other numeric fields go to a side table");
  v.Field("telemetry_topic", c.telemetry_topic, "MQTT topic of telemetry messages");
  v.Field("anomaly_topic", c.anomaly_topic, "MQTT topic of anomaly messages");
  v.Field("alerts_topic", c.alerts_topic, "MQTT topic of alerts");
  v.Field("status_topic", c.status_topic, "MQTT topic filter of device status (+ = deviceID)");
  v.Field("events_topic", c.events_topic, "MQTT topic filter of platform events");
  v.Field("raw_retention_days", c.raw_retention_days, "days raw points are kept");
  v.Field("rollup_retention_days", c.rollup_retention_days, "days 1-minute rollups are kept");
  v.Field("event_retention_days", c.event_retention_days, "days anomaly/alert events are kept");
  v.Field("queue_capacity", c.queue_capacity, "records queued for the writer before ingest fails");
  v.Field("batch_max_records", c.batch_max_records, "records per write transaction");
  v.Field("rollup_interval_ms", c.rollup_interval_ms, "how often 1-minute rollups are updated");
  v.Field("retention_interval_s", c.retention_interval_s, "how often retention runs");
  v.Field("reader_connections", c.reader_connections, "pooled read connections for queries");
  v.Field("cache_kib", c.cache_kib, "SQLite page cache per connection (KiB)");
  v.Field("synchronous", c.synchronous, "SQLite synchronous mode: off, normal, full");
  v.Field("max_query_points", c.max_query_points, "largest query result, in points");
  config::Section(v, "influx", c.influx, "optional InfluxDB 1.x sink");
}

}  // namespace aiot::store
