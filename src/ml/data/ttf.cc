#include "ml/data/ttf.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/errc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/maintenance.h"
#include "base/sha256.h"

namespace aiot::ml {
namespace {

constexpr double kNanosPerHour = 3600e9;

int FirstColumn(const CsvTable& t, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (int c = t.Column(n); c >= 0) return c;
  }
  return -1;
}

MaintenanceEvent::Kind EventKind(MaintenanceKind k) {
  switch (k) {
    case MaintenanceKind::kFailure:
      return MaintenanceEvent::Kind::kFailure;
    case MaintenanceKind::kRepair:
      return MaintenanceEvent::Kind::kRepair;
    case MaintenanceKind::kInspection:
      break;
  }
  return MaintenanceEvent::Kind::kOther;
}

Status CellError(size_t line, const std::string& column, const std::string& what) {
  return Status(errc::parse_error,
                "line " + std::to_string(line) + ", column `" + column + "`: " + what);
}

}  // namespace

Result<std::vector<MaintenanceEvent>> ParseMaintenanceCsv(const CsvTable& t) {
  const int device = FirstColumn(t, {"device", "deviceID", "DeviceID"});
  const int at = FirstColumn(t, {"at", "time", "Time", "timeStamp"});
  const int kind = t.Column("kind");
  if (device < 0 || at < 0) {
    return Status(errc::parse_error,
                  "maintenance records need a `device` and an `at` column (and optionally `kind`)");
  }
  std::vector<MaintenanceEvent> out;
  out.reserve(t.rows.size());
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const size_t line = r + 2;
    MaintenanceEvent e;
    e.device = row[device];
    if (e.device.empty()) return CellError(line, t.header[device], "empty device id");
    if (!ParseTimestamp(row[at], &e.at, MissingZone::kUtc)) {
      return CellError(line, t.header[at], "`" + row[at].substr(0, 64) + "` is not a time");
    }
    const std::string k = kind >= 0 ? row[kind] : "";
    MaintenanceKind mk = MaintenanceKind::kFailure;  // an empty cell: failure, as in the JSON
    if (!k.empty() && !ParseMaintenanceKind(k, &mk)) {
      return CellError(line, "kind",
                       "`" + k.substr(0, 64) + "` is not failure, repair or inspection");
    }
    e.kind = EventKind(mk);
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

Status RecordError(size_t record, const std::string& what) {
  return Status(errc::parse_error, "record " + std::to_string(record) + ": " + what);
}

// Line and column (1-based) of byte offset `pos` in `text`.
std::string Where(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

std::string_view SkipBomAndSpace(std::string_view s) {
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) {
    s.remove_prefix(1);
  }
  return s;
}

}  // namespace

