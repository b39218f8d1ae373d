#include "ml/drift/drift.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ml/train/metrics.h"

namespace aiot::ml {

double Psi(const std::vector<float>& ref_fractions, const std::vector<float>& edges,
           const float* values, size_t n, size_t stride) {
  if (n == 0 || ref_fractions.size() != edges.size() + 1) return 0;
  std::vector<size_t> counts(ref_fractions.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    const float v = values[i * stride];
    counts[std::lower_bound(edges.begin(), edges.end(), v) - edges.begin()]++;
  }
  double psi = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    const double p = std::max(static_cast<double>(counts[k]) / static_cast<double>(n), 1e-4);
    const double q = std::max(static_cast<double>(ref_fractions[k]), 1e-4);
    psi += (p - q) * std::log(p / q);
  }
  return psi;
}

double KolmogorovPValue(double d, double ne) {
  if (ne <= 0) return 1;
  const double sq = std::sqrt(ne);
  const double lambda = (sq + 0.12 + 0.11 / sq) * d;
  if (lambda < 1e-3) return 1;
  double sum = 0, sign = 1;
  for (int k = 1; k <= 100; ++k) {
    const double term = sign * std::exp(-2.0 * k * k * lambda * lambda);
    sum += term;
    if (std::abs(term) < 1e-12) break;
    sign = -sign;
  }
  return std::clamp(2 * sum, 0.0, 1.0);
}

namespace {

// Reference CDF interpolated between the 101 quantiles.
double ReferenceCdf(const std::vector<float>& q, double x) {
  if (q.size() < 2) return 0.5;
  if (x < q.front()) return 0;
  if (x >= q.back()) return 1;
  const size_t j = std::upper_bound(q.begin(), q.end(), static_cast<float>(x)) - q.begin();
  // q[j-1] <= x < q[j]
  const double lo = q[j - 1], hi = q[j];
  const double frac = hi > lo ? (x - lo) / (hi - lo) : 0;
  return (static_cast<double>(j - 1) + frac) / static_cast<double>(q.size() - 1);
}

}  // namespace

KsResult KsTest(const std::vector<float>& ref_quantiles, uint64_t n_reference, const float* sorted,
                size_t m) {
  KsResult r;
  if (m == 0 || ref_quantiles.size() < 2) return r;
  double d = 0;
  for (size_t i = 0; i < m; ++i) {
    // Only the last of a run of equal values sees the full step of the window's CDF.
    if (i + 1 < m && sorted[i + 1] == sorted[i]) continue;
    const double f = ReferenceCdf(ref_quantiles, sorted[i]);
    size_t first = i;
    while (first > 0 && sorted[first - 1] == sorted[i]) --first;
    d = std::max(d, std::abs(static_cast<double>(i + 1) / static_cast<double>(m) - f));
    d = std::max(d, std::abs(f - static_cast<double>(first) / static_cast<double>(m)));
  }
  r.statistic = d;
  const double n = static_cast<double>(n_reference ? n_reference : m);
  r.p_value = KolmogorovPValue(d, n * static_cast<double>(m) / (n + static_cast<double>(m)));
  return r;
}

bool PageHinkley::Add(double x) {
  ++n_;
  mean_ += (x - mean_) / static_cast<double>(n_);
  sum_ += x - mean_ - delta_;
  min_sum_ = std::min(min_sum_, sum_);
  return n_ >= min_samples_ && sum_ - min_sum_ > lambda_;
}

void PageHinkley::Reset() {
  n_ = 0;
  mean_ = sum_ = min_sum_ = 0;
}

