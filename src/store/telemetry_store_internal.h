#pragma once

// What the files of TelemetryStore share (schema, writer, queries): the writer thread's state, the
// metrics, the series sources, time arithmetic and the running aggregate. Not part of the store's
// interface: include only from telemetry_store*.cc.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "base/sqlite.h"
#include "store/query.h"
#include "store/telemetry_store.h"

namespace aiot::store::internal {

// Series sources of the dirty ranges and the rollups: an extra field's id (>= 0), the telemetry
// columns, or the anomaly table.
inline constexpr int64_t kSrcColumns = -1;
inline constexpr int64_t kSrcAnomaly = -2;
inline constexpr int64_t kMinute = 60000;
inline constexpr int64_t kDay = 86400000;
inline constexpr const char* kAnomalyFields[] = {"score", "fault", "level"};

inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline int64_t FloorTo(int64_t t, int64_t step) { return FloorDiv(t, step) * step; }
inline int64_t CeilTo(int64_t t, int64_t step) { return -FloorTo(-t, step); }

// The telemetry table's column of a field, quoted.
inline std::string ColumnName(std::string_view field) { return fmt::format("\"f_{}\"", field); }

inline bool IsAnomalyField(std::string_view f) {
  return f == "score" || f == "fault" || f == "level";
}

// An SQLite failure with what was being done and what SQLite said about it:
// "insert telemetry: database or disk is full".
inline Status SqlError(const sqlite::Db& db, const Status& st, std::string_view what) {
  return Status(st.code(), fmt::format("{}: {}", what, db.LastError()));
}

// Running aggregate of one bucket.
struct Acc {
  int64_t n = 0;
  double sum = 0;
  double min = INFINITY;
  double max = -INFINITY;
  double last = NAN;

  void Add(double v) {
    ++n;
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    last = v;
  }
  void Merge(int64_t n2, double sum2, double min2, double max2, double last2) {
    n += n2;
    sum += sum2;
    min = std::min(min, min2);
    max = std::max(max, max2);
    last = last2;
  }
  double Value(Aggregate a) const {
    switch (a) {
      case Aggregate::kMean:
        return n ? sum / static_cast<double>(n) : NAN;
      case Aggregate::kMin:
        return min;
      case Aggregate::kMax:
        return max;
      case Aggregate::kLast:
        return last;
      case Aggregate::kCount:
        return static_cast<double>(n);
      case Aggregate::kSum:
        return sum;
    }
    return NAN;
  }
};

}  // namespace aiot::store::internal

namespace aiot::store {

struct TelemetryStore::Metrics {
  prometheus::Counter* telemetry;
  prometheus::Counter* anomalies;
  prometheus::Counter* statuses;
  prometheus::Counter* events;
  prometheus::Counter* parse_errors;
  prometheus::Counter* dropped;
  prometheus::Counter* write_errors;
  prometheus::Counter* batches;
  prometheus::Gauge* queue_depth;

  explicit Metrics(metrics::Registry& r);
};

// The writer thread's state: its connection, prepared statements and caches.
struct TelemetryStore::Writer {
  sqlite::Db db;
  sqlite::Stmt begin, commit, rollback;
  sqlite::Stmt insert_telemetry, insert_extra, insert_anomaly, insert_event, update_status,
      touch_device;
  sqlite::Stmt insert_device, select_device, insert_field, select_field;
  sqlite::Stmt select_rows, select_anomaly_rows, select_extra_rows, insert_rollup;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> device_ids;
  std::vector<int64_t> column_field_ids;   // by column index
  std::vector<int64_t> anomaly_field_ids;  // score, fault, level
  std::chrono::steady_clock::time_point last_rollup, last_retention;

  // The batch being committed: the ranges it touched, each device's newest telemetry, counts.
  DirtyRanges batch_dirty;
  std::unordered_map<int64_t, int64_t> batch_last_seen;
  size_t n_telemetry = 0, n_anomalies = 0, n_statuses = 0, n_events = 0;
};

}  // namespace aiot::store
