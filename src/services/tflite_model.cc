#include "services/tflite_model.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <vector>

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
    if (model_->has_metadata()) {
      thresholds_ = Thresholds{md.warning_threshold, md.critical_threshold};
      for (const auto& f : md.features) profile_.push_back(f.quantiles);
    }
    pool_.push_back(std::move(first));
  }

  const std::string& name() const override { return name_; }
  const std::vector<std::string>& features() const override { return features_; }
  size_t input_size() const override { return inputs_; }
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
  std::optional<Thresholds> thresholds_;
  std::vector<std::vector<float>> profile_;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<ml::Scorer>> pool_;
};

class TfliteDriftWatch final : public DriftWatch {
 public:
  TfliteDriftWatch(const ml::ModelMetadata& metadata, const ml::DriftConfig& config,
                   std::string model)
      : monitor_(metadata, config), model_(std::move(model)) {}

  void Observe(const float* row, size_t n) override {
    (void)n;
    monitor_.Add(row);
  }

  std::string Check() override {
    ml::DriftReport report = monitor_.Check();
    if (report.samples == 0 || report.drift == drifting_) return {};
    drifting_ = report.drift;
    std::string out = drifting_ ? R"({"event":"drift","drift":true,"model":)"
                                : R"({"event":"drift","drift":false,"model":)";
    AppendJsonString(out, model_);
    out += ",\"report\":";
    out += report.ToJson();
    out += "}";
    return out;
  }

 private:
  ml::DriftMonitor monitor_;
  std::string model_;
  bool drifting_ = false;
};

}  // namespace

DriftWatchFactory MakeTfliteDriftWatch(const DriftConfig& config) {
  return [config](const ScoringModel& model) -> std::unique_ptr<DriftWatch> {
    const auto* tflite = dynamic_cast<const TfliteScoringModel*>(&model);
    if (!tflite || !tflite->model().has_metadata()) return nullptr;
    const auto& md = tflite->model().metadata();
    if (md.features.empty()) return nullptr;
    for (const auto& f : md.features) {
      if (f.psi_edges.empty() || f.quantiles.empty()) return nullptr;
    }
    ml::DriftConfig dc;
    dc.window = config.window;
    dc.min_samples = std::min<size_t>(config.window, 100);
    dc.ks_alpha = config.ks_alpha;
    return std::make_unique<TfliteDriftWatch>(md, dc, model.name());
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
