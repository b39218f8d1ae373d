#include "pipeline/cron.h"

#include <gtest/gtest.h>

#include <ctime>
#include <random>
#include <string>

#include "base/clock.h"
#include "base/errc.h"
#include "pipeline/test_time.h"

namespace aiot::pipeline {
namespace {

using test_time::At;
using TimePoint = CronSchedule::TimePoint;

std::string Fmt(TimePoint t) {
  if (t == TimePoint::max()) return "max";
  return FormatTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

CronSchedule Must(std::string_view text) {
  auto c = CronSchedule::Parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().ToString();
  return std::move(*c);
}

std::string NextOf(std::string_view text, TimePoint after) { return Fmt(Must(text).Next(after)); }

std::string ErrorOf(std::string_view text) {
  auto c = CronSchedule::Parse(text);
  if (c.ok()) return "parsed";
  EXPECT_EQ(c.error(), make_error_code(errc::parse_error));
  return c.status().message();
}

// Answers computed by hand from a calendar (2026-11-29 is a Sunday, 2026-12-01 a Tuesday).
TEST(CronScheduleTest, MondayAtThreeAfterASunday) {
  EXPECT_EQ(NextOf("0 3 * * MON", At(2026, 11, 29, 12, 0)), "2026-11-30T03:00:00.000Z");
  EXPECT_EQ(NextOf("0 3 * * 1", At(2026, 11, 30, 3, 0)), "2026-12-07T03:00:00.000Z");
  EXPECT_EQ(NextOf("0 3 * * mon", At(2026, 11, 30, 2, 59, 59)), "2026-11-30T03:00:00.000Z");
}

TEST(CronScheduleTest, Feb29WaitsForALeapYear) {
  EXPECT_EQ(NextOf("0 0 29 2 *", At(2025, 3, 1, 0, 0)), "2028-02-29T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 29 2 *", At(2028, 2, 29, 0, 0)), "2032-02-29T00:00:00.000Z");
  // 2100 is not a leap year: eight years between two Feb 29ths.
  EXPECT_EQ(NextOf("0 0 29 FEB *", At(2096, 3, 1, 0, 0)), "2104-02-29T00:00:00.000Z");
}

TEST(CronScheduleTest, EveryFifteenMinutesIsStrictlyAfter) {
  EXPECT_EQ(NextOf("*/15 * * * *", At(2026, 12, 2, 10, 7, 30)), "2026-12-02T10:15:00.000Z");
  EXPECT_EQ(NextOf("*/15 * * * *", At(2026, 12, 2, 10, 15, 0)), "2026-12-02T10:30:00.000Z");
  EXPECT_EQ(NextOf("*/15 * * * *", At(2026, 12, 2, 10, 14, 59)), "2026-12-02T10:15:00.000Z");
  EXPECT_EQ(NextOf("*/15 * * * *", At(2026, 12, 31, 23, 45)), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("* * * * *", At(2026, 12, 2, 10, 7, 30)), "2026-12-02T10:08:00.000Z");
}

TEST(CronScheduleTest, BothDayFieldsRestrictedMatchEither) {
  // The 1st of the month OR any Monday.
  EXPECT_EQ(NextOf("0 0 1 * MON", At(2026, 11, 1, 0, 0)), "2026-11-02T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 1 * MON", At(2026, 11, 30, 0, 0)), "2026-12-01T00:00:00.000Z");
  // With day-of-week `*` only the day of month counts, and the other way round.
  EXPECT_EQ(NextOf("0 0 1 * *", At(2026, 11, 1, 0, 0)), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 * * MON", At(2026, 11, 30, 0, 0)), "2026-12-07T00:00:00.000Z");
  // `*/2` is a restriction: odd days OR Sundays (Dec 6 is a Sunday, Dec 3 odd).
  EXPECT_EQ(NextOf("0 0 */2 * SUN", At(2026, 12, 2, 0, 0)), "2026-12-03T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 */1 * SUN", At(2026, 12, 2, 0, 0)), "2026-12-06T00:00:00.000Z");
}

TEST(CronScheduleTest, SundayIsZeroAndSeven) {
  EXPECT_EQ(NextOf("0 12 * * 0", At(2026, 12, 2, 0, 0)), "2026-12-06T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 12 * * 7", At(2026, 12, 2, 0, 0)), "2026-12-06T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 12 * * SUN", At(2026, 12, 2, 0, 0)), "2026-12-06T12:00:00.000Z");
  // Friday to Sunday, through 7.
  EXPECT_EQ(NextOf("0 12 * * 5-7", At(2026, 12, 4, 13, 0)), "2026-12-05T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 12 * * FRI-SUN", At(2026, 12, 5, 13, 0)), "2026-12-06T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 12 * * 5-7", At(2026, 12, 6, 13, 0)), "2026-12-11T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 12 * * 5-0", At(2026, 12, 5, 13, 0)), "2026-12-06T12:00:00.000Z");
}

