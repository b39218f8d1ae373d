#include "base/metrics.h"

#include <prometheus/text_serializer.h>

namespace aiot::metrics {

std::string SerializeText(const Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

}  // namespace aiot::metrics
