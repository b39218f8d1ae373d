#include "store/line_protocol.h"

#include <fmt/format.h>

#include <cmath>

namespace aiot::store {
namespace {

void AppendEscaped(std::string& out, std::string_view s, std::string_view special) {
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      out += ' ';
      continue;
    }
    if (special.find(c) != std::string_view::npos || c == '\\') out += '\\';
    out += c;
  }
}

void AppendField(std::string& out, bool& first, std::string_view key, double v) {
  if (!std::isfinite(v)) return;
  if (!first) out += ',';
  first = false;
  AppendTagOrKey(out, key);
  out += '=';
  fmt::format_to(std::back_inserter(out), "{}", v);
}

// `<measurement>,deviceID=<device>[,topic=<topic>]` (tags sorted, as InfluxDB prefers).
void AppendSeriesKey(std::string& out, std::string_view measurement, std::string_view device,
                     std::string_view topic) {
  AppendMeasurement(out, measurement);
  out += ",deviceID=";
  AppendTagOrKey(out, device);
  if (!topic.empty()) {
    out += ",topic=";
    AppendTagOrKey(out, topic);
  }
}

void AppendTime(std::string& out, int64_t ts_ms, int64_t mul, int64_t div) {
  fmt::format_to(std::back_inserter(out), " {}\n", ts_ms * mul / div);
}

}  // namespace

void PrecisionFromMs(InfluxPrecision precision, int64_t* mul, int64_t* div) {
  *mul = 1;
  *div = 1;
  switch (precision) {
    case InfluxPrecision::kNs:
      *mul = 1000000;
      break;
    case InfluxPrecision::kU:
      *mul = 1000;
      break;
    case InfluxPrecision::kMs:
      break;
    case InfluxPrecision::kS:
      *div = 1000;
      break;
  }
}

void AppendMeasurement(std::string& out, std::string_view s) { AppendEscaped(out, s, ", "); }
void AppendTagOrKey(std::string& out, std::string_view s) { AppendEscaped(out, s, ",= "); }

bool AppendTelemetryLine(std::string& out, std::string_view measurement, const FieldSchema& schema,
                         const TelemetryPoint& p, int64_t mul, int64_t div,
                         std::string_view topic) {
  const size_t mark = out.size();
  AppendSeriesKey(out, measurement, p.device, topic);
  out += ' ';
  bool first = true;
  for (size_t c = 0; c < schema.size(); ++c)
    AppendField(out, first, schema.columns()[c], p.columns[c]);
  for (const auto& [k, v] : p.extra) AppendField(out, first, k, v);
  if (first) {
    out.resize(mark);
    return false;
  }
  AppendTime(out, p.ts_ms, mul, div);
  return true;
}

bool AppendAnomalyLine(std::string& out, std::string_view measurement, const AnomalyPoint& a,
                       int64_t mul, int64_t div) {
  const size_t mark = out.size();
  AppendSeriesKey(out, measurement, a.device, {});
  out += ",level=";
  out += LevelName(a.level);
  if (!a.model.empty()) {
    out += ",model=";
    AppendTagOrKey(out, a.model);
  }
  out += ' ';
  bool first = true;
  AppendField(out, first, "score", a.score);
  AppendField(out, first, "fault", static_cast<double>(a.fault));
  if (first) {
    out.resize(mark);
    return false;
  }
  AppendTime(out, a.ts_ms, mul, div);
  return true;
}

bool AppendTelegrafAnomalyLine(std::string& out, std::string_view measurement,
                               const AnomalyPoint& a, int64_t mul, int64_t div,
                               std::string_view topic) {
  AppendSeriesKey(out, measurement, a.device, topic);
  out += a.fault ? " fault=\"1\"" : " fault=\"0\"";
  bool first = false;
  AppendField(out, first, "score", a.score);
  AppendTime(out, a.ts_ms, mul, div);
  return true;
}

}  // namespace aiot::store
