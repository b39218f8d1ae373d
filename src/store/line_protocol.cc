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

void AppendTime(std::string& out, int64_t ts_ms, int64_t mul, int64_t div) {
  fmt::format_to(std::back_inserter(out), " {}\n", ts_ms * mul / div);
}

}  // namespace

bool PrecisionFromMs(std::string_view precision, int64_t* mul, int64_t* div) {
  *mul = 1;
  *div = 1;
  if (precision == "ns" || precision == "n") {
    *mul = 1000000;
  } else if (precision == "u" || precision == "us") {
    *mul = 1000;
  } else if (precision == "ms") {
  } else if (precision == "s") {
    *div = 1000;
  } else {
    return false;
  }
  return true;
}

void AppendMeasurement(std::string& out, std::string_view s) { AppendEscaped(out, s, ", "); }
void AppendTagOrKey(std::string& out, std::string_view s) { AppendEscaped(out, s, ",= "); }

bool AppendTelemetryLine(std::string& out, std::string_view measurement, const FieldSchema& schema,
                         const TelemetryPoint& p, int64_t mul, int64_t div) {
  const size_t mark = out.size();
  AppendMeasurement(out, measurement);
  out += ",deviceID=";
  AppendTagOrKey(out, p.device);
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
  AppendMeasurement(out, measurement);
  out += ",deviceID=";
  AppendTagOrKey(out, a.device);
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

}  // namespace aiot::store
