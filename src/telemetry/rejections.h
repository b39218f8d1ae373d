#pragma once

#include <array>
#include <atomic>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "telemetry/message.h"

namespace aiot::telemetry {

// Counts and reports rejected messages the same way in every component:
// `aiot_messages_rejected_total{component,reason}` (reason = Defect::Label()) and a warning in
// the component's log, rate-limited (log::RateLimiter: 5 lines per 10 s, then a count of those
// suppressed), since any client can send bad messages at will. Thread-safe.
//
//   Rejections rejections(&registry, "store", "store");
//   if (!parser.Parse(payload, now, &reading, defect)) rejections.Reject(topic, defect);
class Rejections {
 public:
  // `registry` may be null (no metrics, e.g. in tools).
  Rejections(metrics::Registry* registry, std::string component, std::string log_module,
             const Clock& clock = SystemClock::Instance());

  void Reject(std::string_view topic, const Defect& defect);
  // For reasons that are not a parse defect (e.g. "not_found"): `label` must be a fixed set.
  void Reject(std::string_view topic, std::string_view label, std::string_view reason);

  uint64_t total() const { return total_.load(std::memory_order_relaxed); }

 private:
  void Log(std::string_view topic, std::string_view reason, uint64_t suppressed);

  prometheus::Family<prometheus::Counter>* family_ = nullptr;
  std::array<prometheus::Counter*, 16> by_kind_{};  // indexed by Defect::Kind
  std::string component_;
  std::string log_module_;
  const Clock& clock_;
  log::RateLimiter limiter_;
  std::atomic<uint64_t> total_{0};
};

}  // namespace aiot::telemetry
