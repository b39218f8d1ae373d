#pragma once

// Instants for the pipeline's tests, written as UTC calendar times (cron schedules and trigger
// policies are evaluated in UTC).
#include <time.h>

#include <chrono>
#include <ctime>

namespace aiot::pipeline::test_time {

// y-mo-d h:mi:s UTC.
inline std::chrono::system_clock::time_point At(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace aiot::pipeline::test_time