std::string DriftReport::ToJson() const {
  std::string s = "{\"samples\":" + std::to_string(samples) +
                  ",\"drift\":" + (drift ? "true" : "false") +
                  ",\"ks_alpha_per_feature\":" + JsonNumber(ks_alpha_per_feature) +
                  ",\"ks_min_statistic\":" + JsonNumber(ks_min_statistic) + ",\"features\":[";
  for (size_t i = 0; i < features.size(); ++i) {
    const auto& f = features[i];
    s += (i ? ",{" : "{") + std::string("\"name\":") + JsonString(f.name) +
         ",\"psi\":" + JsonNumber(f.psi) + ",\"psi_level\":" + JsonString(f.psi_level) +
         ",\"ks_statistic\":" + JsonNumber(f.ks_statistic) +
         ",\"ks_p_value\":" + JsonNumber(f.ks_p_value) +
         ",\"ks_drift\":" + (f.ks_drift ? "true" : "false") +
         ",\"window_mean\":" + JsonNumber(f.window_mean) +
         ",\"reference_mean\":" + JsonNumber(f.reference_mean) + "}";
  }
  return s + "]}";
}

namespace {

DriftReport Compare(const ModelMetadata& md, const float* rows, size_t n, const DriftConfig& cfg,
                    std::vector<float>& scratch) {
  DriftReport r;
  r.samples = n;
  const size_t nf = md.features.size();
  r.ks_alpha_per_feature = nf ? cfg.ks_alpha / static_cast<double>(nf) : cfg.ks_alpha;
  r.ks_min_statistic = cfg.ks_min_statistic;
  if (n < cfg.min_samples || nf == 0) return r;
  scratch.resize(n);
  for (size_t j = 0; j < nf; ++j) {
    const FeatureInfo& fi = md.features[j];
    FeatureDrift fd;
    fd.name = fi.name;
    fd.reference_mean = fi.mean;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (scratch[i] = rows[i * nf + j]);
    fd.window_mean = sum / static_cast<double>(n);
    fd.psi = Psi(fi.psi_fractions, fi.psi_edges, scratch.data(), n);
    fd.psi_level = fd.psi >= cfg.psi_significant ? "significant"
                   : fd.psi >= cfg.psi_moderate  ? "moderate"
                                                 : "none";
    std::sort(scratch.begin(), scratch.begin() + static_cast<ptrdiff_t>(n));
    auto ks = KsTest(fi.quantiles, md.training_rows, scratch.data(), n);
    fd.ks_statistic = ks.statistic;
    fd.ks_p_value = ks.p_value;
    fd.ks_drift = ks.p_value < r.ks_alpha_per_feature && ks.statistic >= cfg.ks_min_statistic;
    r.drift = r.drift || fd.ks_drift || fd.psi >= cfg.psi_significant;
    r.features.push_back(std::move(fd));
  }
  return r;
}

}  // namespace

DriftReport CompareToReference(const ModelMetadata& md, const float* rows, size_t n,
                               const DriftConfig& cfg) {
  std::vector<float> scratch;
  return Compare(md, rows, n, cfg, scratch);
}

DriftMonitor::DriftMonitor(const ModelMetadata& metadata, const DriftConfig& config)
    : metadata_(metadata), config_(config), features_(metadata.features.size()) {
  if (config_.window == 0) config_.window = 1;
  ring_.assign(config_.window * features_, 0.f);
  scratch_.reserve(config_.window);
}

void DriftMonitor::Add(const float* features) {
  std::copy_n(features, features_, ring_.data() + next_ * features_);
  next_ = (next_ + 1) % config_.window;
  filled_ = std::min(filled_ + 1, config_.window);
}

DriftReport DriftMonitor::Check() {
  // Row order does not matter for PSI or KS, so the ring is used as is.
  return Compare(metadata_, ring_.data(), filled_, config_, scratch_);
}

ModelMetadata ProfileOf(const Dataset& data) {
  ModelMetadata md;
  md.label = data.label_name;
  md.class_names = data.class_names;
  md.training_data_sha256 = data.sha256;
  md.training_rows = data.rows;
  for (size_t j = 0; j < data.cols; ++j) {
    FeatureInfo fi;
    fi.name = data.feature_names[j];
    std::vector<float> values(data.rows);
    double sum = 0;
    for (size_t i = 0; i < data.rows; ++i) sum += values[i] = data.Row(i)[j];
    fi.mean = data.rows ? static_cast<float>(sum / static_cast<double>(data.rows)) : 0.0f;
    ComputeProfile(std::move(values), &fi);
    md.features.push_back(std::move(fi));
  }
  return md;
}

}  // namespace aiot::ml
