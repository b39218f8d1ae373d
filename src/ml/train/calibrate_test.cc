// Derived features in the graph, score calibration and the threshold search (issue 17).
#include "ml/train/calibrate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/errc.h"
#include "ml/data/derive.h"
#include "ml/data/random.h"
#include "ml/quant/quantize.h"
#include "ml/runtime/interpreter.h"
#include "ml/runtime/model.h"
#include "ml/train/export.h"
#include "ml/train/metrics.h"
#include "ml/train/pipeline.h"

namespace aiot::ml {
namespace {

// Three raw columns; b stays away from 0 except where a test puts it there.
Dataset Raw(uint64_t seed, size_t rows, double positive_bias = 1.0) {
  Rng rng(seed);
  Dataset d;
  d.feature_names = {"a", "b", "c"};
  d.class_names = {"0", "1"};
  d.label_name = "y";
  d.rows = rows;
  d.cols = 3;
  for (size_t r = 0; r < rows; ++r) {
    const float a = static_cast<float>(rng.Uniform(-2, 2));
    const float b = static_cast<float>(rng.Uniform(0.5, 2));
    const float c = static_cast<float>(rng.Uniform(-1, 1));
    d.x.insert(d.x.end(), {a, b, c});
    d.y.push_back(a * b + 0.5 * c + rng.Uniform(-0.5, 0.5) > positive_bias ? 1 : 0);
  }
  return d;
}

int TensorNamed(const GraphSpec& g, const std::string& name) {
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    if (g.tensors[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// Runs `g` over `rows` raw rows and returns tensor `t` (width values per row).
std::vector<float> RunGraph(const GraphSpec& g, const float* x, size_t rows, size_t cols, int t) {
  InterpreterOptions io;
  io.max_batch = static_cast<int>(rows);
  auto it = Interpreter::Create(g, io);
  EXPECT_TRUE(it.ok()) << it.status().ToString();
  if (!it.ok()) return {};
  std::memcpy((*it)->input(0, static_cast<int>(rows)).f32(), x, rows * cols * sizeof(float));
  EXPECT_TRUE((*it)->Invoke(static_cast<int>(rows)).ok());
  const TensorView v = (*it)->tensor(t, static_cast<int>(rows));
  return std::vector<float>(v.f32(), v.f32() + v.elements);
}

const std::vector<std::string> kDerive = {"p = a * b * 0.10472", "d = c - a",
                                          "r = 2 - a",           "q = 1 / b",
                                          "n = -(c + 0.25) * 3", "s = p / (b + 1) - q"};

TEST(DerivedGraphTest, TrainerColumnsEqualTheGraphFloatAndInt8) {
  const Dataset raw = Raw(1, 500);
  auto derived = ParseDerivedList(kDerive, raw.feature_names);
  ASSERT_TRUE(derived.ok()) << derived.status().ToString();
  auto aug = AddDerived(raw, *derived);
  ASSERT_TRUE(aug.ok()) << aug.status().ToString();
  ASSERT_EQ(aug->cols, 9u);
  TrainConfig cfg;
  cfg.hidden = {4};
  cfg.epochs = 2;
  auto trained = Train(*aug, cfg);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ModelMetadata md = MakeMetadata(*aug, trained->split.train, trained->model, EvalReport{}, "t");
  md.features.resize(3);
  const GraphSpec built = WithDerivedFeatures(BuildFloatGraph(trained->model, md), 3, *derived);
  // The file round trip (SLICE, CONCATENATION and DIV options) and the raw input signature.
  auto bytes = WriteTflite(built);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto model = Model::FromBytes(*bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const GraphSpec& g = (*model)->graph();
  EXPECT_EQ(g.tensors[g.inputs[0]].shape, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ((*model)->metadata().feature_names(), raw.feature_names);
  const int all = TensorNamed(g, "derived/features");
  ASSERT_GE(all, 0);
  const std::vector<float> graph_cols = RunGraph(g, raw.x.data(), raw.rows, 3, all);
  ASSERT_EQ(graph_cols.size(), aug->x.size());
  EXPECT_EQ(std::memcmp(graph_cols.data(), aug->x.data(), aug->x.size() * sizeof(float)), 0)
      << "the graph's derived columns differ from the trainer's";
  // int8: the derived features stay float ops before QUANTIZE, so they are the same bits.
  auto q = QuantizeGraph(g, raw.x.data(), raw.rows);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->tensors[q->inputs[0]].shape, (std::vector<int32_t>{1, 3}));
  const std::vector<float> int8_cols =
      RunGraph(*q, raw.x.data(), raw.rows, 3, TensorNamed(*q, "derived/features"));
  ASSERT_EQ(int8_cols.size(), aug->x.size());
  EXPECT_EQ(std::memcmp(int8_cols.data(), aug->x.data(), aug->x.size() * sizeof(float)), 0);
  // Division by zero at run time: IEEE 754, as the trainer's evaluation: 1 / 0 = inf.
  const float zero_b[] = {1.f, 0.f, 0.5f};
  const std::vector<float> one = RunGraph(g, zero_b, 1, 3, all);
  ASSERT_EQ(one.size(), 9u);
  EXPECT_EQ(one[6], INFINITY);  // q = 1 / b
  std::vector<float> row(zero_b, zero_b + 3);
  for (const auto& d : *derived) row.push_back(EvaluateDerived(d, row.data()));
  EXPECT_EQ(std::memcmp(one.data(), row.data(), 9 * sizeof(float)), 0);
}

TEST(DerivedGraphTest, TrainAndExportTakesRawColumnsForMlpAndTrees) {
  const Dataset raw = Raw(2, 1500);
  for (ModelFamily family : {ModelFamily::kMlp, ModelFamily::kGbdt}) {
    TrainJob job;
    job.family = family;
    job.train.hidden = {8};
    job.train.epochs = 20;
    job.gbdt.trees = 30;
    job.gbdt.threads = 1;
    job.derive = {"ab = a * b", "ratio = c / b"};
    auto out = TrainAndExport(raw, job);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->metadata.feature_names(), raw.feature_names);
    EXPECT_EQ(out->metadata.derived, (std::vector<std::string>{"ab = a * b", "ratio = c / b"}));
    auto scores = ScoreRows(out->float_model, raw);
    ASSERT_TRUE(scores.ok()) << scores.status().ToString();
    // a * b is the signal: with it as a feature the model separates the classes well.
    EXPECT_GT(out->test.roc_auc, 0.9) << ModelFamilyName(family);
    EXPECT_NE(out->ToJson().find("\"derived\":[\"ab = a * b\""), std::string::npos);
  }
  TrainJob bad;
  bad.derive = {"x = a / (b - b)"};
  EXPECT_EQ(TrainAndExport(raw, bad).status().code(), errc::invalid_argument);
  bad.derive = {"x = a * nope"};
  EXPECT_EQ(TrainAndExport(raw, bad).status().code(), errc::parse_error);
}

// features[1,1] = a logit z -> LOGISTIC -> score: the scores sigmoid(z) of a model whose true
// probabilities are sigmoid(2.5 z - 1), i.e. overconfident and biased.
struct Miscalibrated {
  GraphSpec graph;
  std::vector<float> z;
  std::vector<int32_t> y;
};
Miscalibrated MakeMiscalibrated(size_t rows) {
  Miscalibrated m;
  TensorSpec in, out;
  in.name = "features";
  in.shape = {1, 1};
  out.name = "score";
  out.shape = {1, 1};
  m.graph.tensors = {in, out};
  OpSpec op;
  op.builtin_code = static_cast<int32_t>(Op::kLogistic);
  op.inputs = {0};
  op.outputs = {1};
  m.graph.ops = {op};
  m.graph.inputs = {0};
  m.graph.outputs = {1};
  Rng rng(7);
  for (size_t i = 0; i < rows; ++i) {
    const double z = rng.Uniform(-4, 4);
    m.z.push_back(static_cast<float>(z));
    m.y.push_back(rng.Uniform(0, 1) < 1 / (1 + std::exp(-(2.5 * z - 1))) ? 1 : 0);
  }
  return m;
}

TEST(CalibrationTest, PlattAndIsotonicReduceHeldOutEce) {
  const Miscalibrated m = MakeMiscalibrated(6000);
  const size_t half = 3000;
  const std::vector<float> z_val(m.z.begin(), m.z.begin() + half);
  const std::vector<int32_t> y_val(m.y.begin(), m.y.begin() + half);
  const std::vector<int32_t> y_test(m.y.begin() + half, m.y.end());
  const float* z_test = m.z.data() + half;
  const std::vector<float> before = RunGraph(m.graph, z_test, half, 1, m.graph.outputs[0]);
  const double ece_before = ExpectedCalibrationError(before, y_test);
  EXPECT_GT(ece_before, 0.05);

  const Calibration platt = FitPlatt(z_val, y_val);
  EXPECT_NEAR(platt.a, 2.5, 0.3);
  EXPECT_NEAR(platt.b, -1.0, 0.3);
  auto gp = AddCalibration(m.graph, platt);
  ASSERT_TRUE(gp.ok()) << gp.status().ToString();
  const std::vector<float> after_platt = RunGraph(*gp, z_test, half, 1, gp->outputs[0]);
  const double ece_platt = ExpectedCalibrationError(after_platt, y_test);

  const std::vector<float> s_val = RunGraph(m.graph, z_val.data(), half, 1, m.graph.outputs[0]);
  const Calibration iso = FitIsotonic(s_val, y_val);
  EXPECT_LE(iso.x.size(), 210u);
  auto gi = AddCalibration(m.graph, iso);
  ASSERT_TRUE(gi.ok()) << gi.status().ToString();
  const std::vector<float> after_iso = RunGraph(*gi, z_test, half, 1, gi->outputs[0]);
  const double ece_iso = ExpectedCalibrationError(after_iso, y_test);
  std::printf("held-out ECE: uncalibrated %.4f, platt %.4f, isotonic %.4f (%zu knots)\n",
              ece_before, ece_platt, ece_iso, iso.x.size());
  EXPECT_LT(ece_platt, ece_before / 2);
  EXPECT_LT(ece_iso, ece_before / 2);
  EXPECT_LT(ece_platt, 0.03);
  EXPECT_LT(ece_iso, 0.04);
  // The isotonic map is monotone and equals ApplyCalibration within float rounding.
  for (size_t i = 0; i < half; ++i) {
    EXPECT_NEAR(after_iso[i], ApplyCalibration(iso, before[i]), 1e-4) << before[i];
    EXPECT_GE(after_iso[i], 0.f);
  }
  // Softmax / no LOGISTIC: refused.
  GraphSpec none = m.graph;
  none.ops.clear();
  EXPECT_EQ(AddCalibration(none, platt).status().code(), errc::unsupported);
}

TEST(ThresholdTest, PicksTheF1OptimalPointPrecisionTargetAndBudget) {
  const std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f, 0.2f};
  const std::vector<int32_t> y = {1, 1, 0, 1, 0, 0, 0, 0};
  ThresholdRule rule;
  ASSERT_TRUE(ParseThresholdRule("f1", &rule));
  const ThresholdChoice f1 = ChooseThreshold(s, y, rule);
  EXPECT_FLOAT_EQ(f1.threshold, 0.6f);  // 3 of 3 faults, 1 false alarm: F1 6/7
  EXPECT_NEAR(f1.f1, 6.0 / 7.0, 1e-12);
  for (float t : s) EXPECT_LE(Evaluate(s, y, 2, t).f1, Evaluate(s, y, 2, f1.threshold).f1) << t;
  ASSERT_TRUE(ParseThresholdRule("precision:0.9", &rule));
  const ThresholdChoice p = ChooseThreshold(s, y, rule);
  EXPECT_FLOAT_EQ(p.threshold, 0.8f);  // precision 1, recall 2/3; 0.6 has precision 0.75
  EXPECT_TRUE(p.target_met);
  rule.readings_per_day = 8;  // a device sends these 8 rows per day
  ASSERT_TRUE(ParseThresholdRule("budget:2", &rule));
  const ThresholdChoice b = ChooseThreshold(s, y, rule);
  EXPECT_FLOAT_EQ(b.threshold, 0.8f);  // 2 alerts a day
  EXPECT_TRUE(b.target_met);
  ASSERT_TRUE(ParseThresholdRule("budget:0", &rule));
  EXPECT_FALSE(ChooseThreshold(s, y, rule).target_met);
  ASSERT_TRUE(ParseThresholdRule("0.3", &rule));
  EXPECT_DOUBLE_EQ(ChooseThreshold(s, y, rule).threshold, 0.3);
  for (const char* bad : {"", "f2", "precision:", "precision:1.5", "budget:-1", "1.5", "0"}) {
    EXPECT_FALSE(ParseThresholdRule(bad, &rule)) << bad;
  }
}

TEST(CalibrationTest, TrainAndExportCalibratesAndStoresTheThreshold) {
  const Dataset raw = Raw(3, 4000, 1.6);  // ~15% positives
  TrainJob job;
  job.train.hidden = {8};
  job.train.epochs = 30;
  job.train.balanced_class_weights = true;  // inflates P(fault): poorly calibrated
  job.train.validation_fraction = 0.3;
  auto plain = TrainAndExport(raw, job);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  job.calibration = CalibrationMethod::kPlatt;
  ASSERT_TRUE(ParseThresholdRule("f1", &job.threshold));
  auto cal = TrainAndExport(raw, job);
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  std::printf("test ECE: balanced MLP %.4f, with platt %.4f; threshold %.4f\n", plain->test.ece,
              cal->test.ece, cal->test.threshold);
  EXPECT_LT(cal->test.ece, plain->test.ece);
  EXPECT_LT(cal->validation_ece_after, cal->validation_ece_before);
  auto model = Model::FromBytes(cal->float_model);
  ASSERT_TRUE(model.ok());
  const ModelMetadata& md = (*model)->metadata();
  EXPECT_EQ(md.calibration, "platt");
  EXPECT_EQ(md.threshold_rule, "f1");
  EXPECT_FLOAT_EQ(md.decision_threshold, static_cast<float>(cal->threshold.threshold));
  EXPECT_FLOAT_EQ(md.warning_threshold, md.decision_threshold);  // the predictor's alert band
  EXPECT_GT(md.critical_threshold, md.warning_threshold);
  EXPECT_FLOAT_EQ(static_cast<float>(cal->test.threshold), md.decision_threshold);
  const std::string json = cal->ToJson();
  for (const char* key : {"\"calibration\":{\"method\":\"platt\"", "\"threshold\":{\"rule\":\"f1\"",
                          "\"per_class\":[", "\"confusion\":[", "\"validation_ece_after\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
  job.train.validation_fraction = 0;
  EXPECT_EQ(TrainAndExport(raw, job).status().code(), errc::invalid_argument);
}

}  // namespace
}  // namespace aiot::ml

namespace aiot::ml {
namespace {

// y from a linear rule (logistic regression's home) or an XOR of signs (no linear model can).
Dataset AutoData(bool xor_rule, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.feature_names = {"a", "b", "c"};
  d.class_names = {"0", "1"};
  d.rows = 1200;
  d.cols = 3;
  for (size_t r = 0; r < d.rows; ++r) {
    const float a = static_cast<float>(rng.Uniform(-2, 2));
    const float b = static_cast<float>(rng.Uniform(-2, 2));
    const float c = static_cast<float>(rng.Uniform(-2, 2));
    d.x.insert(d.x.end(), {a, b, c});
    const bool y = xor_rule ? (a > 0) != (c > 0) : a + 0.5 * b - c + rng.Uniform(-1, 1) > 0;
    d.y.push_back(y ? 1 : 0);
  }
  return d;
}

TEST(AutoTest, PicksTheFamilyTheDataWasMadeFor) {
  TrainJob job;
  job.family = ModelFamily::kAuto;
  job.train.hidden = {16, 8};
  job.train.epochs = 40;
  job.gbdt.trees = 60;
  job.gbdt.threads = 1;
  for (bool xor_rule : {false, true}) {
    auto out = TrainAndExport(AutoData(xor_rule, 11), job);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->candidates.size(), 3u);
    double best = 0, logistic = 0;
    for (const auto& c : out->candidates) {
      EXPECT_EQ(c.folds.size(), 3u) << c.name;
      EXPECT_TRUE(c.error.empty()) << c.error;
      EXPECT_GT(c.seconds, 0) << c.name;
      best = std::max(best, c.mean);
      if (c.name == "logistic") logistic = c.mean;
      std::printf("%s data: %s AUC %.4f ± %.4f (%.2f s)\n", xor_rule ? "xor" : "linear",
                  c.name.c_str(), c.mean, c.stddev, c.seconds);
    }
    if (xor_rule) {
      EXPECT_NE(out->chosen, "logistic");
      EXPECT_LT(logistic, 0.7);
      EXPECT_GT(best, 0.95);
    } else {
      // Logistic regression, or a family no better than it by more than noise.
      EXPECT_TRUE(out->chosen == "logistic" || best - logistic < 0.01) << out->chosen;
    }
    EXPECT_EQ(out->family == ModelFamily::kGbdt, out->chosen == "gbdt");
    EXPECT_NE(out->ToJson().find("\"auto\":{\"metric\":\"roc_auc\",\"chosen\":\"" + out->chosen),
              std::string::npos);
  }
}

}  // namespace
}  // namespace aiot::ml
