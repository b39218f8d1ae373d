#include "telemetry/rejections.h"

#include <prometheus/counter.h>

namespace aiot::telemetry {

Rejections::Rejections(metrics::Registry* registry, std::string component, std::string log_module,
                       const Clock& clock)
    : component_(std::move(component)), log_module_(std::move(log_module)), clock_(clock) {
  if (registry == nullptr) return;
  family_ = &prometheus::BuildCounter()
                 .Name("aiot_messages_rejected_total")
                 .Help("Messages rejected by component and reason")
                 .Register(*registry);
  // Every parse defect's counter exists from the start (a rate of 0 is a fact worth graphing),
  // and the rejection path does no label lookups.
  for (uint8_t k = 1; k <= static_cast<uint8_t>(Defect::Kind::kTooDeep); ++k) {
    Defect d;
    d.kind = static_cast<Defect::Kind>(k);
    by_kind_[k] = &family_->Add({{"component", component_}, {"reason", std::string(d.Label())}});
  }
}

void Rejections::Reject(std::string_view topic, const Defect& defect) {
  total_.fetch_add(1, std::memory_order_relaxed);
  const auto k = static_cast<size_t>(defect.kind);
  if (k < by_kind_.size() && by_kind_[k] != nullptr) by_kind_[k]->Increment();
  uint64_t suppressed = 0;
  if (limiter_.Allow(clock_.MonotonicNanos(), &suppressed)) Log(topic, defect.Reason(), suppressed);
}

void Rejections::Reject(std::string_view topic, std::string_view label, std::string_view reason) {
  total_.fetch_add(1, std::memory_order_relaxed);
  if (family_ != nullptr) {
    family_->Add({{"component", component_}, {"reason", std::string(label)}}).Increment();
  }
  uint64_t suppressed = 0;
  if (limiter_.Allow(clock_.MonotonicNanos(), &suppressed)) Log(topic, reason, suppressed);
}

void Rejections::Log(std::string_view topic, std::string_view reason, uint64_t suppressed) {
  if (suppressed > 0) {
    log::Get(log_module_)
        ->warn("rejected a message on {}: {} ({} more rejected messages not logged)", topic, reason,
               suppressed);
  } else {
    log::Get(log_module_)->warn("rejected a message on {}: {}", topic, reason);
  }
}

}  // namespace aiot::telemetry
