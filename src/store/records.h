#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"
#include "telemetry/message.h"

namespace aiot::store {

// Fields stored as columns: the configured names, in column order. At most kMaxColumns.
inline constexpr size_t kMaxColumns = 32;

class FieldSchema {
 public:
  explicit FieldSchema(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  // Column index of `name`, or -1 when it is not a column (an "extra" field).
  int ColumnOf(std::string_view name) const {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
  const std::vector<std::string>& columns() const { return columns_; }
  size_t size() const { return columns_.size(); }

 private:
  std::vector<std::string> columns_;
};

// One telemetry message: `{"deviceID","timeStamp",<numeric fields>...}`. Nested objects are
// flattened with '_' (as Telegraf's JSON parser does: "spectrum":{"peak":1} -> spectrum_peak).
struct TelemetryPoint {
  std::string device;
  int64_t ts_ms = 0;
  std::array<double, kMaxColumns> columns;  // NaN = absent
  std::vector<std::pair<std::string, double>> extra;

  TelemetryPoint() { columns.fill(NAN); }
};

enum class Level : int { kUnknown = -1, kOk = 0, kWarning = 1, kCritical = 2 };
const char* LevelName(Level l);
Level ParseLevel(std::string_view s);

// Predictor output: `{"deviceID","timeStamp","fault","score","level","model"}`.
struct AnomalyPoint {
  std::string device;
  int64_t ts_ms = 0;
  int fault = 0;
  double score = NAN;
  Level level = Level::kUnknown;
  std::string model;
};

// `fan/status/<deviceID>`: `{"online":true,"model":"fan-mlp@3",...}` (retained, with a will).
struct StatusUpdate {
  std::string device;
  int64_t ts_ms = 0;
  bool online = false;
  std::string model;
  std::string json;  // the whole payload, served as is
};

// Alerts and platform events: kept as JSON with a few indexed columns.
struct EventRecord {
  std::string kind;  // "alert", or the topic suffix under aiot/events/ ("drift", "model", ...)
  std::string device;
  int64_t ts_ms = 0;
  Level level = Level::kUnknown;
  std::string json;
};

using Record = std::variant<TelemetryPoint, AnomalyPoint, StatusUpdate, EventRecord>;

// Parsers. They never throw; malformed input returns errc::parse_error (or invalid_argument for
// well-formed JSON lacking required keys). `now_ms` is used when the message has no timestamp.
// Telemetry and status follow the device message rules of src/telemetry (`defect`, when given,
// says why a message was rejected): a time without a zone is UTC, the device is `deviceID` or
// else `chipID`, the configured columns must be numbers.
Status ParseTelemetry(std::string_view json, const FieldSchema& schema, int64_t now_ms,
                      TelemetryPoint* out, telemetry::Defect* defect = nullptr);
Status ParseAnomaly(std::string_view json, int64_t now_ms, AnomalyPoint* out);
Status ParseStatus(std::string_view json, std::string_view device, int64_t now_ms,
                   StatusUpdate* out, telemetry::Defect* defect = nullptr);
Status ParseEvent(std::string_view json, std::string_view kind, int64_t now_ms, EventRecord* out);

// MQTT topic filter matching ('+' one level, '#' the rest).
bool TopicMatches(std::string_view filter, std::string_view topic);

// Milliseconds since the epoch from RFC 3339 text (no zone = UTC, telemetry::ParseTime). False
// when malformed.
bool ParseTimeMs(std::string_view text, int64_t* ms);

}  // namespace aiot::store
