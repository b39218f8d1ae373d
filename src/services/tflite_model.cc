#include "services/tflite_model.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/errc.h"
#include "ml/drift/drift.h"
#include "ml/runtime/model.h"
#include "services/messages.h"

namespace aiot::services {

namespace {

constexpr int kMaxBatch = 256;

class TfliteScoringModel final : public ScoringModel {
 public:
  TfliteScoringModel(std::shared_ptr<const ml::Model> model, std::string name,
                     std::unique_ptr<ml::Scorer> first)
      : model_(std::move(model)), name_(std::move(name)) {
    const auto& md = model_->metadata();
    features_ = md.feature_names();
    inputs_ = static_cast<size_t>(first->num_features());
    outputs_ = static_cast<size_t>(first->num_outputs());
    time_to_failure_ = md.task == "time_to_failure";
    if (model_->has_metadata()) {
      thresholds_ = Thresholds{md.warning_threshold, md.critical_threshold};
      for (const auto& f : md.features) profile_.push_back(f.quantiles);
    }
    pool_.push_back(std::move(first));
  }

  const std::string& name() const override { return name_; }
  const std::vector<std::string>& features() const override { return features_; }
  size_t input_size() const override { return inputs_; }
  bool time_to_failure() const override { return time_to_failure_; }
  std::optional<Thresholds> thresholds() const override { return thresholds_; }
  const std::vector<std::vector<float>>& reference_profile() const override { return profile_; }
  const ml::Model& model() const { return *model_; }

  Status Score(const float* input, size_t rows, float* scores) const override {
    std::unique_ptr<ml::Scorer> scorer = Borrow();
    if (!scorer) return aiot::errc::resource_exhausted;
    // The scorer writes outputs_ values per row; for binary models that is the score itself,
    // for K-class models P(class 1) is taken (class 0 = healthy).
    thread_local std::vector<float> wide;
    for (size_t done = 0; done < rows;) {
      const size_t n = std::min<size_t>(rows - done, kMaxBatch);
      if (outputs_ == 1) {
        scorer->ScoreBatch(input + done * inputs_, n, scores + done);
      } else {
        wide.resize(n * outputs_);
        scorer->ScoreBatch(input + done * inputs_, n, wide.data());
        for (size_t r = 0; r < n; ++r) scores[done + r] = wide[r * outputs_ + 1];
      }
      done += n;
    }
    Return(std::move(scorer));
    return Status::Ok();
  }

