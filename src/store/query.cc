#include "store/query.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <map>

#include "base/clock.h"
#include "base/csv.h"
#include "base/errc.h"
#include "store/records.h"

namespace aiot::store {

const char* AggregateName(Aggregate a) {
  switch (a) {
    case Aggregate::kMean:
      return "mean";
    case Aggregate::kMin:
      return "min";
    case Aggregate::kMax:
      return "max";
    case Aggregate::kLast:
      return "last";
    case Aggregate::kCount:
      return "count";
    case Aggregate::kSum:
      return "sum";
  }
  return "mean";
}

bool ParseAggregate(std::string_view s, Aggregate* out) {
  static constexpr std::pair<std::string_view, Aggregate> kNames[] = {
      {"mean", Aggregate::kMean}, {"avg", Aggregate::kMean},  {"min", Aggregate::kMin},
      {"max", Aggregate::kMax},   {"last", Aggregate::kLast}, {"count", Aggregate::kCount},
      {"sum", Aggregate::kSum}};
  for (auto& [name, a] : kNames) {
    if (s == name) {
      *out = a;
      return true;
    }
  }
  return false;
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view item = s.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    pos = comma + 1;
  }
  return out;
}

bool ParseDurationMs(std::string_view s, int64_t* ms) {
  if (s.empty()) return false;
  double n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || !(n >= 0) || n > 1e13) return false;
  std::string_view unit(p, s.data() + s.size() - p);
  double scale;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60e3;
  } else if (unit == "h") {
    scale = 3600e3;
  } else if (unit == "d") {
    scale = 86400e3;
  } else if (unit == "w") {
    scale = 7 * 86400e3;
  } else {
    return false;
  }
  *ms = static_cast<int64_t>(std::llround(n * scale));
  return true;
}

bool ParseTimeParam(std::string_view s, int64_t now_ms, int64_t* ms) {
  if (s == "now") {
    *ms = now_ms;
    return true;
  }
  if (!s.empty() && s[0] == '-') {
    int64_t d;
    if (!ParseDurationMs(s.substr(1), &d)) return false;
    *ms = now_ms - d;
    return true;
  }
  if (s.find('-') != std::string_view::npos) return ParseTimeMs(s, ms);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  *ms = v;
  return true;
}

Result<SeriesQuery> ParseSeriesQuery(const std::map<std::string, std::string>& params,
                                     int64_t now_ms) {
  SeriesQuery q;
  q.to_ms = now_ms + 1;
  q.from_ms = now_ms - 3600 * 1000;
  for (const auto& [key, value] : params) {
    if (key == "devices" || key == "device") {
      q.devices = SplitList(value);
    } else if (key == "fields" || key == "field") {
      q.fields = SplitList(value);
    } else if (key == "from") {
      if (!ParseTimeParam(value, now_ms, &q.from_ms)) return errc::invalid_argument;
    } else if (key == "to") {
      if (!ParseTimeParam(value, now_ms, &q.to_ms)) return errc::invalid_argument;
    } else if (key == "bucket") {
      if (value.empty() || value == "raw" || value == "0") {
        q.bucket_ms = 0;
      } else if (!ParseDurationMs(value, &q.bucket_ms) || q.bucket_ms <= 0) {
        return errc::invalid_argument;
      }
    } else if (key == "agg") {
      if (!ParseAggregate(value, &q.agg)) return errc::invalid_argument;
    } else if (key == "limit") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), q.limit);
      if (ec != std::errc() || q.limit <= 0) return errc::invalid_argument;
    } else if (key == "format") {
      // Handled by the HTTP layer.
    } else {
      return errc::invalid_argument;
    }
  }
  if (q.to_ms <= q.from_ms) return errc::invalid_argument;
  if (q.bucket_ms > 0 && (q.to_ms - q.from_ms) / q.bucket_ms > 10'000'000) {
    return errc::out_of_range;
  }
  return q;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
}

void AppendJsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);
}

std::string FormatSeriesJson(const SeriesResult& r) {
  std::string out;
  size_t n = 0;
  for (const auto& s : r.series) n += s.times_ms.size();
  out.reserve(256 + n * 24);
  fmt::format_to(std::back_inserter(out),
                 R"({{"from":{},"to":{},"bucket_ms":{},"agg":"{}","series":[)", r.query.from_ms,
                 r.query.to_ms, r.query.bucket_ms, AggregateName(r.query.agg));
  bool first = true;
  for (const auto& s : r.series) {
    if (!first) out += ',';
    first = false;
    out += R"({"device":)";
    AppendJsonString(out, s.device);
    out += R"(,"field":)";
    AppendJsonString(out, s.field);
    out += R"(,"t":[)";
    for (size_t i = 0; i < s.times_ms.size(); ++i) {
      if (i) out += ',';
      fmt::format_to(std::back_inserter(out), "{}", s.times_ms[i]);
    }
    out += R"(],"v":[)";
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (i) out += ',';
      AppendJsonNumber(out, s.values[i]);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string FormatSeriesCsv(const SeriesResult& r) {
  // Column order: fields in the order they first appear.
  std::vector<std::string> fields;
  std::map<std::string, size_t> field_col;
  for (const auto& s : r.series) {
    if (field_col.emplace(s.field, fields.size()).second) fields.push_back(s.field);
  }
  // device -> time -> row of values.
  std::map<std::string, std::map<int64_t, std::vector<double>>> rows;
  for (const auto& s : r.series) {
    auto& dev = rows[s.device];
    size_t col = field_col[s.field];
    for (size_t i = 0; i < s.times_ms.size(); ++i) {
      auto& row = dev[s.times_ms[i]];
      if (row.empty()) row.assign(fields.size(), NAN);
      row[col] = s.values[i];
    }
  }
  std::string out = "time,device";
  for (const auto& f : fields) {
    out += ',';
    AppendCsvCell(out, f);
  }
  out += "\r\n";
  for (const auto& [device, times] : rows) {
    for (const auto& [t, row] : times) {
      out += FormatTimestamp(t * 1000000);
      out += ',';
      AppendCsvCell(out, device);
      for (double v : row) {
        out += ',';
        if (std::isfinite(v)) fmt::format_to(std::back_inserter(out), "{}", v);
      }
      out += "\r\n";
    }
  }
  return out;
}

}  // namespace aiot::store
