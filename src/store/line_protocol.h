#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/records.h"
#include "store/store_config.h"

namespace aiot::store {

// InfluxDB line protocol, as Telegraf's mqtt_consumer + JSON parser writes the reference's
// telemetry: `fan,deviceID=fan-0001 rotation=601.2,temperature=40.1,... <time>`. All values are
// written as floats (no `i` suffix), so a field keeps one type however the JSON spelled it.

// Multiplier/divisor from milliseconds to `precision`.
void PrecisionFromMs(InfluxPrecision precision, int64_t* mul, int64_t* div);

void AppendMeasurement(std::string& out, std::string_view s);  // escapes ',' and ' '
void AppendTagOrKey(std::string& out, std::string_view s);     // escapes ',', '=' and ' '

// Appends one line (with '\n'). Returns false (appending nothing) when there is no finite field.
// A non-empty `topic` adds the tag `topic=<topic>`, as Telegraf's mqtt_consumer does.
bool AppendTelemetryLine(std::string& out, std::string_view measurement, const FieldSchema& schema,
                         const TelemetryPoint& p, int64_t mul, int64_t div,
                         std::string_view topic = {});
// `fan_anomaly,deviceID=..,level=warning,model=fan-mlp@3 score=0.93,fault=1 <time>`
bool AppendAnomalyLine(std::string& out, std::string_view measurement, const AnomalyPoint& a,
                       int64_t mul, int64_t div);
// An anomaly as the reference's Telegraf wrote the predictor's `{"deviceID","fault"}` (its
// json_string_fields keeps fault a string; the reference's dashboard asks `where fault = '1'`):
// `fan,deviceID=..,topic=fan/anomaly fault="1",score=0.93 <time>`. score only when finite; the
// string fields level and model are not written, as Telegraf's JSON parser drops strings it is
// not told to keep.
bool AppendTelegrafAnomalyLine(std::string& out, std::string_view measurement,
                               const AnomalyPoint& a, int64_t mul, int64_t div,
                               std::string_view topic = {});

}  // namespace aiot::store
