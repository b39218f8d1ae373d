#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "kafka/source_config.h"

namespace aiot::store {

// InfluxDB 1.x sink: line protocol to `POST /write`, as the reference's Telegraf mqtt_consumer
// writes it (measurement `fan`, tag `deviceID`, numeric fields), so existing Grafana dashboards
// keep working.
//
// `schema` chooses where anomalies go and how they are typed:
//   aiot      telemetry in `measurement`; scores in `anomaly_measurement` (tags deviceID, level,
//             model; fields score, fault as a float). Database `aiot`.
//   telegraf  what the reference's Telegraf wrote from `fan/#` (name_override "fan",
//             tag_keys deviceID, json_string_fields with fault, omit_hostname): telemetry and
//             anomalies both in `measurement`, tags deviceID and topic (the MQTT topic, as
//             mqtt_consumer's default topic_tag), fault a string field "0"/"1", score a float.
//             Database `fan`. The reference's Grafana dashboard reads it unchanged.
enum class InfluxSchema { kAiot, kTelegraf };
inline constexpr config::Named<InfluxSchema> kInfluxSchemaNames[] = {
    {InfluxSchema::kAiot, "aiot"}, {InfluxSchema::kTelegraf, "telegraf"}};

// Timestamp precision of the line protocol (the precision= parameter).
enum class InfluxPrecision { kNs, kU, kMs, kS };
inline constexpr config::Named<InfluxPrecision> kInfluxPrecisionNames[] = {
    {InfluxPrecision::kNs, "ns"},
    {InfluxPrecision::kU, "u"},
    {InfluxPrecision::kMs, "ms"},
    {InfluxPrecision::kS, "s"}};

struct InfluxConfig {
  bool enabled = false;                       // write telemetry to InfluxDB as well
  std::string url = "http://127.0.0.1:8086";  // base URL (http only)
  InfluxSchema schema = InfluxSchema::kAiot;  // aiot or telegraf (see above)
  std::string database;          // db= parameter; empty = `aiot`, or `fan` with schema telegraf
  std::string retention_policy;  // rp= parameter; empty = the database default
  InfluxPrecision precision = InfluxPrecision::kMs;  // precision= parameter: ns, u, ms, s
  std::string username;                              // u= (basic auth); empty = none
  std::string password;             // p=; set it via AIOT_STORE_INFLUX_PASSWORD, not the file
  std::string measurement = "fan";  // telemetry measurement
  std::string anomaly_measurement = "fan_anomaly";  // schema aiot; empty = not written
  bool create_database = true;                      // send CREATE DATABASE at start
  bool gzip = true;                                 // Content-Encoding: gzip
  int batch_max_points = 5000;                      // send when a batch has this many points
  int batch_max_delay_ms = 1000;                    // ... or when its oldest point is this old
  int queue_capacity = 100000;  // points waiting in memory before spilling to spool
  int retry_initial_ms = 200;   // first retry delay after a failed write
  int retry_max_ms = 30000;     // backoff cap
  int timeout_ms = 10000;       // connect/write/read timeout per request
  std::string spool_dir =
      "data/influx-spool";                // batches kept on disk while InfluxDB is unreachable
  int64_t spool_max_bytes = 256LL << 20;  // oldest spool files are dropped beyond this
};
void Describe(config::Visitor& v, InfluxConfig& c);
void Validate(config::Checks& checks, const InfluxConfig& c);
// The database the sink writes: `database`, or when that is empty the schema's default (`aiot`;
// `fan` for telegraf, the reference's).
std::string InfluxDatabase(const InfluxConfig& c);

// SQLite's synchronous pragma (with WAL: off risks the last transactions on power loss, normal
// is durable across application crashes, full also across power loss).
enum class Synchronous { kOff, kNormal, kFull };
inline constexpr config::Named<Synchronous> kSynchronousNames[] = {
    {Synchronous::kOff, "off"}, {Synchronous::kNormal, "normal"}, {Synchronous::kFull, "full"}};

// The embedded telemetry store (SQLite, WAL).
struct StoreConfig {
  std::string path = "data/telemetry.db";  // SQLite file; ":memory:" is not supported (WAL readers)
  // Telemetry fields stored as numeric columns (fast). Other numeric fields in a message are kept
  // in a side table (telemetry_extra) and are queryable by name too. Adding a name here later adds
  // a column; removing one keeps the column.
  std::vector<std::string> fields = {"rotation", "temperature", "vibration", "sound"};
  std::string telemetry_topic = "fan/messages";  // telemetry JSON messages
  std::string anomaly_topic = "fan/anomaly";     // predictor output
  std::string alerts_topic = "aiot/alerts";      // alerts (stored as events)
  std::string status_topic = "fan/status/+";     // device status (retained); + = deviceID
  std::string events_topic = "aiot/events/#";    // drift/model/pipeline events (stored as events)
  int raw_retention_days = 7;                    // raw points older than this are deleted
  int rollup_retention_days = 365;               // 1-minute rollups older than this are deleted
  int event_retention_days = 90;                 // anomaly/alert/status events
  int queue_capacity = 200000;     // records waiting for the writer; beyond this ingest fails
  int batch_max_records = 10000;   // records per write transaction
  int rollup_interval_ms = 5000;   // how often dirty minutes are rolled up
  int retention_interval_s = 600;  // how often retention runs
  int reader_connections = 4;      // pooled read-only connections for queries
  int64_t cache_kib = 16384;       // SQLite page cache per connection
  Synchronous synchronous = Synchronous::kNormal;  // SQLite synchronous: off, normal, full
  int max_query_points = 1000000;                  // rows a query may return before it is refused
  InfluxConfig influx;
  // Where telemetry comes from: mqtt (telemetry_topic) or kafka (`kafka`: a consumer group; a
  // record's offset is committed only after the SQLite transaction holding it). The anomaly,
  // alerts, status and events topics stay on MQTT.
  kafka::TelemetrySource source = kafka::TelemetrySource::kMqtt;
  kafka::SourceConfig kafka;  // source: kafka (group default aiot-store)
};
void Describe(config::Visitor& v, StoreConfig& c);

}  // namespace aiot::store
