#include "datastore/telemetry_row.h"

#include <cmath>

#include "base/clock.h"
#include "base/errc.h"

namespace aiot::datastore {
namespace {

// The row's sensor columns, in the order the parser is given their names.
constexpr double TelemetryRow::*kColumns[] = {&TelemetryRow::rotation, &TelemetryRow::temperature,
                                              &TelemetryRow::vibration, &TelemetryRow::sound};

telemetry::ReadingParser& Parser() {
  // max_fields 0: the parser hands back only the four columns, not every other numeric leaf.
  thread_local telemetry::ReadingParser parser({"rotation", "temperature", "vibration", "sound"},
                                               telemetry::MessageConfig{}, /*max_fields=*/0);
  return parser;
}

}  // namespace

Status ParseTelemetry(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
                      telemetry::Defect* defect) {
  telemetry::ReadingParser& parser = Parser();
  thread_local telemetry::Reading reading;
  telemetry::Defect local;
  telemetry::Defect& d = defect ? *defect : local;
  if (!parser.Parse(json, arrival_ns, &reading, d)) return {errc::parse_error, d.Reason()};
  row->device = reading.device;
  row->ts = reading.time_ns;
  for (auto column : kColumns) row->*column = std::nan("");
  // The parser returned only the columns it was given, each at most once.
  const auto& names = parser.numeric_fields();
  for (const auto& [name, value] : reading.fields) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (name == names[i]) row->*kColumns[i] = value;
    }
  }
  return Status::Ok();
}

Status ParseTelemetry(std::string_view json, TelemetryRow* row) {
  return ParseTelemetry(json, SystemClock::Instance().NowNanos(), row);
}

}  // namespace aiot::datastore
