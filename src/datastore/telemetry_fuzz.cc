// libFuzzer target for the payload the ingest service reads from the network: telemetry
// (fan/messages), parsed into a training datastore row.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "datastore/telemetry_row.h"
#include "telemetry/field_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static aiot::datastore::RowParser parser(aiot::telemetry::FieldSchema::FanFeatures());
  aiot::datastore::TelemetryRow row;
  aiot::telemetry::Defect defect;
  if (!parser.Parse(text, 0, &row, &defect).ok()) (void)defect.Reason();
  return 0;
}
