#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace aiot {

// Time, injected where tests must control it (replaying a day of telemetry in a second).
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in nanoseconds since the Unix epoch.
  virtual int64_t NowNanos() const = 0;
  // Monotonic time in nanoseconds, for intervals and timeouts.
  virtual int64_t MonotonicNanos() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock& Instance() {
    static SystemClock c;
    return c;
  }
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_nanos = 0) : now_(start_nanos) {}
  int64_t NowNanos() const override { return now_.load(); }
  int64_t MonotonicNanos() const override { return now_.load(); }
  void Advance(std::chrono::nanoseconds d) { now_ += d.count(); }
  void Set(int64_t nanos) { now_ = nanos; }

 private:
  std::atomic<int64_t> now_;
};

// RFC 3339 UTC with milliseconds, as telemetry carries it: "2026-11-22T10:00:00.123Z".
std::string FormatTimestamp(int64_t unix_nanos);
// The same into `out` (at least kTimestampBytes bytes, NUL-terminated) without allocating;
// returns the length.
inline constexpr size_t kTimestampBytes = 40;
size_t FormatTimestamp(int64_t unix_nanos, char* out);
// What ParseTimestamp does with a time that has neither "Z" nor an offset.
enum class MissingZone { kReject, kUtc };
// Parses RFC 3339 ("Z" or "+hh:mm" offsets, optional fraction, 'T' or ' ' separator); returns
// false on malformed input and on times outside what int64 nanoseconds hold (years 1678-2261).
// With MissingZone::kUtc a time without a zone ("2021-09-14 23:07:59", as the reference fan.py
// sends it) is UTC; by default it is malformed.
bool ParseTimestamp(std::string_view text, int64_t* unix_nanos,
                    MissingZone missing_zone = MissingZone::kReject);

}  // namespace aiot
