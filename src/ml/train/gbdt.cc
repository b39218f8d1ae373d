#include "ml/train/gbdt.h"

#include <xgboost/c_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/errc.h"

namespace aiot::ml {

namespace {

// XGBoost's C API: 0 on success, else XGBGetLastError() says why.
Status Xgb(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status(errc::internal, std::string("xgboost: ") + what + ": " + XGBGetLastError());
}

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrix = std::unique_ptr<void, DMatrixFree>;
using Booster = std::unique_ptr<void, BoosterFree>;

// The rows of `data` as an XGBoost matrix with labels (NaN = missing).
Result<DMatrix> MakeDMatrix(const Dataset& data, const std::vector<size_t>& rows) {
  const Dataset part = data.Subset(rows);
  std::vector<float> labels =
      part.regression() ? part.target : std::vector<float>(part.y.begin(), part.y.end());
  DMatrixHandle h = nullptr;
  if (Status st = Xgb(XGDMatrixCreateFromMat(part.x.data(), part.rows, part.cols,
                                             std::numeric_limits<float>::quiet_NaN(), &h),
                      "creating the data matrix");
      !st.ok()) {
    return st;
  }
  DMatrix m(h);
  if (Status st = Xgb(XGDMatrixSetFloatInfo(h, "label", labels.data(), labels.size()), "labels");
      !st.ok()) {
    return st;
  }
  return m;
}

Status CheckConfig(const Dataset& data, const GbdtConfig& c) {
  auto bad = [](const std::string& what) {
    return Status(errc::invalid_argument, "gbdt: " + what);
  };
  if (data.regression()) {
    for (float t : data.target) {
      if (!std::isfinite(t)) return bad("regression targets must be finite");
    }
  } else if (data.num_classes() != 2) {
    return Status(errc::unsupported, "gbdt: binary classification only (the data has " +
                                         std::to_string(data.num_classes()) + " classes)");
  }
  if (c.trees < 1 || c.trees > 100000) return bad("trees must be in 1..100000");
  if (c.grow_policy != "depthwise" && c.grow_policy != "lossguide") {
    return bad("grow policy must be depthwise or lossguide (not \"" + c.grow_policy + "\")");
  }
  if (c.max_leaves < 0 || c.max_leaves > (1 << 20)) return bad("max leaves must be in 0..1048576");
  if (c.max_depth == 0) {
    if (c.grow_policy != "lossguide" || c.max_leaves < 2 || c.max_leaves > kMaxTreeDepth + 1) {
      return bad("max depth 0 (no limit) needs grow policy lossguide and max leaves in 2..65");
    }
  } else if (c.max_depth < 1 || c.max_depth > kMaxTreeDepth) {
    return bad("max depth must be in 1..64 (0: no limit, lossguide only)");
  }
  if (c.parallel_trees < 1 || c.parallel_trees > 100)
    return bad("parallel trees must be in 1..100");
  if (!(c.learning_rate > 0 && c.learning_rate <= 1)) return bad("learning rate must be in (0, 1]");
  if (!(c.min_child_weight >= 0) && c.min_child_weight != kMinChildWeightByObjective) {
    return bad("min child weight must be >= 0");
  }
  if (!(c.subsample > 0 && c.subsample <= 1)) return bad("subsample must be in (0, 1]");
  if (!(c.colsample > 0 && c.colsample <= 1)) return bad("colsample must be in (0, 1]");
  if (!(c.lambda >= 0)) return bad("lambda must be >= 0");
  if (c.max_bin < 2 || c.max_bin > 65536) return bad("max bin must be in 2..65536");
  if (c.early_stopping_rounds < 0) return bad("early stopping rounds must be >= 0");
  if (!(c.scale_pos_weight > 0) || !std::isfinite(c.scale_pos_weight)) {
    return bad("scale_pos_weight must be positive");
  }
  if (c.threads < 0) return bad("threads must be >= 0");
  return Status::Ok();
}

// negatives / positives of the training rows (1 when a class is absent).
double BalancedWeight(const Dataset& data, const std::vector<size_t>& rows) {
  double pos = 0;
  for (size_t r : rows) pos += data.y[r] == 1;
  const double neg = static_cast<double>(rows.size()) - pos;
  return pos > 0 && neg > 0 ? neg / pos : 1.0;
}

// Regression: squared error from the training targets' mean (XGBoost 1.7 starts from 0.5 unless
// told), evaluated by RMSE (early stopping) and MAE.
Status SetParams(void* b, const GbdtConfig& c, double spw, const double* base_score) {
  const int threads = c.threads > 0
                          ? c.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool reg = base_score != nullptr;
  char base[64];
  std::snprintf(base, sizeof(base), "%.9g", reg ? *base_score : 0.5);
  const std::pair<const char*, std::string> params[] = {
      {"objective", reg ? "reg:squarederror" : "binary:logistic"},
      {"tree_method", "hist"},
      {"booster", "gbtree"},
      {"verbosity", "0"},
      {"eval_metric", reg ? "rmse" : "logloss"},
      {"eval_metric", reg ? "mae" : "error"},
      {"base_score", base},
      {"max_depth", std::to_string(c.max_depth)},
      {"grow_policy", c.grow_policy},
      {"max_leaves", std::to_string(c.max_leaves)},
      {"num_parallel_tree", std::to_string(c.parallel_trees)},
      {"eta", std::to_string(c.learning_rate)},
      {"min_child_weight", std::to_string(c.min_child_weight >= 0 ? c.min_child_weight
                                          : reg                   ? 1.0
                                                                  : kClassifierMinChildWeight)},
      {"subsample", std::to_string(c.subsample)},
      {"colsample_bytree", std::to_string(c.colsample)},
      {"lambda", std::to_string(c.lambda)},
      {"max_bin", std::to_string(c.max_bin)},
      {"scale_pos_weight", std::to_string(spw)},
      {"nthread", std::to_string(threads)},
      {"seed", std::to_string(c.seed % 2147483647)},
  };
  for (const auto& [key, value] : params) {
    if (Status st = Xgb(XGBoosterSetParam(b, key, value.c_str()), key); !st.ok()) return st;
  }
  return Status::Ok();
}

// The value after "<name>:" in an XGBoosterEvalOneIter line ("[3]\ttrain-logloss:0.2\t..."), or
// NaN.
double EvalValue(const char* line, const std::string& name) {
  const char* at = std::strstr(line, (name + ":").c_str());
  return at ? std::strtod(at + name.size() + 1, nullptr) : std::nan("");
}

// The UBJSON model of the first `rounds` rounds of `b`.
Result<std::vector<uint8_t>> SaveRounds(void* b, int rounds, int trained) {
  Booster sliced;
  void* src = b;
  if (rounds < trained) {
    BoosterHandle out = nullptr;
    if (Status st = Xgb(XGBoosterSlice(b, 0, rounds, 1, &out), "slicing"); !st.ok()) return st;
    sliced.reset(out);
    src = out;
  }
  bst_ulong len = 0;
  const char* buf = nullptr;
  if (Status st = Xgb(XGBoosterSaveModelToBuffer(src, "{\"format\":\"ubj\"}", &len, &buf),
                      "saving the model");
      !st.ok()) {
    return st;
  }
  return std::vector<uint8_t>(buf, buf + len);
}

}  // namespace

Result<std::vector<float>> XgboostPredict(const std::vector<uint8_t>& model, const float* x,
                                          size_t rows, size_t cols, bool margin) {
  BoosterHandle bh = nullptr;
  if (Status st = Xgb(XGBoosterCreate(nullptr, 0, &bh), "creating a booster"); !st.ok()) return st;
  Booster booster(bh);
  if (Status st = Xgb(XGBoosterLoadModelFromBuffer(bh, model.data(), model.size()), "loading");
      !st.ok()) {
    return st;
  }
  DMatrixHandle dh = nullptr;
  if (Status st = Xgb(XGDMatrixCreateFromMat(x, rows, cols, std::nanf(""), &dh), "matrix");
      !st.ok()) {
    return st;
  }
  DMatrix dm(dh);
  const std::string config = std::string("{\"type\":") + (margin ? "1" : "0") +
                             ",\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
                             "\"strict_shape\":false}";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (Status st = Xgb(XGBoosterPredictFromDMatrix(bh, dh, config.c_str(), &shape, &dim, &out),
                      "predicting");
      !st.ok()) {
    return st;
  }
  return std::vector<float>(out, out + rows);
}

Result<GbdtResult> TrainGbdt(const Dataset& data, const GbdtConfig& c, const ProgressFn& progress) {
  if (Status st = CheckConfig(data, c); !st.ok()) return st;
  GbdtResult r;
  const bool reg = data.regression();
  r.split = reg ? RandomSplit(data.rows, data.group, c.test_fraction, c.validation_fraction, c.seed)
                : StratifiedSplit(data.y, 2, c.test_fraction, c.validation_fraction, c.seed);
  if (r.split.train.empty())
    return Status(errc::invalid_argument, "no training rows after the split");
  auto train = MakeDMatrix(data, r.split.train);
  if (!train.ok()) return train.status();
  const bool has_val = !r.split.validation.empty();
  auto val = MakeDMatrix(data, has_val ? r.split.validation : r.split.train);
  if (!val.ok()) return val.status();
  DMatrixHandle mats[2] = {train->get(), val->get()};
  const char* names[2] = {"train", "val"};
  const bst_ulong num_mats = has_val ? 2 : 1;
  BoosterHandle bh = nullptr;
  if (Status st = Xgb(XGBoosterCreate(mats, num_mats, &bh), "creating the booster"); !st.ok())
    return st;
  Booster booster(bh);
  double mean = 0;
  if (reg) {
    r.scale_pos_weight = 1;
    for (size_t i : r.split.train) mean += data.target[i];
    mean /= static_cast<double>(r.split.train.size());
  } else {
    r.scale_pos_weight = c.balanced ? BalancedWeight(data, r.split.train) : c.scale_pos_weight;
  }
  if (Status st = SetParams(bh, c, r.scale_pos_weight, reg ? &mean : nullptr); !st.ok()) return st;
  const std::string loss = reg ? "rmse" : "logloss";

  const auto start = std::chrono::steady_clock::now();
  const bool early = c.early_stopping_rounds > 0 && has_val;
  double best = std::numeric_limits<double>::infinity();
  r.best_round = 0;
  int trained = 0;
  for (int round = 0; round < c.trees; ++round) {
    if (Status st = Xgb(XGBoosterUpdateOneIter(bh, round, train->get()), "boosting"); !st.ok()) {
      return st;
    }
    ++trained;
    const char* line = nullptr;
    if (Status st =
            Xgb(XGBoosterEvalOneIter(bh, round, mats, names, num_mats, &line), "evaluating");
        !st.ok()) {
      return st;
    }
    EpochStats s;
    s.epoch = round + 1;
    s.loss = EvalValue(line, "train-" + loss);
    s.val_loss = has_val ? EvalValue(line, "val-" + loss) : s.loss;
    s.val_accuracy =
        reg ? 0 : 1 - (has_val ? EvalValue(line, "val-error") : EvalValue(line, "train-error"));
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.history.push_back(s);
    if (progress) progress(s, c.trees);
    if (!early) {
      r.best_round = trained;
    } else if (s.val_loss < best) {
      best = s.val_loss;
      r.best_round = trained;
    } else if (trained - r.best_round >= c.early_stopping_rounds) {
      break;
    }
  }
  auto model = SaveRounds(bh, r.best_round, trained);
  if (!model.ok()) return model.status();
  r.booster = std::move(*model);
  auto ensemble = TreeEnsembleFromXgboost(r.booster);
  if (!ensemble.ok()) return ensemble.status();
  r.ensemble = std::move(*ensemble);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace aiot::ml
