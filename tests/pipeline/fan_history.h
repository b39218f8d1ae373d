#pragma once

// Labelled history for the pipeline tests: six days of readings of ten fans ending an hour before
// `now_ns`; five fail (maintenance records) and run hot and vibrate in the day before their
// failure, so the datastore's export labels those rows faulty (label_window_s 24 h).
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "datastore/datastore.h"

namespace aiot::pipeline_test {

inline constexpr int64_t kSecond = 1'000'000'000;
inline constexpr int64_t kDay = 86400 * kSecond;

// Fills `ds` (open); `step_ns` between a fan's readings. Fails the calling test on an error.
inline void FillFanHistory(datastore::TrainingDatastore& ds, int64_t now_ns,
                           int64_t step_ns = 600 * kSecond, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  const int64_t start = now_ns - 6 * kDay - 3600 * kSecond;
  const std::map<std::string, double> failures = {
      {"fan-0", 1.5}, {"fan-1", 3.0}, {"fan-2", 4.5}, {"fan-3", 5.6}, {"fan-4", 5.9}};
  std::vector<datastore::TelemetryRow> rows;
  for (int d = 0; d < 10; ++d) {
    const std::string dev = "fan-" + std::to_string(d);
    auto f = failures.find(dev);
    const int64_t fail_at =
        f == failures.end() ? 0 : start + static_cast<int64_t>(f->second * kDay);
    for (int64_t t = start; t < start + 6 * kDay; t += step_ns) {
      const double k = fail_at > 0 && t <= fail_at && t >= fail_at - kDay ? 1.0 : 0.0;
      rows.push_back({t,
                      dev,
                      {1500 + 20 * noise(rng) - 60 * k, 40 + 2 * noise(rng) + 5 * k,
                       150 + 8 * noise(rng) + 30 * k, 50 + 2 * noise(rng) + 3 * k}});
    }
    if (fail_at > 0) {
      ASSERT_TRUE(ds.AddMaintenance({dev, fail_at, "bearing"}).ok());
    }
  }
  ASSERT_TRUE(ds.Append(rows).ok());
}

}  // namespace aiot::pipeline_test