 private:
  std::unique_ptr<ml::Scorer> Borrow() const {
    {
      std::lock_guard lock(mu_);
      if (!pool_.empty()) {
        auto s = std::move(pool_.back());
        pool_.pop_back();
        return s;
      }
    }
    ml::ScorerOptions options;
    options.max_batch = kMaxBatch;
    auto s = ml::Scorer::Create(model_, options);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  void Return(std::unique_ptr<ml::Scorer> s) const {
    std::lock_guard lock(mu_);
    pool_.push_back(std::move(s));
  }

  std::shared_ptr<const ml::Model> model_;
  std::string name_;
  std::vector<std::string> features_;
  size_t inputs_ = 0;
  size_t outputs_ = 1;
  bool time_to_failure_ = false;
  std::optional<Thresholds> thresholds_;
  std::vector<std::vector<float>> profile_;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<ml::Scorer>> pool_;
};

// The model's metadata with its per-feature reference replaced by the profile of `rows`
// (row-major, `n` rows): the live reference pinned from the first readings a model scores.
ml::ModelMetadata PinnedReference(ml::ModelMetadata md, const std::vector<float>& rows, size_t n) {
  const size_t nf = md.features.size();
  md.training_rows = n;
  for (size_t j = 0; j < nf; ++j) {
    std::vector<float> values(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += values[i] = rows[i * nf + j];
    md.features[j].mean = n ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
    ml::ComputeProfile(std::move(values), &md.features[j]);
  }
  return md;
}

std::string Num(double v) { return fmt::format("{:.4g}", v); }

// Online drift against a reference: the model's (its healthy training rows) or pinned from the
// first readings. The event says what was compared, over which window, and which feature crossed
// which threshold.
class TfliteDriftWatch final : public DriftWatch {
 public:
  TfliteDriftWatch(const ml::ModelMetadata& metadata, const ml::DriftConfig& config,
                   const DriftConfig& user, std::string model, const Clock& clock)
      : metadata_(metadata),
        config_(config),
        live_(user.reference == "live"),
        pin_rows_(user.reference_window),
        model_(std::move(model)),
        clock_(clock),
        times_(config.window, 0) {
    if (!live_) StartMonitor(metadata_, clock_.NowNanos());
  }

  void Observe(const float* row, size_t n) override {
    const int64_t now = clock_.NowNanos();
    if (!monitor_) {
      pinned_.insert(pinned_.end(), row, row + n);
      if (pinned_.size() / n >= pin_rows_) {
        StartMonitor(PinnedReference(metadata_, pinned_, pinned_.size() / n), now);
        pinned_ = {};
      }
      return;
    }
    monitor_->Add(row);
    times_[next_] = now;
    next_ = (next_ + 1) % times_.size();
    filled_ = std::min(filled_ + 1, times_.size());
  }

  std::string Check() override {
    if (!monitor_) return {};
    ml::DriftReport report = monitor_->Check();
    if (report.samples == 0 || report.drift == drifting_) return {};
    drifting_ = report.drift;
    return Event(report);
  }

 private:
  void StartMonitor(const ml::ModelMetadata& reference, int64_t now) {
    reference_rows_ = reference.training_rows;
    pinned_at_ = now;
    monitor_.emplace(reference, config_);
  }

  std::string Event(const ml::DriftReport& report) const {
    const int64_t oldest = times_[filled_ < times_.size() ? 0 : next_];
    const int64_t newest = times_[(next_ + times_.size() - 1) % times_.size()];
    nlohmann::json drifted = nlohmann::json::array();
    std::string why;
    for (const auto& f : report.features) {
      const bool psi = f.psi >= config_.psi_significant;
      if (!psi && !f.ks_drift) continue;
      drifted.push_back({{"name", f.name},
                         {"psi", f.psi},
                         {"psi_threshold", config_.psi_significant},
                         {"ks_statistic", f.ks_statistic},
                         {"ks_p_value", f.ks_p_value},
                         {"ks_alpha", report.ks_alpha_per_feature},
                         {"ks_min_statistic", config_.ks_min_statistic},
                         {"window_mean", f.window_mean},
                         {"reference_mean", f.reference_mean}});
      const bool p_low = f.ks_p_value < report.ks_alpha_per_feature;
      const bool d_big = f.ks_statistic >= config_.ks_min_statistic;
      why += fmt::format("{}{} (PSI {} {} {}, KS D {} {} {} and p {} {} {}; mean {} vs {})",
                         why.empty() ? "" : "; ", f.name, Num(f.psi), psi ? ">=" : "<",
                         Num(config_.psi_significant), Num(f.ks_statistic), d_big ? ">=" : "<",
                         Num(config_.ks_min_statistic), Num(f.ks_p_value),
                         p_low ? "<" : ">=", Num(report.ks_alpha_per_feature), Num(f.window_mean),
                         Num(f.reference_mean));
    }
    const std::string reference = live_ ? "live" : "model";
    const std::string against =
        live_ ? fmt::format("the {} readings pinned at {}", reference_rows_,
                            FormatTimestamp(pinned_at_))
              : fmt::format("the model's healthy training profile ({} rows)", reference_rows_);
    nlohmann::json e = {
        {"event", "drift"},
        {"drift", drifting_},
        {"level", drifting_ ? "warning" : "ok"},
        {"model", model_},
        {"message", drifting_ ? fmt::format("drift in {} over the last {} readings vs {}", why,
                                            report.samples, against)
                              : fmt::format("drift ended: the last {} readings match {}",
                                            report.samples, against)},
        {"reference",
         {{"kind", reference}, {"rows", reference_rows_}, {"since", FormatTimestamp(pinned_at_)}}},
        {"window",
         {{"samples", report.samples},
          {"from", FormatTimestamp(oldest)},
          {"to", FormatTimestamp(newest)}}},
        {"thresholds",
         {{"psi", config_.psi_significant},
          {"ks_alpha", config_.ks_alpha},
          {"ks_alpha_per_feature", report.ks_alpha_per_feature},
          {"ks_min_statistic", config_.ks_min_statistic}}},
        {"features_drifted", drifted}};
    std::string out = e.dump();
    out.pop_back();  // the full report, as src/ml writes it
    return out + ",\"report\":" + report.ToJson() + "}";
  }

  ml::ModelMetadata metadata_;
  ml::DriftConfig config_;
  bool live_;
  size_t pin_rows_;
  std::string model_;
  const Clock& clock_;
  std::optional<ml::DriftMonitor> monitor_;
  std::vector<float> pinned_;  // the live reference while it fills
  uint64_t reference_rows_ = 0;
  int64_t pinned_at_ = 0;
  std::vector<int64_t> times_;  // arrival of each reading in the monitor's window (a ring)
  size_t next_ = 0;
  size_t filled_ = 0;
  bool drifting_ = false;
};

}  // namespace

DriftWatchFactory MakeTfliteDriftWatch(const DriftConfig& config, const Clock& clock) {
  return [config, &clock](const ScoringModel& model) -> std::unique_ptr<DriftWatch> {
    const auto* tflite = dynamic_cast<const TfliteScoringModel*>(&model);
    if (!tflite || !tflite->model().has_metadata()) return nullptr;
    const auto& md = tflite->model().metadata();
    if (md.features.empty()) return nullptr;
    for (const auto& f : md.features) {
      if (f.psi_edges.empty() || f.quantiles.empty()) return nullptr;
    }
    ml::DriftConfig dc;
    dc.window = config.window;
    // A full window only: a partly filled one (right after the reference is pinned) covers a
    // short stretch of autocorrelated telemetry, whose PSI over 10 bins is noise.
    dc.min_samples = config.window;
    dc.ks_alpha = config.ks_alpha;
    dc.ks_min_statistic = config.ks_min_statistic;
    dc.psi_significant = config.psi_threshold;
    dc.psi_moderate = std::min(dc.psi_moderate, config.psi_threshold);
    return std::make_unique<TfliteDriftWatch>(md, dc, config, model.name(), clock);
  };
}

Result<ModelPtr> LoadTfliteModel(const ModelSource& source) {
  auto model = ml::Model::FromFile(source.path);
  if (!model.ok()) return model.status();
  if (!source.sha256.empty() && (*model)->sha256() != source.sha256) {
    return Status(aiot::errc::corrupted, "sha256 mismatch: file has " + (*model)->sha256());
  }
  ml::ScorerOptions options;
  options.max_batch = kMaxBatch;
  auto scorer = ml::Scorer::Create(*model, options);
  if (!scorer.ok()) return scorer.status();
  if ((*scorer)->num_outputs() < 1) {
    return Status(aiot::errc::unsupported, "the model has no output values");
  }
  std::string name = source.name;
  if (name.empty()) name = (*model)->metadata().name;
  if (name.empty()) name = std::filesystem::path(source.path).stem().string();
  auto features = (*model)->metadata().feature_names();
  if (!features.empty() && features.size() != static_cast<size_t>((*scorer)->num_features())) {
    return Status(aiot::errc::corrupted,
                  "metadata names a different number of features than the model takes");
  }
  return ModelPtr(std::make_shared<TfliteScoringModel>(std::move(model).value(), std::move(name),
                                                       std::move(scorer).value()));
}

// The predictor, which handles a failed load, logs it (with the message) and counts it.
ModelLoader MakeTfliteLoader() {
  return [](const ModelSource& source) { return LoadTfliteModel(source); };
}

}  // namespace aiot::services
