#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace aiot::metrics {

// The process has one prometheus::Registry, created by the composition root (src/app) and handed
// to each service's constructor. prometheus-cpp metrics are thread-safe (atomics), so hot paths
// keep a Counter& and increment it without locks.
using Registry = prometheus::Registry;

// Prometheus text exposition format (version 0.0.4) of everything in the registry.
std::string SerializeText(const Registry& registry);

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace aiot::metrics
