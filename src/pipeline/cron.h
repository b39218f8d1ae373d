#pragma once

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::pipeline {

// A cron schedule in the standard 5-field syntax, evaluated in UTC:
//
//   minute(0-59) hour(0-23) day-of-month(1-31) month(1-12 or JAN..DEC) day-of-week(0-7 or SUN..SAT)
//
// Each field is `*` or a comma list of `N`, `A-B`, `*/S`, `A-B/S` or `N/S` (N to the field's end,
// every S). Names are case-insensitive and also work in ranges (`MON-FRI`); in day-of-week both 0
// and 7 are Sunday (`5-7` and `FRI-SUN` are Friday to Sunday). Macros: `@hourly`, `@daily` (=
// `@midnight`),
// `@weekly`, `@monthly`, `@yearly` (= `@annually`).
//
// Day matching (POSIX): when day-of-month and day-of-week are both restricted, a day matches when
// EITHER does ("0 0 13 * FRI" fires on every 13th and on every Friday); when one of them is `*`,
// only the other one counts. A field is unrestricted only when it is `*` (or `*/1`); `*/2` is a
// restriction.
//
// Parse rejects schedules that can never fire ("0 0 31 2 *", "0 0 30 2 *"), so Next always finds a
// time. Errors (errc::parse_error) name the field and the bad token:
//   "hour: `25` is out of range 0-23", "day-of-week: `FUN` is not a number or name".
class CronSchedule {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  static Result<CronSchedule> Parse(std::string_view text);

  // The first firing strictly after `after` (UTC), at a whole minute. Times before 1900 or after
  // 2200 are outside what this computes: the answer is then TimePoint::max().
  TimePoint Next(TimePoint after) const;

  // True when the schedule fires at the minute that contains `t`.
  bool Matches(TimePoint t) const;

  // The text it was parsed from (trimmed).
  const std::string& text() const { return text_; }

 private:
  CronSchedule() = default;
  bool DayMatches(int64_t days_since_epoch) const;
  bool CanFire() const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bits 1..31
  std::bitset<13> months_;         // bits 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

}  // namespace aiot::pipeline
