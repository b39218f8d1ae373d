#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot::store {

enum class Aggregate { kMean, kMin, kMax, kLast, kCount, kSum };
const char* AggregateName(Aggregate a);
bool ParseAggregate(std::string_view s, Aggregate* out);

// A time-series query: [from_ms, to_ms), the given devices (empty = all) and fields (empty = the
// column fields and the anomaly score), aggregated per bucket (bucket_ms = 0: raw points).
struct SeriesQuery {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  std::vector<std::string> devices;
  std::vector<std::string> fields;
  int64_t bucket_ms = 0;
  Aggregate agg = Aggregate::kMean;
  int64_t limit = 100000;  // points per series
};

// One (device, field) series; times are bucket starts (or raw timestamps), ascending.
struct Series {
  std::string device;
  std::string field;
  std::vector<int64_t> times_ms;
  std::vector<double> values;
};

struct SeriesResult {
  SeriesQuery query;
  std::vector<Series> series;
  bool used_rollups = false;
};

// Builds a query from HTTP query parameters: devices=a,b fields=x,y from/to (RFC 3339, epoch ms,
// "now", or "-1h"/"-30m"/"-7d" relative to now), bucket (60s, 1m, 500ms, 1h, 1d, or seconds),
// agg (mean|min|max|last|count|sum), limit. Defaults: the last hour, raw points.
Result<SeriesQuery> ParseSeriesQuery(const std::map<std::string, std::string>& params,
                                     int64_t now_ms);
bool ParseDurationMs(std::string_view s, int64_t* ms);
bool ParseTimeParam(std::string_view s, int64_t now_ms, int64_t* ms);

// {"from":..,"to":..,"bucket_ms":..,"agg":..,"series":[{"device","field","t":[ms..],"v":[..]}]}
std::string FormatSeriesJson(const SeriesResult& r);
// Wide CSV: time,device,<field>,<field>... one row per (device, time); empty cells when absent.
std::string FormatSeriesCsv(const SeriesResult& r);

void AppendJsonString(std::string& out, std::string_view s);
void AppendJsonNumber(std::string& out, double v);
std::vector<std::string> SplitList(std::string_view s);

}  // namespace aiot::store
