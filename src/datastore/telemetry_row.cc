#include "datastore/telemetry_row.h"

#include <cmath>

#include "base/errc.h"

namespace aiot::datastore {

// max_fields 0: the parser hands back only the schema's fields, not every other numeric leaf.
RowParser::RowParser(std::vector<std::string> fields)
    : parser_(std::move(fields), telemetry::MessageConfig{}, /*max_fields=*/0) {}

Status RowParser::Parse(std::string_view json, int64_t arrival_ns, TelemetryRow* row,
                        telemetry::Defect* defect) {
  telemetry::Defect local;
  telemetry::Defect& d = defect ? *defect : local;
  if (!parser_.Parse(json, arrival_ns, &reading_, d)) return {errc::parse_error, d.Reason()};
  row->device = reading_.device;
  row->ts = reading_.time_ns;
  row->values.assign(parser_.numeric_fields().size(), std::nan(""));
  // The parser returned only the fields it was given, each at most once, with their index.
  for (size_t i = 0; i < reading_.fields.size(); ++i) {
    const int column = reading_.numeric_index[i];
    if (column >= 0) row->values[static_cast<size_t>(column)] = reading_.fields[i].second;
  }
  return Status::Ok();
}

}  // namespace aiot::datastore
