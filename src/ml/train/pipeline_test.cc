#include "ml/train/pipeline.h"

#include <gtest/gtest.h>

#include "base/errc.h"

namespace aiot::ml {
namespace {

TEST(RecipeTest, BasesAndOverrides) {
  auto d = ParseRecipe("default");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->train.hidden, (std::vector<int>{60, 30, 10}));
  EXPECT_EQ(d->train.epochs, TrainConfig{}.epochs);
  auto f = ParseRecipe("fast, epochs=40,hidden=32x16,balanced=true,lr=0.01,schedule=constant");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->train.hidden, (std::vector<int>{32, 16}));
  EXPECT_EQ(f->train.epochs, 40);
  EXPECT_EQ(f->train.batch_size, 64);
  EXPECT_TRUE(f->train.balanced_class_weights);
  EXPECT_DOUBLE_EQ(f->train.learning_rate, 0.01);
  EXPECT_EQ(f->train.schedule, LrSchedule::kConstant);
  auto none = ParseRecipe("epochs=3,hidden=none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->train.hidden.empty());
  auto g = ParseRecipe(
      "default,model=gbdt,trees=500,depth=4,eta=0.05,subsample=0.8,"
      "early_stopping=30,scale_pos_weight=3,threads=2,balanced=true,tree_thresholds=float");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->family, ModelFamily::kGbdt);
  EXPECT_EQ(g->gbdt.trees, 500);
  EXPECT_EQ(g->gbdt.max_depth, 4);
  EXPECT_DOUBLE_EQ(g->gbdt.learning_rate, 0.05);
  EXPECT_DOUBLE_EQ(g->gbdt.subsample, 0.8);
  EXPECT_EQ(g->gbdt.early_stopping_rounds, 30);
  EXPECT_DOUBLE_EQ(g->gbdt.scale_pos_weight, 3);
  EXPECT_EQ(g->gbdt.threads, 2);
  EXPECT_TRUE(g->gbdt.balanced);
  EXPECT_EQ(g->tree_encoding, TreeEncoding::kFloat);
  EXPECT_EQ(ParseRecipe("model=gbdt,tree_thresholds=binned")->tree_encoding, TreeEncoding::kBinned);
  auto lg = ParseRecipe("model=gbdt,depth=0,grow_policy=lossguide,max_leaves=31,parallel_trees=2");
  ASSERT_TRUE(lg.ok()) << lg.status().ToString();
  EXPECT_EQ(lg->gbdt.max_depth, 0);
  EXPECT_EQ(lg->gbdt.grow_policy, "lossguide");
  EXPECT_EQ(lg->gbdt.max_leaves, 31);
  EXPECT_EQ(lg->gbdt.parallel_trees, 2);
  auto o = ParseRecipe(
      "default,model=auto,derive=power = torque * rotation * 0.10472,derive=dT = p - a,"
      "calibrate=isotonic,threshold=budget:2,readings_per_day=96");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->family, ModelFamily::kAuto);
  EXPECT_EQ(o->derive,
            (std::vector<std::string>{"power = torque * rotation * 0.10472", "dT = p - a"}));
  EXPECT_EQ(o->calibration, CalibrationMethod::kIsotonic);
  EXPECT_EQ(o->threshold.kind, ThresholdRule::Kind::kBudget);
  EXPECT_DOUBLE_EQ(o->threshold.value, 2);
  EXPECT_DOUBLE_EQ(o->threshold.readings_per_day, 96);
  for (const char* bad :
       {"model=forest", "trees=0", "depth=65", "eta=0", "subsample=1.5", "calibrate=beta",
        "threshold=f2", "readings_per_day=0", "tree_thresholds=int", "grow_policy=leafwise",
        "max_leaves=-1", "parallel_trees=0"}) {
    EXPECT_EQ(ParseRecipe(bad).status().code(), errc::invalid_argument) << bad;
  }
  for (const char* bad : {"slow", "epochs=0", "epochs=x", "hidden=3x", "lr=2", "fast,default",
                          "width=3", "balanced=yes"}) {
    auto r = ParseRecipe(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), errc::invalid_argument) << bad;
    EXPECT_NE(r.status().message().find("recipe"), std::string::npos) << r.status().message();
  }
}

TEST(AgreementTest, BinaryAndMultiClass) {
  const std::vector<float> a = {0.1f, 0.6f, 0.9f, 0.4f};
  const std::vector<float> b = {0.2f, 0.4f, 0.95f, 0.45f};
  Agreement g = DecisionAgreement(a, b, 2, 0.5);
  EXPECT_DOUBLE_EQ(g.decisions, 0.75);
  EXPECT_NEAR(g.max_score_diff, 0.2, 1e-6);
  // Three classes, two rows: argmax 2 vs 2, then 0 vs 1.
  const std::vector<float> c = {0.1f, 0.2f, 0.7f, 0.5f, 0.3f, 0.2f};
  const std::vector<float> e = {0.2f, 0.1f, 0.7f, 0.3f, 0.5f, 0.2f};
  EXPECT_DOUBLE_EQ(DecisionAgreement(c, e, 3, 0.5).decisions, 0.5);
  EXPECT_DOUBLE_EQ(DecisionAgreement({}, {}, 2, 0.5).decisions, 1.0);
}

TEST(SchemaForTest, FeaturesLabelAndTextClasses) {
  ModelMetadata md;
  md.label = "state";
  md.class_names = {"ok", "fault"};
  md.features.resize(2);
  md.features[0].name = "rotation";
  md.features[1].name = "vibration";
  DatasetSchema s = SchemaFor(md);
  EXPECT_EQ(s.label, "state");
  EXPECT_EQ(s.features, (std::vector<std::string>{"rotation", "vibration"}));
  EXPECT_EQ(s.label_map.at("fault"), 1);
  md.class_names = {"0", "1"};
  EXPECT_TRUE(SchemaFor(md).label_map.empty());
}

}  // namespace
}  // namespace aiot::ml
