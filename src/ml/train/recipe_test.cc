#include "ml/train/recipe.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/errc.h"

namespace aiot::ml {
namespace {

class RecipeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("aiot-recipe-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::trunc) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(RecipeFileTest, EveryKeyReachesTheJob) {
  const std::string path = Write("fan.yaml",
                                 "# a GBDT recipe\n"
                                 "data: fan.csv\n"
                                 "label: Faulty\n"
                                 "drop: DeviceID,Time\n"
                                 "model: gbdt\n"
                                 "trees: 400\n"
                                 "max_depth: 4\n"
                                 "grow_policy: lossguide\n"
                                 "max_leaves: 15\n"
                                 "parallel_trees: 2\n"
                                 "learning_rate: 0.05\n"
                                 "early_stopping_rounds: 30\n"
                                 "tree_thresholds: float\n"
                                 "balanced: true\n"
                                 "derive: [\"power = Rotation * Vibration\", \"d = Sound - 40\"]\n"
                                 "calibrate: platt\n"
                                 "threshold: precision:0.9\n"
                                 "test: 0.25\n"
                                 "seed: 7\n"
                                 "out: /tmp/fan-gbdt.tflite\n");
  auto r = LoadTrainRecipe(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  DatasetSchema schema;
  auto job = RecipeJob(*r, &schema);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(schema.label, "Faulty");
  EXPECT_EQ(schema.drop, (std::vector<std::string>{"DeviceID", "Time"}));
  EXPECT_EQ(job->family, ModelFamily::kGbdt);
  EXPECT_EQ(job->gbdt.trees, 400);
  EXPECT_EQ(job->gbdt.max_depth, 4);
  EXPECT_EQ(job->gbdt.grow_policy, "lossguide");
  EXPECT_EQ(job->gbdt.max_leaves, 15);
  EXPECT_EQ(job->gbdt.parallel_trees, 2);
  EXPECT_DOUBLE_EQ(job->gbdt.learning_rate, 0.05);
  EXPECT_EQ(job->gbdt.early_stopping_rounds, 30);
  EXPECT_EQ(job->tree_encoding, TreeEncoding::kFloat);
  EXPECT_EQ(TrainJob{}.tree_encoding, TreeEncoding::kBinned);  // the default
  EXPECT_TRUE(job->gbdt.balanced);
  EXPECT_EQ(job->derive.size(), 2u);
  EXPECT_EQ(job->calibration, CalibrationMethod::kPlatt);
  EXPECT_EQ(job->threshold.kind, ThresholdRule::Kind::kPrecision);
  EXPECT_DOUBLE_EQ(job->train.test_fraction, 0.25);
  EXPECT_EQ(job->train.seed, 7u);
  EXPECT_EQ(job->name, "fan-gbdt.tflite");
  // The pipeline's train step reads the same file the same way.
  auto step = StepRecipeJob(path);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(step->gbdt.trees, 400);
  EXPECT_EQ(step->calibration, CalibrationMethod::kPlatt);
  EXPECT_EQ(step->tree_encoding, TreeEncoding::kFloat);
  // ... and still takes the inline form.
  auto inline_job = StepRecipeJob("fast,model=gbdt,trees=50");
  ASSERT_TRUE(inline_job.ok()) << inline_job.status().ToString();
  EXPECT_EQ(inline_job->gbdt.trees, 50);
}

TEST_F(RecipeFileTest, MistakesAreReportedWithTheirLine) {
  const std::string path = Write("bad.yaml",
                                 "label: Faulty\n"
                                 "max_dept: 4\n"         // line 2: a typo
                                 "trees: many\n"         // line 3: not a number
                                 "threshold: best\n"     // line 4: not a rule
                                 "calibrate: sigmoid\n"  // line 5: not a method
                                 "test: 1.5\n");         // line 6: not a fraction
  auto r = LoadTrainRecipe(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), errc::invalid_argument);
  const std::string m = r.status().message();
  for (const std::string want :
       {"max_dept", "max_depth", "bad.yaml:2", "trees", "bad.yaml:3", "threshold", "bad.yaml:4",
        "calibrate", "bad.yaml:5", "test: must be in [0, 1)", "bad.yaml:6"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in\n" << m;
  }
  EXPECT_EQ(LoadTrainRecipe(dir_ + "/none.yaml").status().code(), errc::not_found);
  // A time-to-failure recipe is for a caller that takes its horizon (the pipeline's train step);
  // a regression recipe is for none (the datastore has no numeric target column).
  const std::string ttf = Write("ttf.yaml", "task: time_to_failure\nhorizon_h: 6\ntrees: 80\n");
  auto step = StepRecipeJob(ttf);
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("classifiers and time-to-failure models"),
            std::string::npos);
  TtfOptions options;
  step = StepRecipeJob(ttf, &options);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(step->task, "time_to_failure");
  EXPECT_EQ(step->family, ModelFamily::kGbdt);
  EXPECT_EQ(step->gbdt.trees, 80);
  EXPECT_DOUBLE_EQ(options.horizon_h, 6);
  const std::string reg = Write("reg.yaml", "task: regression\nlabel: hours\n");
  EXPECT_FALSE(StepRecipeJob(reg, &options).ok());
}

}  // namespace
}  // namespace aiot::ml