Result<std::vector<MaintenanceEvent>> ParseMaintenanceJson(std::string_view text) {
  nlohmann::json doc;  // nlohmann skips a UTF-8 BOM and white space itself
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte: 1-based position of the offending byte (or one past the end).
    const size_t pos = e.byte > 0 ? e.byte - 1 : 0;
    return Status(errc::parse_error, Where(text, pos) + ": not valid JSON");
  } catch (const nlohmann::json::exception&) {
    return Status(errc::parse_error, "not valid JSON");
  }
  const nlohmann::json* records = &doc;
  if (doc.is_object()) {
    records = json::Find(doc, "records");
    if (records == nullptr) {
      return Status(errc::parse_error,
                    "maintenance records as JSON: an object with a `records` array (what `aiot "
                    "maintenance list --json` prints) or an array of records");
    }
  }
  if (!records->is_array()) {
    return Status(errc::parse_error, "maintenance records as JSON: `records` must be an array");
  }
  std::vector<MaintenanceEvent> out;
  out.reserve(records->size());
  size_t n = 0;
  for (const auto& r : *records) {
    ++n;
    MaintenanceFields f;  // base/maintenance.h: the datastore's own rules for these fields
    if (Status st = ReadMaintenanceFields(r, &f); !st.ok()) return RecordError(n, st.message());
    MaintenanceEvent e;
    e.device = std::move(f.device);
    e.at = f.at;
    e.kind = EventKind(f.kind);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<MaintenanceEvent>> ParseMaintenanceRecords(std::string_view bytes) {
  const std::string_view start = SkipBomAndSpace(bytes);
  if (!start.empty() && (start[0] == '{' || start[0] == '[')) return ParseMaintenanceJson(bytes);
  auto table = ParseCsv(bytes);
  if (!table.ok()) return table.status();
  return ParseMaintenanceCsv(*table);
}

Result<std::vector<MaintenanceEvent>> ReadMaintenanceRecords(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto events = ParseMaintenanceRecords(*bytes);
  if (!events.ok()) return events.status().Prefix(path);
  return events;
}

std::vector<float> TimeToFailureHours(const std::vector<std::string>& device,
                                      const std::vector<int64_t>& time,
                                      const std::vector<MaintenanceEvent>& events, double horizon_h,
                                      TtfStats* stats) {
  TtfStats s;
  s.rows = device.size();
  // Per device: failures and repairs in time order, and the last reading (end of observation).
  struct Track {
    std::vector<int64_t> failures, repairs;
    int64_t last_reading = std::numeric_limits<int64_t>::min();
  };
  std::map<std::string, Track, std::less<>> tracks;
  for (size_t i = 0; i < device.size(); ++i) {
    Track& tr = tracks[device[i]];
    tr.last_reading = std::max(tr.last_reading, time[i]);
  }
  for (const auto& e : events) {
    auto it = tracks.find(e.device);
    if (it == tracks.end() || e.kind == MaintenanceEvent::Kind::kOther) continue;
    (e.kind == MaintenanceEvent::Kind::kFailure ? it->second.failures : it->second.repairs)
        .push_back(e.at);
    s.failures += e.kind == MaintenanceEvent::Kind::kFailure;
  }
  for (auto& [id, tr] : tracks) {
    std::sort(tr.failures.begin(), tr.failures.end());
    std::sort(tr.repairs.begin(), tr.repairs.end());
  }
  const float unknown = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out(device.size(), unknown);
  for (size_t i = 0; i < device.size(); ++i) {
    const Track& tr = tracks.find(device[i])->second;
    const int64_t t = time[i];
    const auto f = std::lower_bound(tr.failures.begin(), tr.failures.end(), t);  // f >= t
    const auto r = std::upper_bound(tr.repairs.begin(), tr.repairs.end(), t);    // r > t
    const bool failure_next = f != tr.failures.end() && (r == tr.repairs.end() || *f <= *r);
    if (failure_next) {
      // In double: two int64 times 1678..2261 apart overflow an int64 difference.
      const double h = (static_cast<double>(*f) - static_cast<double>(t)) / kNanosPerHour;
      if (horizon_h > 0 && h >= horizon_h) {
        out[i] = static_cast<float>(horizon_h);
        ++s.capped;
      } else {
        out[i] = static_cast<float>(h);
        ++s.exact;
      }
      continue;
    }
    // Censored at the repair, or at the device's last reading.
    const int64_t censor = r != tr.repairs.end() ? *r : tr.last_reading;
    const double bound = (static_cast<double>(censor) - static_cast<double>(t)) / kNanosPerHour;
    if (horizon_h > 0 && bound >= horizon_h) {
      out[i] = static_cast<float>(horizon_h);
      ++s.capped;
    } else {
      ++s.censored;
    }
  }
  if (stats) *stats = s;
  return out;
}

Result<Dataset> LoadTimeToFailureDataset(const std::string& path, DatasetSchema schema,
                                         const std::vector<MaintenanceEvent>& events,
                                         const TtfOptions& options, TtfStats* stats) {
  if (!schema.label.empty()) {
    return Status(
        errc::invalid_argument,
        "time to failure comes from maintenance records: no label column (`" + schema.label + "`)");
  }
  if (!(options.horizon_h >= 0) || !std::isfinite(options.horizon_h)) {
    return Status(errc::invalid_argument, "the time-to-failure horizon must be >= 0 hours");
  }
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto table = ParseCsv(*bytes);
  if (!table.ok()) return table.status().Prefix(path);
  const int dcol = table->Column(options.device_column);
  const int tcol = table->Column(options.time_column);
  if (dcol < 0 || tcol < 0) {
    return Status(errc::invalid_argument,
                  path + ": no column `" +
                      (dcol < 0 ? options.device_column : options.time_column) +
                      "` (the device and time columns of the readings)");
  }
  schema.drop.push_back(options.device_column);
  schema.drop.push_back(options.time_column);
  auto data = BuildDataset(*table, schema);
  if (!data.ok()) return data.status().Prefix(path);
  std::vector<std::string> device(table->rows.size());
  std::vector<int64_t> time(table->rows.size());
  for (size_t r = 0; r < table->rows.size(); ++r) {
    device[r] = table->rows[r][dcol];
    if (!ParseTimestamp(table->rows[r][tcol], &time[r], MissingZone::kUtc)) {
      return CellError(r + 2, options.time_column,
                       "`" + table->rows[r][tcol].substr(0, 64) + "` is not a time")
          .Prefix(path);
    }
  }
  const std::vector<float> hours =
      TimeToFailureHours(device, time, events, options.horizon_h, stats);
  std::vector<size_t> keep;
  for (size_t r = 0; r < hours.size(); ++r) {
    if (!std::isnan(hours[r])) keep.push_back(r);
  }
  Dataset out = data->Subset(keep);
  std::map<std::string, int32_t> ids;
  out.group.resize(keep.size());
  out.target.resize(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    out.group[i] = ids.emplace(device[keep[i]], static_cast<int32_t>(ids.size())).first->second;
    out.target[i] = hours[keep[i]];
  }
  out.label_name = "time_to_failure_h";
  out.sha256 = Sha256Hex(*bytes);
  return out;
}

Result<Dataset> LoadRegressionDataset(const std::string& path, DatasetSchema schema) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto table = ParseCsv(*bytes);
  if (!table.ok()) return table.status().Prefix(path);
  const int lcol = table->Column(schema.label);
  if (lcol < 0) {
    return Status(errc::invalid_argument, path + ": no label column `" + schema.label + "`");
  }
  const std::string label = schema.label;
  schema.drop.push_back(label);
  schema.label.clear();
  auto data = BuildDataset(*table, schema);
  if (!data.ok()) return data.status().Prefix(path);
  data->target.resize(data->rows);
  for (size_t r = 0; r < table->rows.size(); ++r) {
    double v = 0;
    if (!ParseNumber(table->rows[r][lcol], &v)) {
      return CellError(r + 2, label, "the regression target is not a number").Prefix(path);
    }
    data->target[r] = static_cast<float>(v);
  }
  data->label_name = label;
  data->sha256 = Sha256Hex(*bytes);
  return data;
}

}  // namespace aiot::ml
