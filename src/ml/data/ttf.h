#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ml/data/csv.h"
#include "ml/data/dataset.h"

// Time to failure: the regression target "hours until this device's next failure", built from
// maintenance records (failure, repair, inspection per device with a time) and the readings'
// device and time columns.
namespace aiot::ml {

struct MaintenanceEvent {
  enum class Kind { kFailure, kRepair, kOther };  // kOther: inspections (no effect)
  std::string device;
  int64_t at = 0;  // unix nanos
  Kind kind = Kind::kFailure;
};

// Maintenance records as CSV with a header naming `device` (or deviceID / DeviceID), `kind`
// (failure, repair, inspection; a missing column means failure) and `at` (RFC 3339, or
// "YYYY-MM-DD HH:MM:SS" as UTC); other columns (mode, note, ...) are ignored. This is what
// `aiot simulate --history --maintenance-out` writes. errc::parse_error naming line and column.
Result<std::vector<MaintenanceEvent>> ParseMaintenanceCsv(const CsvTable& table);

// Maintenance records as the datastore gives them (`aiot maintenance list --json`, GET
// /api/v1/data/maintenance): {"records":[{"device","kind","at",...},...]} or a bare array of such
// records. Per record the fields of the datastore's JSON (datastore/maintenance_json.h): `device`
// (or `deviceID`), `kind` (failure, repair, inspection; absent or null = failure), `at` (RFC 3339;
// `failure_at` is the older form of a failure's), other members ignored. errc::parse_error naming
// line and column (malformed JSON) or the record's number (1-based) and field.
Result<std::vector<MaintenanceEvent>> ParseMaintenanceJson(std::string_view text);

// Either format, told by content: JSON when the first byte after a UTF-8 BOM and white space is
// `{` or `[`, CSV otherwise (a CSV header cannot start with either). Errors are prefixed with
// `path` by ReadMaintenanceRecords.
Result<std::vector<MaintenanceEvent>> ParseMaintenanceRecords(std::string_view bytes);
Result<std::vector<MaintenanceEvent>> ReadMaintenanceRecords(const std::string& path);

// How readings become targets. Right-censoring: a reading with no later failure of its device
// (or a repair first: the machine was restored, so when it would have failed is unknown) only
// tells that the time to failure exceeds `censor - t`, where `censor` is that repair or the
// device's last reading. Without a horizon such readings are left out. With `horizon_h` > 0 the
// target is min(hours to failure, horizon_h), and a censored reading whose lower bound reaches
// the horizon is kept with the target horizon_h (its capped value is known); the others are left
// out.
struct TtfOptions {
  std::string device_column = "deviceID";
  std::string time_column = "timeStamp";
  double horizon_h = 0;  // 0 = no cap
};

struct TtfStats {
  size_t rows = 0;      // readings read
  size_t exact = 0;     // kept: a failure follows with no repair in between
  size_t capped = 0;    // kept at the horizon (censored or failing later than it)
  size_t censored = 0;  // left out: censored below the horizon
  size_t failures = 0;  // failure records of devices in the data
};

// Per reading (device[i] an id, time[i] unix nanos), hours to the next failure; NaN when
// unknown (left out). `events` may be in any order and name other devices.
std::vector<float> TimeToFailureHours(const std::vector<std::string>& device,
                                      const std::vector<int64_t>& time,
                                      const std::vector<MaintenanceEvent>& events, double horizon_h,
                                      TtfStats* stats = nullptr);

// The CSV at `path` as a regression data set whose target is TimeToFailureHours: features as
// `schema` says (its label must be empty; the device and time columns are dropped from implicit
// features), rows with an unknown target left out, `group` = the device (so splits hold out
// whole devices), label_name "time_to_failure_h". Errors name file, line and column.
Result<Dataset> LoadTimeToFailureDataset(const std::string& path, DatasetSchema schema,
                                         const std::vector<MaintenanceEvent>& events,
                                         const TtfOptions& options, TtfStats* stats = nullptr);

// The CSV at `path` with `schema.label` as a numeric regression target (every cell a finite
// number); the label column is not a feature.
Result<Dataset> LoadRegressionDataset(const std::string& path, DatasetSchema schema);

}  // namespace aiot::ml
