#include "pipeline/cron.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <vector>

#include "base/errc.h"

namespace aiot::pipeline {
namespace {

using Bits = std::bitset<64>;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;                                  // day-of-week: 7 (also Sunday)
  const std::string_view* names = nullptr;  // names[i] is value i + name_base
  int name_count = 0;
  int name_base = 0;
};

constexpr FieldSpec kFields[5] = {
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day-of-month", 1, 31},
    {"month", 1, 12, kMonthNames.data(), 12, 1},
    {"day-of-week", 0, 7, kDayNames.data(), 7, 0},
};

// A token as shown in an error: quoted, cut at 40 characters.
std::string Shown(std::string_view token) {
  std::string s = "`";
  s += token.substr(0, 40);
  if (token.size() > 40) s += "...";
  return s + "`";
}

Status FieldError(const FieldSpec& f, std::string_view token, std::string_view why) {
  std::string m(f.name);
  m += ": ";
  m += Shown(token);
  m += ' ';
  m += why;
  return Status(errc::parse_error, std::move(m));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// A number or (for month and day-of-week) a name, within the field's range.
Result<int> ParseValue(const FieldSpec& f, std::string_view token) {
  if (token.empty()) return FieldError(f, token, "is empty (a value is missing)");
  int v = 0;
  if (std::isdigit(static_cast<unsigned char>(token[0]))) {
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (ec != std::errc() || end != token.data() + token.size()) {
      return FieldError(f, token, "is not a number");
    }
  } else {
    int i = 0;
    while (i < f.name_count && !EqualsIgnoreCase(token, f.names[i])) ++i;
    if (i == f.name_count) {
      return FieldError(f, token, f.name_count ? "is not a number or name" : "is not a number");
    }
    v = i + f.name_base;
  }
  if (v < f.min || v > f.max) {
    return FieldError(f, token,
                      "is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
  }
  return v;
}

// One list element: `*`, `N`, `A-B`, each optionally followed by `/S`.
Status ParseElement(const FieldSpec& f, std::string_view element, Bits* bits) {
  std::string_view base = element;
  int step = 1;
  bool has_step = false;
  if (size_t slash = element.find('/'); slash != std::string_view::npos) {
    base = element.substr(0, slash);
    std::string_view s = element.substr(slash + 1);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || step < 1 || step > f.max) {
      return FieldError(f, element, "has a bad step (1-" + std::to_string(f.max) + ")");
    }
    has_step = true;
  }
  int lo = f.min;
  int hi = f.max;
  if (base != "*") {
    size_t dash = base.find('-');
    auto a = ParseValue(f, base.substr(0, dash));
    if (!a.ok()) return a.status();
    lo = *a;
    if (dash != std::string_view::npos) {
      auto b = ParseValue(f, base.substr(dash + 1));
      if (!b.ok()) return b.status();
      hi = *b;
      if (f.max == 7 && hi == 0 && lo > 0) hi = 7;  // FRI-SUN: Sunday as 7 ends a range
      if (hi < lo) return FieldError(f, element, "is a range that ends before it starts");
    } else if (!has_step) {
      hi = lo;
    }
  }
  for (int v = lo; v <= hi; v += step) bits->set(static_cast<size_t>(v));
  return Status::Ok();
}

Status ParseField(const FieldSpec& f, std::string_view field, Bits* bits) {
  size_t start = 0;
  for (;;) {
    size_t comma = field.find(',', start);
    std::string_view element = field.substr(start, comma - start);
    if (element.empty()) return FieldError(f, field, "has an empty list element");
    if (Status s = ParseElement(f, element, bits); !s.ok()) return s;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitFields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

Result<std::string_view> ExpandMacro(std::string_view macro) {
  struct Macro {
    std::string_view name, fields;
  };
  static constexpr Macro kMacros[] = {{"@HOURLY", "0 * * * *"},   {"@DAILY", "0 0 * * *"},
                                      {"@MIDNIGHT", "0 0 * * *"}, {"@WEEKLY", "0 0 * * 0"},
                                      {"@MONTHLY", "0 0 1 * *"},  {"@YEARLY", "0 0 1 1 *"},
                                      {"@ANNUALLY", "0 0 1 1 *"}};
  for (const Macro& m : kMacros) {
    if (EqualsIgnoreCase(macro, m.name)) return m.fields;
  }
  return Status(errc::parse_error,
                "schedule: " + Shown(macro) +
                    " is not a supported macro (@hourly, @daily, @weekly, @monthly, @yearly)");
}

// Days since 1970-01-01 -> civil date (H. Hinnant's algorithm, proleptic Gregorian).
struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

template <size_t N>
std::bitset<N> Take(const Bits& bits) {
  std::bitset<N> out;
  for (size_t i = 0; i < N; ++i) out[i] = bits[i];
  return out;
}

// Search horizon: a Feb 29 schedule may wait 8 years (2096 -> 2104).
constexpr int64_t kMaxSearchDays = 9 * 366;
constexpr int64_t kMinutesPerDay = 24 * 60;
// 1900-01-01 and 2200-01-01 in days since the epoch; beyond them Next answers max().
constexpr int64_t kFirstDay = -25567;
constexpr int64_t kLastDay = 83966;

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  text = Trim(text);
  CronSchedule c;
  c.text_ = std::string(text);
  std::string_view spec = text;
  if (!text.empty() && text[0] == '@') {
    auto expanded = ExpandMacro(text);
    if (!expanded.ok()) return expanded.status();
    spec = *expanded;
  }
  std::vector<std::string_view> fields = SplitFields(spec);
  if (fields.size() != 5) {
    return Status(errc::parse_error,
                  "schedule " + Shown(text) +
                      ": expected 5 fields (minute hour day-of-month month day-of-week), got " +
                      std::to_string(fields.size()));
  }
  Bits bits[5];
  for (int i = 0; i < 5; ++i) {
    if (Status s = ParseField(kFields[i], fields[i], &bits[i]); !s.ok()) return s;
  }
  if (bits[4][7]) bits[4].set(0);  // 7 is Sunday too
  c.minutes_ = Take<60>(bits[0]);
  c.hours_ = Take<24>(bits[1]);
  c.days_of_month_ = Take<32>(bits[2]);
  c.months_ = Take<13>(bits[3]);
  c.days_of_week_ = Take<7>(bits[4]);
  c.dom_restricted_ = fields[2] != "*" && fields[2] != "*/1";
  c.dow_restricted_ = fields[4] != "*" && fields[4] != "*/1";
  if (!c.CanFire()) {
    return Status(errc::parse_error, "day-of-month: " + Shown(fields[2]) +
                                         " never occurs in month " + Shown(fields[3]));
  }
  return c;
}

bool CronSchedule::CanFire() const {
  if (!dom_restricted_ || dow_restricted_) return true;  // every month has a matching day
  static constexpr int kDaysIn[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int m = 1; m <= 12; ++m) {
    if (!months_[m]) continue;
    for (int d = 1; d <= kDaysIn[m]; ++d) {
      if (days_of_month_[d]) return true;
    }
  }
  return false;
}

bool CronSchedule::DayMatches(int64_t days) const {
  const Civil c = CivilFromDays(days);
  if (!months_[c.month]) return false;
  const bool dom = days_of_month_[c.day];
  const bool dow = days_of_week_[static_cast<size_t>(((days % 7) + 11) % 7)];  // 1970-01-01: Thu
  if (dom_restricted_ && dow_restricted_) return dom || dow;
  return dom && dow;  // the unrestricted one has every bit set
}

bool CronSchedule::Matches(TimePoint t) const {
  const int64_t minute = std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count();
  const int64_t day = FloorDiv(minute, kMinutesPerDay);
  if (day < kFirstDay || day > kLastDay) return false;
  const int64_t in_day = minute - day * kMinutesPerDay;
  return DayMatches(day) && hours_[static_cast<size_t>(in_day / 60)] &&
         minutes_[static_cast<size_t>(in_day % 60)];
}

CronSchedule::TimePoint CronSchedule::Next(TimePoint after) const {
  const int64_t first =
      std::chrono::floor<std::chrono::minutes>(after.time_since_epoch()).count() + 1;
  int64_t day = FloorDiv(first, kMinutesPerDay);
  if (day < kFirstDay || day > kLastDay) return TimePoint::max();
  int64_t start = first - day * kMinutesPerDay;  // minute of the first candidate day
  for (int64_t i = 0; i < kMaxSearchDays; ++i, ++day, start = 0) {
    if (!DayMatches(day)) continue;
    for (int64_t m = start; m < kMinutesPerDay; ++m) {
      if (!hours_[static_cast<size_t>(m / 60)]) {
        m = (m / 60) * 60 + 59;  // skip the rest of this hour
        continue;
      }
      if (minutes_[static_cast<size_t>(m % 60)]) {
        return TimePoint(std::chrono::minutes(day * kMinutesPerDay + m));
      }
    }
  }
  return TimePoint::max();
}

}  // namespace aiot::pipeline
