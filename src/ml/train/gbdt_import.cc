// XGBoost's saved model (JSON schema of XGBoost 1.x, as JSON text or UBJSON) -> TreeEnsemble.
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "base/errc.h"
#include "ml/train/gbdt.h"

namespace aiot::ml {

namespace {

using Json = nlohmann::json;

Status Corrupted(const std::string& what) {
  return Status(errc::corrupted, "xgboost model: " + what);
}
Status Unsupported(const std::string& what) {
  return Status(errc::unsupported, "xgboost model: " + what);
}

// XGBoost writes the learner's parameters as strings ("5E-1").
double ParamNumber(const Json& obj, const char* key, double fallback) {
  if (!obj.contains(key)) return fallback;
  const Json& v = obj.at(key);
  if (v.is_number()) return v.get<double>();
  const std::string s = v.get<std::string>();
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return end && *end == '\0' && !s.empty() ? d : std::nan("");
}

// The base score (a probability for the logistic objectives) as a margin, computed as XGBoost
// does (float: ProbToMargin).
Result<float> BaseMargin(const std::string& objective, double base_score) {
  const auto b = static_cast<float>(base_score);
  if (objective == "binary:logistic" || objective == "reg:logistic") {
    if (!(b > 0.f && b < 1.f)) return Corrupted("base_score must be in (0, 1)");
    return -std::log(1.0f / b - 1.0f);
  }
  if (objective == "reg:squarederror") {
    if (!std::isfinite(b)) return Corrupted("base_score is not finite");
    return b;
  }
  return Unsupported("objective " + objective +
                     " (aiot converts binary:logistic, reg:logistic, reg:squarederror)");
}

struct TreeArrays {
  std::vector<int64_t> left, right, feature;
  std::vector<double> cond;
  std::vector<bool> default_left;
};

Result<TreeArrays> ReadArrays(const Json& t, size_t index) {
  TreeArrays a;
  a.left = t.at("left_children").get<std::vector<int64_t>>();
  a.right = t.at("right_children").get<std::vector<int64_t>>();
  a.feature = t.at("split_indices").get<std::vector<int64_t>>();
  a.cond = t.at("split_conditions").get<std::vector<double>>();
  for (const Json& v : t.at("default_left")) {
    a.default_left.push_back(v.is_boolean() ? v.get<bool>() : v.get<int64_t>() != 0);
  }
  if (t.contains("split_type")) {
    for (const Json& v : t.at("split_type")) {
      if (v.get<int64_t>() != 0) {
        return Unsupported("tree " + std::to_string(index) + " has categorical splits");
      }
    }
  }
  const size_t n = a.left.size();
  if (n == 0 || a.right.size() != n || a.feature.size() != n || a.cond.size() != n ||
      a.default_left.size() != n) {
    return Corrupted("tree " + std::to_string(index) + ": node arrays differ in length");
  }
  return a;
}

// Appends tree `index` to `e`, renumbering its nodes breadth-first from the root (children after
// their parent; deleted nodes, unreachable, are dropped).
Status AppendTree(const Json& t, size_t index, TreeEnsemble& e) {
  auto a = ReadArrays(t, index);
  if (!a.ok()) return a.status();
  const auto n = static_cast<int64_t>(a->left.size());
  std::vector<int64_t> order = {0};
  std::vector<char> seen(static_cast<size_t>(n), 0);
  seen[0] = 1;
  e.tree_offsets.push_back(static_cast<uint32_t>(e.nodes.size()));
  for (size_t k = 0; k < order.size(); ++k) {
    const auto o = static_cast<size_t>(order[k]);
    TreeNode nd;
    nd.value = static_cast<float>(a->cond[o]);
    if (a->left[o] != -1) {
      for (int64_t c : {a->left[o], a->right[o]}) {
        if (c < 0 || c >= n || seen[static_cast<size_t>(c)]) {
          return Corrupted("tree " + std::to_string(index) + " node " + std::to_string(o) +
                           ": bad child " + std::to_string(c));
        }
        seen[static_cast<size_t>(c)] = 1;
      }
      if (a->feature[o] < 0 || a->feature[o] >= e.num_features) {
        return Corrupted("tree " + std::to_string(index) + ": feature out of range");
      }
      nd.feature = static_cast<int32_t>(a->feature[o]);
      nd.default_left = a->default_left[o];
      nd.left = static_cast<int32_t>(order.size());
      order.push_back(a->left[o]);
      nd.right = static_cast<int32_t>(order.size());
      order.push_back(a->right[o]);
    }
    e.nodes.push_back(nd);
  }
  return Status::Ok();
}

Result<TreeEnsemble> Convert(const Json& j) {
  const Json& learner = j.at("learner");
  const Json& param = learner.at("learner_model_param");
  const std::string objective = learner.at("objective").at("name").get<std::string>();
  if (ParamNumber(param, "num_class", 0) > 1 || ParamNumber(param, "num_target", 1) != 1) {
    return Unsupported("multi-class and multi-target models are not supported yet");
  }
  const double features = ParamNumber(param, "num_feature", 0);
  if (!(features >= 1 && features <= kMaxTreeFeatures)) return Corrupted("bad num_feature");
  auto base = BaseMargin(objective, ParamNumber(param, "base_score", 0.5));
  if (!base.ok()) return base.status();
  const Json& gb = learner.at("gradient_booster");
  if (gb.at("name").get<std::string>() != "gbtree") {
    return Unsupported("booster " + gb.at("name").get<std::string>() + " (aiot converts gbtree)");
  }
  TreeEnsemble e;
  e.num_features = static_cast<int32_t>(features);
  e.base_score = *base;
  const Json& trees = gb.at("model").at("trees");
  for (size_t i = 0; i < trees.size(); ++i) {
    if (Status st = AppendTree(trees.at(i), i, e); !st.ok()) return st;
  }
  if (Status st = ValidateTreeEnsemble(e); !st.ok()) return st;
  return e;
}

}  // namespace

Result<TreeEnsemble> TreeEnsembleFromXgboost(const std::vector<uint8_t>& model, bool ubjson) {
  const Json j = ubjson ? Json::from_ubjson(model, /*strict=*/true, /*allow_exceptions=*/false)
                        : Json::parse(model.begin(), model.end(), nullptr, false);
  if (j.is_discarded()) return Corrupted(ubjson ? "not UBJSON" : "not JSON");
  try {
    return Convert(j);
  } catch (const Json::exception& ex) {  // a missing or mistyped field
    return Corrupted(ex.what());
  }
}

}  // namespace aiot::ml