TEST(CronScheduleTest, ListsRangesStepsAndNames) {
  EXPECT_EQ(NextOf("0 0 1-10/3 * *", At(2026, 12, 4, 0, 0)), "2026-12-07T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 1-10/3 * *", At(2026, 12, 10, 0, 0)), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("30 8 * JAN-MAR/2 *", At(2027, 1, 31, 9, 0)), "2027-03-01T08:30:00.000Z");
  EXPECT_EQ(NextOf("5,10,55 */6 * * *", At(2026, 12, 2, 6, 10)), "2026-12-02T06:55:00.000Z");
  EXPECT_EQ(NextOf("5,10,55 */6 * * *", At(2026, 12, 2, 6, 55)), "2026-12-02T12:05:00.000Z");
  EXPECT_EQ(NextOf("0 0 1 dec *", At(2026, 12, 2, 0, 0)), "2027-12-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("59 23 31 12 *", At(2026, 12, 31, 23, 59)), "2027-12-31T23:59:00.000Z");
  EXPECT_EQ(NextOf("10/20 * * * *", At(2026, 12, 2, 10, 31)), "2026-12-02T10:50:00.000Z");
  // The 31st skips the months without one.
  EXPECT_EQ(NextOf("0 0 31 * *", At(2026, 12, 31, 0, 0)), "2027-01-31T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 31 * *", At(2027, 1, 31, 0, 0)), "2027-03-31T00:00:00.000Z");
  EXPECT_EQ(NextOf("  0  0\t31 * *  ", At(2027, 1, 31, 0, 0)), "2027-03-31T00:00:00.000Z");
}

TEST(CronScheduleTest, Macros) {
  const TimePoint wed = At(2026, 12, 2, 10, 0);
  EXPECT_EQ(NextOf("@hourly", wed), "2026-12-02T11:00:00.000Z");
  EXPECT_EQ(NextOf("@daily", wed), "2026-12-03T00:00:00.000Z");
  EXPECT_EQ(NextOf("@midnight", wed), "2026-12-03T00:00:00.000Z");
  EXPECT_EQ(NextOf("@weekly", wed), "2026-12-06T00:00:00.000Z");
  EXPECT_EQ(NextOf("@monthly", wed), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("@yearly", wed), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("@annually", At(2027, 1, 1, 0, 0)), "2028-01-01T00:00:00.000Z");
  EXPECT_EQ(Must(" @daily ").text(), "@daily");
}

TEST(CronScheduleTest, ErrorsNameTheFieldAndTheToken) {
  EXPECT_EQ(ErrorOf("60 * * * *"), "minute: `60` is out of range 0-59");
  EXPECT_EQ(ErrorOf("0 24 * * *"), "hour: `24` is out of range 0-23");
  EXPECT_EQ(ErrorOf("0 0 0 * *"), "day-of-month: `0` is out of range 1-31");
  EXPECT_EQ(ErrorOf("0 0 * 13 *"), "month: `13` is out of range 1-12");
  EXPECT_EQ(ErrorOf("0 0 * * 8"), "day-of-week: `8` is out of range 0-7");
  EXPECT_EQ(ErrorOf("0 0 * * FUN"), "day-of-week: `FUN` is not a number or name");
  EXPECT_EQ(ErrorOf("0 0 * JANUARY *"), "month: `JANUARY` is not a number or name");
  EXPECT_EQ(ErrorOf("MON * * * *"), "minute: `MON` is not a number");
  EXPECT_EQ(ErrorOf("*/0 * * * *"), "minute: `*/0` has a bad step (1-59)");
  EXPECT_EQ(ErrorOf("1-10/ * * * *"), "minute: `1-10/` has a bad step (1-59)");
  EXPECT_EQ(ErrorOf("*/60 * * * *"), "minute: `*/60` has a bad step (1-59)");
  EXPECT_EQ(ErrorOf("10-5 * * * *"), "minute: `10-5` is a range that ends before it starts");
  EXPECT_EQ(ErrorOf("1,,2 * * * *"), "minute: `1,,2` has an empty list element");
  EXPECT_EQ(ErrorOf("1- * * * *"), "minute: `` is empty (a value is missing)");
  EXPECT_EQ(ErrorOf("1x * * * *"), "minute: `1x` is not a number");
  EXPECT_EQ(ErrorOf("99999999999 * * * *"), "minute: `99999999999` is not a number");
  EXPECT_EQ(ErrorOf("* * * *"),
            "schedule `* * * *`: expected 5 fields (minute hour day-of-month month day-of-week), "
            "got 4");
  EXPECT_EQ(ErrorOf("* * * * * *").substr(0, 28), "schedule `* * * * * *`: expe");
  EXPECT_EQ(ErrorOf(""),
            "schedule ``: expected 5 fields (minute hour day-of-month month day-of-week), got 0");
  EXPECT_EQ(ErrorOf("@reboot"),
            "schedule: `@reboot` is not a supported macro (@hourly, @daily, @weekly, @monthly, "
            "@yearly)");
}

