// libFuzzer target: arbitrary bytes as a CSV file, then as a data set with the first column as
// the label, and as maintenance records (ttf.h: CSV or the datastore's JSON, told by content)
// turned into time-to-failure targets. Errors are fine; crashes and hangs are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ml/data/csv.h"
#include "ml/data/dataset.h"
#include "ml/data/ttf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Maintenance records in either format (JSON when it starts with `{` or `[`, else CSV).
  if (auto events = aiot::ml::ParseMaintenanceRecords(bytes); events.ok()) {
    std::vector<std::string> device;
    std::vector<int64_t> time;
    for (const auto& e : *events) {
      device.push_back(e.device);
      time.push_back(e.at / 2);
    }
    (void)aiot::ml::TimeToFailureHours(device, time, *events, 0);
    (void)aiot::ml::TimeToFailureHours(device, time, *events, 6);
  }
  auto table = aiot::ml::ParseCsv(bytes);
  if (!table.ok() || table->header.empty()) return 0;
  aiot::ml::DatasetSchema schema;
  schema.label = table->header[0];
  (void)aiot::ml::BuildDataset(*table, schema);
  schema.label_map = {{"a", 0}, {"b", 1}};
  (void)aiot::ml::BuildDataset(*table, schema);
  return 0;
}
