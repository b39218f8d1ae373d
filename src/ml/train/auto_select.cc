// --model auto: k-fold cross-validation of logistic regression, the MLP and GBDT.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/errc.h"
#include "ml/data/random.h"
#include "ml/runtime/tree_ensemble.h"
#include "ml/train/pipeline.h"

namespace aiot::ml {

namespace {

// Stratified folds of `pool` (row indices): fold[i] for each pool row.
std::vector<std::vector<size_t>> Folds(const Dataset& data, const std::vector<size_t>& pool, int k,
                                       uint64_t seed) {
  std::vector<std::vector<size_t>> folds(static_cast<size_t>(k));
  Rng rng(seed ^ 0x5eedf01dULL);
  for (int c = 0; c < data.num_classes(); ++c) {
    std::vector<size_t> rows;
    for (size_t r : pool) {
      if (data.y[r] == c) rows.push_back(r);
    }
    rng.Shuffle(rows);
    for (size_t i = 0; i < rows.size(); ++i) folds[i % static_cast<size_t>(k)].push_back(rows[i]);
  }
  return folds;
}

// Trains `job`'s family on `train` (its own validation split for early stopping, no test) and
// returns the scores of `held_out`.
Result<std::vector<float>> FitAndScore(const Dataset& train, const Dataset& held_out,
                                       TrainJob job) {
  job.train.test_fraction = 0;
  if (job.family == ModelFamily::kGbdt) {
    GbdtConfig cfg = job.gbdt;
    cfg.test_fraction = 0;
    cfg.validation_fraction = job.train.validation_fraction;
    cfg.seed = job.train.seed;
    auto r = TrainGbdt(train, cfg);
    if (!r.ok()) return r.status();
    std::vector<float> s(held_out.rows);
    if (held_out.rows > 0) {
      kernels::TreeEnsembleRef(r->ensemble, held_out.x.data(), static_cast<int>(held_out.rows),
                               s.data());
    }
    for (float& m : s) m = 1.f / (1.f + std::exp(-m));
    return s;
  }
  auto r = Train(train, job.train);
  if (!r.ok()) return r.status();
  return r->model.PredictAll(held_out);
}

double Metric(const std::vector<float>& scores, const Dataset& held_out, const std::string& name) {
  const EvalReport rep = Evaluate(scores, held_out.y, held_out.num_classes());
  if (name == "roc_auc" && held_out.num_classes() == 2) return rep.roc_auc;
  return rep.f1;
}

}  // namespace

Result<TrainJob> ChooseFamily(const Dataset& data, const TrainJob& job,
                              std::vector<AutoCandidate>& candidates) {
  if (job.folds < 2 || job.folds > 20) {
    return Status(errc::invalid_argument, "--folds must be 2..20");
  }
  if (job.auto_metric != "roc_auc" && job.auto_metric != "f1") {
    return Status(errc::invalid_argument, "the auto metric must be roc_auc or f1");
  }
  const Split split = StratifiedSplit(data.y, data.num_classes(), job.train.test_fraction,
                                      job.train.validation_fraction, job.train.seed);
  std::vector<size_t> pool = split.train;
  pool.insert(pool.end(), split.validation.begin(), split.validation.end());
  const auto folds = Folds(data, pool, job.folds, job.train.seed);
  struct Option {
    const char* name;
    TrainJob job;
  };
  std::vector<Option> options = {{"logistic", job}, {"mlp", job}, {"gbdt", job}};
  options[0].job.family = options[1].job.family = ModelFamily::kMlp;
  // Logistic regression is convex and cheap: train it to convergence whatever the MLP settings.
  options[0].job.train.hidden.clear();
  options[0].job.train.learning_rate = std::max(options[0].job.train.learning_rate, 0.01);
  options[0].job.train.epochs = std::max(options[0].job.train.epochs, 100);
  options[2].job.family = ModelFamily::kGbdt;
  if (options[1].job.train.hidden.empty()) options[1].job.train.hidden = TrainConfig{}.hidden;
  candidates.clear();
  int best = -1;
  for (size_t o = 0; o < options.size(); ++o) {
    AutoCandidate c;
    c.name = options[o].name;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t k = 0; k < folds.size() && c.error.empty(); ++k) {
      std::vector<size_t> rest;
      for (size_t j = 0; j < folds.size(); ++j) {
        if (j != k) rest.insert(rest.end(), folds[j].begin(), folds[j].end());
      }
      const Dataset held_out = data.Subset(folds[k]);
      auto scores = FitAndScore(data.Subset(rest), held_out, options[o].job);
      if (!scores.ok()) {
        c.error = scores.status().message();
        break;
      }
      c.folds.push_back(Metric(*scores, held_out, job.auto_metric));
    }
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (c.error.empty() && !c.folds.empty()) {
      for (double v : c.folds) c.mean += v / static_cast<double>(c.folds.size());
      for (double v : c.folds) {
        c.stddev += (v - c.mean) * (v - c.mean) / static_cast<double>(c.folds.size());
      }
      c.stddev = std::sqrt(c.stddev);
      if (std::isfinite(c.mean) && (best < 0 || c.mean > candidates[best].mean)) {
        best = static_cast<int>(o);
      }
    }
    candidates.push_back(std::move(c));
  }
  if (best < 0) {
    return Status(errc::invalid_argument,
                  "--model auto: no candidate could be trained (" + candidates.back().error + ")");
  }
  return options[static_cast<size_t>(best)].job;
}

}  // namespace aiot::ml
