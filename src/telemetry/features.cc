#include "telemetry/features.h"

#include <cmath>

#include "base/check.h"

namespace aiot::telemetry {

FeatureParser::FeatureParser(MessageConfig config, std::vector<FeatureField> features)
    : reader_(std::move(config)), features_(std::move(features)) {
  AIOT_CHECK(features_.size() <= 64, "at most 64 features (got %zu)", features_.size());
}

bool FeatureParser::Parse(std::string_view payload, int64_t arrival_ns, float* row,
                          Defect& defect) {
  using K = Defect::Kind;
  const size_t n = features_.size();
  uint64_t seen = 0;
  auto on_leaf = [&](const Leaf& leaf, Defect& d) {
    for (size_t i = 0; i < n; ++i) {
      const FeatureField& f = features_[i];
      if (leaf.key != f.field) continue;
      if (seen & (uint64_t{1} << i)) {
        d.kind = K::kDuplicateField;
        d.field = f.field;
        return false;
      }
      seen |= uint64_t{1} << i;
      if (leaf.type != simdjson::ondemand::json_type::number) return d.Mistyped(f.field, leaf.type);
      const double x = leaf.number;
      if (!std::isfinite(static_cast<float>(x))) {
        d.kind = K::kNotFinite;
        d.field = f.field;
        return false;
      }
      if (x < f.min || x > f.max) {
        d.kind = K::kOutOfRange;
        d.field = f.field;
        d.value = x;
        d.min = f.min;
        d.max = f.max;
        return false;
      }
      row[i] = static_cast<float>(x);
      return true;
    }
    return true;  // not a feature
  };
  if (!reader_.Read(payload, arrival_ns, on_leaf, defect)) return false;
  const uint64_t all = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
  if (seen != all) {
    for (size_t i = 0; i < n; ++i) {
      if (!(seen & (uint64_t{1} << i))) {
        defect.kind = K::kMissingField;
        defect.field = features_[i].field;
        return false;
      }
    }
  }
  return true;
}

}  // namespace aiot::telemetry
