#include "store/records.h"

#include <simdjson.h>

#include <memory>

#include "base/clock.h"
#include "base/errc.h"
#include "telemetry/message.h"

namespace aiot::store {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxExtraFields = 256;

// One parser per thread: simdjson parsers are not thread-safe and are expensive to create.
struct ThreadParser {
  od::parser parser;
  std::string buffer;
};

ThreadParser& Local() {
  thread_local ThreadParser tp;
  return tp;
}

// Copies `json` into a padded thread-local buffer and starts iterating it.
simdjson::error_code Begin(std::string_view json, od::document* doc) {
  ThreadParser& tp = Local();
  tp.buffer.assign(json);
  tp.buffer.resize(json.size() + simdjson::SIMDJSON_PADDING);
  return tp.parser.iterate(tp.buffer.data(), json.size(), tp.buffer.size()).get(*doc);
}

// A device id: a string, or an integer (the reference's CSV numbers its devices 1..6).
bool ReadDevice(od::value v, std::string* out) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    out->assign(s.substr(0, 257));
    return true;
  }
  if (t == od::json_type::number) {
    int64_t n;
    if (v.get_int64().get(n)) return false;
    *out = std::to_string(n);
    return true;
  }
  return false;
}

// Consumes a value we do not keep, validating it on the way.
bool Skip(od::value v) {
  od::json_type t;
  if (v.type().get(t)) return false;
  std::string_view raw;
  if (t == od::json_type::array) {
    od::array a;
    return !v.get_array().get(a) && !a.raw_json().get(raw);
  }
  if (t == od::json_type::object) {
    od::object o;
    return !v.get_object().get(o) && !o.raw_json().get(raw);
  }
  (void)v.raw_json_token();
  return true;
}

// True when nothing but whitespace follows the root value.
bool AtEnd(od::document& doc) {
  const char* loc;
  return doc.current_location().get(loc) == simdjson::OUT_OF_BOUNDS;
}

bool ReadTime(od::value v, int64_t* ms) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    return ParseTimeMs(s, ms);
  }
  if (t == od::json_type::number) {
    // Milliseconds since the epoch, as telemetry::MessageReader reads them.
    double d;
    if (v.get_double().get(d) || !std::isfinite(d) || std::fabs(d) > 9.2e12) return false;
    *ms = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

// `fault`: a boolean, or a number (non-zero = 1).
bool ReadFault(od::value v, int* fault) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::boolean) {
    bool b;
    if (v.get_bool().get(b)) return false;
    *fault = b ? 1 : 0;
    return true;
  }
  double d;
  if (v.get_double().get(d)) return false;
  *fault = d != 0 ? 1 : 0;
  return true;
}

// The reading parser for this thread and schema (rebuilt when a different schema is used).
telemetry::ReadingParser& ReadingParserFor(const FieldSchema& schema) {
  thread_local std::unique_ptr<telemetry::ReadingParser> parser;
  if (!parser || parser->numeric_fields() != schema.columns()) {
    parser = std::make_unique<telemetry::ReadingParser>(
        schema.columns(), telemetry::MessageConfig{}, kMaxExtraFields);
  }
  return *parser;
}

// Errors of the anomaly and event parsers, with what was wrong.
Status NotAnObject() { return {errc::parse_error, "not a JSON object"}; }
Status Trailing() { return {errc::parse_error, "data after the JSON object"}; }
Status BadKey(std::string_view key, std::string_view what) {
  std::string m = "`";
  m += key.substr(0, 64);
  m += "` ";
  m += what;
  return {errc::parse_error, std::move(m)};
}

Status ErrorOf(const telemetry::Defect& d) {
  return d.kind == telemetry::Defect::Kind::kMissingField ? errc::invalid_argument
                                                          : errc::parse_error;
}

}  // namespace

const char* LevelName(Level l) {
  switch (l) {
    case Level::kOk:
      return "ok";
    case Level::kWarning:
      return "warning";
    case Level::kCritical:
      return "critical";
    default:
      return "unknown";
  }
}

Level ParseLevel(std::string_view s) {
  if (s == "ok" || s == "normal" || s == "info") return Level::kOk;
  if (s == "warning" || s == "warn") return Level::kWarning;
  if (s == "critical" || s == "error" || s == "alarm") return Level::kCritical;
  return Level::kUnknown;
}

bool ParseTimeMs(std::string_view text, int64_t* ms) {
  int64_t ns;
  if (!telemetry::ParseTime(text, &ns)) return false;
  *ms = ns / 1000000;
  return true;
}