TEST(CronScheduleTest, SchedulesThatNeverFireAreRejected) {
  EXPECT_EQ(ErrorOf("0 0 30 2 *"), "day-of-month: `30` never occurs in month `2`");
  EXPECT_EQ(ErrorOf("0 0 31 APR,JUN,SEP,NOV *"),
            "day-of-month: `31` never occurs in month `APR,JUN,SEP,NOV`");
  // ... but with a restricted day of week they fire on those days.
  EXPECT_EQ(NextOf("0 0 30 2 MON", At(2026, 12, 2, 0, 0)), "2027-02-01T00:00:00.000Z");
}

TEST(CronScheduleTest, OutsideTheSupportedYearsAnswersMax) {
  auto c = Must("* * * * *");
  EXPECT_EQ(c.Next(At(2201, 1, 1, 0, 0)), TimePoint::max());
  EXPECT_EQ(c.Next(TimePoint::max() - std::chrono::hours(1)), TimePoint::max());
  EXPECT_EQ(Fmt(c.Next(At(1950, 1, 1, 0, 0))), "1950-01-01T00:01:00.000Z");
}

// An independent oracle (gmtime_r) for the matching rule, checked minute by minute.
bool OracleMatches(const std::tm& tm, int minute, int hour, int dom, int month, int dow) {
  auto eq = [](int want, int v) { return want < 0 || want == v; };
  bool dom_ok = eq(dom, tm.tm_mday);
  bool dow_ok = eq(dow, tm.tm_wday);
  bool day = (dom >= 0 && dow >= 0) ? (dom_ok || dow_ok) : (dom_ok && dow_ok);
  return eq(minute, tm.tm_min) && eq(hour, tm.tm_hour) && eq(month, tm.tm_mon + 1) && day;
}

TEST(CronScheduleTest, NextAgreesWithAMinuteByMinuteScan) {
  struct Case {
    const char* text;
    int minute, hour, dom, month, dow;  // -1 = *
  };
  const Case cases[] = {{"17 * * * *", 17, -1, -1, -1, -1}, {"0 5 * * *", 0, 5, -1, -1, -1},
                        {"30 1 13 * *", 30, 1, 13, -1, -1}, {"45 22 * * 3", 45, 22, -1, -1, 3},
                        {"0 0 13 * FRI", 0, 0, 13, -1, 5},  {"0 6 2 3 *", 0, 6, 2, 3, -1},
                        {"59 23 * FEB 0", 59, 23, -1, 2, 0}};
  std::mt19937_64 rng(13);
  std::uniform_int_distribution<int64_t> start(At(2020, 1, 1, 0, 0).time_since_epoch().count(),
                                               At(2030, 1, 1, 0, 0).time_since_epoch().count());
  for (const Case& c : cases) {
    auto schedule = Must(c.text);
    for (int trial = 0; trial < 3; ++trial) {
      TimePoint after{TimePoint::duration(start(rng))};
      TimePoint expected = TimePoint::max();
      auto t = std::chrono::floor<std::chrono::minutes>(after) + std::chrono::minutes(1);
      for (int i = 0; i < 400 * 24 * 60; ++i, t += std::chrono::minutes(1)) {
        std::time_t tt = std::chrono::system_clock::to_time_t(t);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        if (OracleMatches(tm, c.minute, c.hour, c.dom, c.month, c.dow)) {
          expected = t;
          break;
        }
      }
      ASSERT_NE(expected, TimePoint::max()) << c.text;
      EXPECT_EQ(Fmt(schedule.Next(after)), Fmt(expected)) << c.text << " after " << Fmt(after);
      EXPECT_TRUE(schedule.Matches(expected)) << c.text;
    }
  }
}

}  // namespace
}  // namespace aiot::pipeline
