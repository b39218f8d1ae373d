#pragma once

// The pipeline's time-to-failure task (src/pipeline/README.md, "Time to failure"): the extracted
// readings (data.csv) and the window's maintenance records (maintenance.json) as a regression
// data set whose target is the hours to each device's next failure (ml/data/ttf.h).
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/data/dataset.h"
#include "ml/data/ttf.h"

namespace aiot::cli::steps {

struct TtfRowsRequest {
  std::string data_csv, maintenance_json;
  // Feature columns in order; empty = every column but DeviceID, Time and `label_column`.
  std::vector<std::string> features;
  std::string label_column;  // the datastore's class label: never a feature here
  double horizon_h = 0;      // as TtfOptions::horizon_h
  // Only these devices' rows (empty = all).
  std::set<std::string> devices;
};

struct TtfRows {
  ml::Dataset data;                  // target = hours, group = device, label time_to_failure_h
  std::vector<std::string> devices;  // per row of `data`, the device id
  ml::TtfStats stats;
};

// Rows with an empty feature cell are left out (as LoadRows does), then readings whose time to
// failure is unknown (right-censored, ml::TimeToFailureHours). Errors name the file and line.
Result<TtfRows> LoadTtfRows(const TtfRowsRequest& request);

}  // namespace aiot::cli::steps