Status ParseTelemetry(std::string_view json, const FieldSchema& schema, int64_t now_ms,
                      TelemetryPoint* out, telemetry::Defect* defect) {
  *out = TelemetryPoint();
  telemetry::Defect local;
  telemetry::Defect& d = defect ? *defect : local;
  thread_local telemetry::Reading reading;
  if (!ReadingParserFor(schema).Parse(json, now_ms * 1000000, &reading, d)) return ErrorOf(d);
  out->device = std::move(reading.device);
  out->ts_ms = reading.has_time ? reading.time_ns / 1000000 : now_ms;
  // The parser's numeric fields are the schema's columns: it says which column each value is.
  for (size_t i = 0; i < reading.fields.size(); ++i) {
    auto& [name, value] = reading.fields[i];
    if (const int col = reading.numeric_index[i]; col >= 0) {
      out->columns[col] = value;
    } else {
      out->extra.emplace_back(std::move(name), value);
    }
  }
  return {};
}

Status ParseAnomaly(std::string_view json, int64_t now_ms, AnomalyPoint* out) {
  *out = AnomalyPoint();
  od::document doc;
  if (Begin(json, &doc)) return NotAnObject();
  od::object obj;
  if (doc.get_object().get(obj)) return NotAnObject();
  bool has_ts = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return NotAnObject();
    od::value v;
    if (field.value().get(v)) return BadKey(key, "is malformed");
    if (key == "deviceID") {
      if (!ReadDevice(v, &out->device)) return BadKey(key, "is not a string or an integer");
    } else if (key == "timeStamp") {
      if (!ReadTime(v, &out->ts_ms)) return BadKey(key, "is not a time");
      has_ts = true;
    } else if (key == "fault") {
      if (!ReadFault(v, &out->fault)) return BadKey(key, "is not a number or a boolean");
    } else if (key == "score") {
      double d;
      if (v.get_double().get(d)) return BadKey(key, "is not a number");
      out->score = d;
    } else if (key == "level") {
      std::string_view s;
      if (v.get_string().get(s)) return BadKey(key, "is not a string");
      out->level = ParseLevel(s);
    } else if (key == "model") {
      std::string_view s;
      if (v.get_string().get(s)) return BadKey(key, "is not a string");
      out->model.assign(s.substr(0, 256));
    } else {
      if (!Skip(v)) return BadKey(key, "is malformed");
    }
  }
  if (!AtEnd(doc)) return Trailing();
  if (out->device.empty() || out->device.size() > 256) {
    return {errc::invalid_argument, "deviceID missing, empty or over 256 bytes"};
  }
  if (!has_ts) out->ts_ms = now_ms;
  if (out->level == Level::kUnknown) out->level = out->fault ? Level::kWarning : Level::kOk;
  return {};
}

Status ParseStatus(std::string_view json, std::string_view device, int64_t now_ms,
                   StatusUpdate* out, telemetry::Defect* defect) {
  *out = StatusUpdate();
  telemetry::Defect local;
  telemetry::Defect& d = defect ? *defect : local;
  telemetry::DeviceStatus status;
  if (!telemetry::ParseDeviceStatus(json, device, now_ms * 1000000, &status, d)) return ErrorOf(d);
  out->device = std::move(status.device);
  out->ts_ms = status.has_time ? status.time_ns / 1000000 : now_ms;
  out->online = status.online;
  out->model = std::move(status.model);
  out->json.assign(json);
  return {};
}

Status ParseEvent(std::string_view json, std::string_view kind, int64_t now_ms, EventRecord* out) {
  *out = EventRecord();
  out->kind.assign(kind);
  out->ts_ms = now_ms;
  od::document doc;
  if (Begin(json, &doc)) return NotAnObject();
  od::object obj;
  if (doc.get_object().get(obj)) return NotAnObject();
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return NotAnObject();
    od::value v;
    if (field.value().get(v)) return BadKey(key, "is malformed");
    std::string_view s;
    if (key == "deviceID" || key == "device") {
      if (!ReadDevice(v, &out->device)) return BadKey(key, "is not a string or an integer");
    } else if (key == "timeStamp" || key == "time" || key == "ts") {
      if (!ReadTime(v, &out->ts_ms)) return BadKey(key, "is not a time");
    } else if (key == "level" || key == "severity") {
      if (v.get_string().get(s)) return BadKey(key, "is not a string");
      out->level = ParseLevel(s);
    } else {
      if (!Skip(v)) return BadKey(key, "is malformed");
    }
  }
  if (!AtEnd(doc)) return Trailing();
  out->json.assign(json);
  return {};
}

bool TopicMatches(std::string_view filter, std::string_view topic) {
  size_t f = 0, t = 0;
  while (true) {
    size_t fe = filter.find('/', f);
    std::string_view flevel = filter.substr(f, fe == std::string_view::npos ? fe : fe - f);
    if (flevel == "#") return true;
    if (t > topic.size()) return false;
    size_t te = topic.find('/', t);
    std::string_view tlevel = topic.substr(t, te == std::string_view::npos ? te : te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    bool fend = fe == std::string_view::npos;
    bool tend = te == std::string_view::npos;
    if (fend || tend) {
      if (fend && tend) return true;
      // "a/#" matches "a" too.
      return tend && !fend && filter.substr(fe + 1) == "#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

}  // namespace aiot::store
