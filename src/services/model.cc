#include "services/model.h"

namespace aiot::services {

const std::vector<std::vector<float>>& ScoringModel::reference_profile() const {
  static const std::vector<std::vector<float>> kNone;
  return kNone;
}

}  // namespace aiot::services
