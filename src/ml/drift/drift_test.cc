#include "ml/drift/drift.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ml/data/random.h"

namespace aiot::ml {
namespace {

ModelMetadata Reference(uint64_t seed) {
  Rng rng(seed);
  ModelMetadata md;
  md.training_rows = 10000;
  for (const char* name : {"rotation", "temperature"}) {
    FeatureInfo f;
    f.name = name;
    std::vector<float> v;
    for (int i = 0; i < 10000; ++i) v.push_back(static_cast<float>(rng.Uniform(500, 700)));
    double sum = 0;
    for (float x : v) sum += x;
    f.mean = static_cast<float>(sum / v.size());
    ComputeProfile(v, &f);
    md.features.push_back(f);
  }
  return md;
}

std::vector<float> Rows(size_t n, double lo0, double hi0, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> rows;
  for (size_t i = 0; i < n; ++i) {
    rows.push_back(static_cast<float>(rng.Uniform(lo0, hi0)));
    rows.push_back(static_cast<float>(rng.Uniform(500, 700)));
  }
  return rows;
}

TEST(DriftTest, SameDistributionShowsNoDrift) {
  auto md = Reference(1);
  auto rows = Rows(2000, 500, 700, 2);
  auto r = CompareToReference(md, rows.data(), 2000);
  ASSERT_EQ(r.features.size(), 2u);
  EXPECT_FALSE(r.drift) << r.ToJson();
  for (const auto& f : r.features) {
    EXPECT_LT(f.psi, 0.05);
    EXPECT_EQ(f.psi_level, "none");
    EXPECT_GT(f.ks_p_value, 0.01);
  }
}

TEST(DriftTest, ShiftedFeatureIsFlaggedAndNamed) {
  auto md = Reference(1);
  auto rows = Rows(2000, 450, 650, 3);  // rotation dropped by 50 rpm
  auto r = CompareToReference(md, rows.data(), 2000);
  EXPECT_TRUE(r.drift) << r.ToJson();
  EXPECT_EQ(r.features[0].psi_level, "significant");
  EXPECT_TRUE(r.features[0].ks_drift);
  EXPECT_NEAR(r.features[0].ks_statistic, 0.25, 0.04);
  EXPECT_FALSE(r.features[1].ks_drift);
  EXPECT_NEAR(r.ks_alpha_per_feature, 0.025, 1e-12);
  EXPECT_NE(r.ToJson().find("\"name\":\"rotation\""), std::string::npos);
}

// Effect size: 20,000 readings shifted by 3 % of the range give a KS p-value far below any alpha
// for a gap (D ~ 0.03) that matters to nobody; ks_min_statistic keeps it from counting, and a
// real shift (D ~ 0.25) still does.
TEST(DriftTest, KsNeedsTheMinimumStatistic) {
  auto md = Reference(1);
  auto small = Rows(20000, 506, 706, 7);
  DriftConfig cfg;
  auto r = CompareToReference(md, small.data(), 20000, cfg);
  EXPECT_LT(r.features[0].ks_p_value, 1e-3) << r.ToJson();
  EXPECT_LT(r.features[0].ks_statistic, 0.05);
  EXPECT_TRUE(r.features[0].ks_drift);  // p alone
  cfg.ks_min_statistic = 0.1;
  r = CompareToReference(md, small.data(), 20000, cfg);
  EXPECT_FALSE(r.features[0].ks_drift) << r.ToJson();
  EXPECT_FALSE(r.drift) << r.ToJson();
  EXPECT_NE(r.ToJson().find("\"ks_min_statistic\":0.1"), std::string::npos) << r.ToJson();
  auto big = Rows(2000, 450, 650, 3);
  r = CompareToReference(md, big.data(), 2000, cfg);
  EXPECT_TRUE(r.features[0].ks_drift) << r.ToJson();
  EXPECT_TRUE(r.drift);
}

// The predictor's default effect size (drift.ks_min_statistic 0.25): a fifth of the readings
// moved (D ~ 0.2, what a fleet in which a fifth of the machines wear out reached, 0.202) is not
// drift; a new regime that moves nearly all of them (D ~ 0.95) is.
TEST(DriftTest, KsMinimumStatisticOfThePredictorsDefault) {
  auto md = Reference(1);
  DriftConfig cfg;
  cfg.ks_min_statistic = 0.25;
  cfg.psi_significant = 10;  // KS alone
  auto slow = Rows(1000, 540, 740, 5);
  auto r = CompareToReference(md, slow.data(), 1000, cfg);
  EXPECT_NEAR(r.features[0].ks_statistic, 0.2, 0.04) << r.ToJson();
  EXPECT_LT(r.features[0].ks_p_value, 1e-6) << r.ToJson();  // p alone would call it drift
  EXPECT_FALSE(r.features[0].ks_drift) << r.ToJson();
  EXPECT_FALSE(r.drift) << r.ToJson();
  auto regime = Rows(1000, 690, 890, 5);
  r = CompareToReference(md, regime.data(), 1000, cfg);
  EXPECT_GE(r.features[0].ks_statistic, 0.94) << r.ToJson();
  EXPECT_TRUE(r.features[0].ks_drift) << r.ToJson();
  EXPECT_TRUE(r.drift) << r.ToJson();
}

TEST(DriftTest, ModeratePsi) {
  auto md = Reference(1);
  auto rows = Rows(5000, 520, 720, 4);  // a 10% shift
  auto r = CompareToReference(md, rows.data(), 5000);
  EXPECT_GE(r.features[0].psi, 0.1);
  EXPECT_LT(r.features[0].psi, 0.5);
}

TEST(DriftTest, KolmogorovPValues) {
  EXPECT_NEAR(KolmogorovPValue(0.0, 100), 1.0, 1e-9);
  // lambda ~ 1.36 is the classic 5% critical value.
  const double ne = 10000;
  const double d = 1.358 / (std::sqrt(ne) + 0.12 + 0.11 / std::sqrt(ne));
  EXPECT_NEAR(KolmogorovPValue(d, ne), 0.05, 0.002);
}

TEST(DriftTest, MonitorWindowSlides) {
  auto md = Reference(1);
  DriftConfig cfg;
  cfg.window = 500;
  DriftMonitor m(md, cfg);
  auto good = Rows(500, 500, 700, 5);
  auto bad = Rows(500, 400, 600, 6);
  for (size_t i = 0; i < 500; ++i) m.Add(good.data() + 2 * i);
  EXPECT_EQ(m.size(), 500u);
  EXPECT_FALSE(m.Check().drift);
  for (size_t i = 0; i < 500; ++i) m.Add(bad.data() + 2 * i);  // replaces the whole window
  auto r = m.Check();
  EXPECT_TRUE(r.drift);
  EXPECT_TRUE(r.features[0].ks_drift);
  EXPECT_EQ(r.samples, 500u);
}

TEST(DriftTest, TooFewSamplesReportsNothing) {
  DriftMonitor m(Reference(1));
  float v[2] = {600, 600};
  m.Add(v);
  auto r = m.Check();
  EXPECT_TRUE(r.features.empty());
  EXPECT_FALSE(r.drift);
}

TEST(PageHinkleyTest, DetectsAnUpwardShiftOnly) {
  PageHinkley ph(0.01, 5.0);
  Rng rng(7);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(ph.Add(0.1 + 0.02 * rng.Uniform())) << i;
  int detected_at = -1;
  for (int i = 0; i < 1000 && detected_at < 0; ++i) {
    if (ph.Add(0.6 + 0.02 * rng.Uniform())) detected_at = i;
  }
  EXPECT_GE(detected_at, 0);
  EXPECT_LT(detected_at, 30);
  ph.Reset();
  EXPECT_EQ(ph.count(), 0u);
  for (int i = 0; i < 500; ++i) EXPECT_FALSE(ph.Add(i < 250 ? 0.6 : 0.1));
}

// Two windows of data compared through ProfileOf: alike → no drift; one feature shifted → drift
// on that feature only.
TEST(DriftTest, ProfileOfComparesTwoWindowsOfData) {
  auto window = [](size_t n, double lo0, double hi0, uint64_t seed) {
    Dataset d;
    d.feature_names = {"rotation", "temperature"};
    d.rows = n;
    d.cols = 2;
    d.x = Rows(n, lo0, hi0, seed);
    return d;
  };
  const Dataset reference = window(5000, 500, 700, 1);
  const ModelMetadata profile = ProfileOf(reference);
  ASSERT_EQ(profile.features.size(), 2u);
  EXPECT_EQ(profile.features[0].name, "rotation");
  EXPECT_EQ(profile.features[0].quantiles.size(), 101u);
  EXPECT_NEAR(profile.features[0].mean, 600, 5);
  EXPECT_EQ(profile.training_rows, 5000u);
  DriftConfig cfg;
  cfg.min_samples = 1;
  const Dataset same = window(2000, 500, 700, 2);
  EXPECT_FALSE(CompareToReference(profile, same.x.data(), same.rows, cfg).drift);
  const Dataset shifted = window(2000, 600, 800, 3);
  const DriftReport r = CompareToReference(profile, shifted.x.data(), shifted.rows, cfg);
  EXPECT_TRUE(r.drift);
  EXPECT_EQ(r.features[0].psi_level, "significant");
  EXPECT_EQ(r.features[1].psi_level, "none");
}

}  // namespace
}  // namespace aiot::ml
