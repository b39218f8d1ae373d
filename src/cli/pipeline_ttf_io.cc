#include "cli/pipeline_ttf_io.h"

#include <cmath>
#include <map>

#include "base/clock.h"
#include "base/errc.h"
#include "cli/pipeline_step_io.h"
#include "ml/data/csv.h"

namespace aiot::cli::steps {

Result<TtfRows> LoadTtfRows(const TtfRowsRequest& req) {
  auto table = ml::ReadCsvFile(req.data_csv);
  if (!table.ok()) return table.status();
  const int dcol = table->Column(kDeviceColumn);
  const int tcol = table->Column(kTimeColumn);
  if (dcol < 0 || tcol < 0) {
    return Status(errc::invalid_argument, req.data_csv + ": no " +
                                              (dcol < 0 ? kDeviceColumn : kTimeColumn) +
                                              " column (time to failure needs both)");
  }
  ml::DatasetSchema schema;
  schema.features = req.features;
  if (schema.features.empty()) {
    for (const std::string& c : table->header) {
      if (c != kDeviceColumn && c != kTimeColumn && c != req.label_column) {
        schema.features.push_back(c);
      }
    }
  }
  std::vector<int> used;
  for (const std::string& c : schema.features) {
    const int col = table->Column(c);
    if (col < 0) return Status(errc::invalid_argument, req.data_csv + ": no column `" + c + "`");
    used.push_back(col);
  }
  ml::CsvTable kept;
  kept.header = table->header;
  std::vector<std::string> device;
  std::vector<int64_t> time;
  for (size_t r = 0; r < table->rows.size(); ++r) {
    auto& row = table->rows[r];
    if (!req.devices.empty() && req.devices.count(row[dcol]) == 0) continue;
    bool complete = true;
    for (int c : used) complete = complete && !row[c].empty();
    if (!complete) continue;
    int64_t t = 0;
    if (!ParseTimestamp(row[tcol], &t, MissingZone::kUtc)) {
      return Status(errc::parse_error, req.data_csv + ":" + std::to_string(r + 2) + ": " +
                                           kTimeColumn + " `" + row[tcol].substr(0, 64) +
                                           "` is not a time");
    }
    device.push_back(row[dcol]);
    time.push_back(t);
    kept.rows.push_back(std::move(row));
  }
  auto events = ml::ReadMaintenanceRecords(req.maintenance_json);
  if (!events.ok()) return events.status();
  TtfRows out;
  const std::vector<float> hours =
      ml::TimeToFailureHours(device, time, *events, req.horizon_h, &out.stats);
  auto data = ml::BuildDataset(kept, schema);
  if (!data.ok())
    return Status(data.status().code(), req.data_csv + ": " + data.status().message());
  std::vector<size_t> keep;
  for (size_t r = 0; r < hours.size(); ++r) {
    if (!std::isnan(hours[r])) keep.push_back(r);
  }
  out.data = data->Subset(keep);
  std::map<std::string, int32_t> ids;
  out.data.group.resize(keep.size());
  out.data.target.resize(keep.size());
  out.devices.resize(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    const std::string& d = device[keep[i]];
    out.data.group[i] = ids.emplace(d, static_cast<int32_t>(ids.size())).first->second;
    out.data.target[i] = hours[keep[i]];
    out.devices[i] = d;
  }
  out.data.label_name = "time_to_failure_h";
  auto sha = FileSha256(req.data_csv);
  if (sha.ok()) out.data.sha256 = *sha;
  return out;
}

}  // namespace aiot::cli::steps
