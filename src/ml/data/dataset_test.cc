#include "ml/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/errc.h"
#include "ml/data/random.h"

namespace aiot::ml {
namespace {

CsvTable Table(const std::string& text) {
  auto t = ParseCsv(text);
  EXPECT_TRUE(t.ok());
  return *t;
}

TEST(DatasetTest, ImplicitFeaturesDropAndLabel) {
  auto t = Table("id,time,a,b,y\n1,x,1.0,2.0,0\n2,y,3.0,4.0,1\n");
  DatasetSchema s;
  s.label = "y";
  s.drop = {"id", "time"};
  auto d = BuildDataset(t, s);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d->rows, 2u);
  EXPECT_EQ(d->Row(1)[1], 4.0f);
  EXPECT_EQ(d->y, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(d->num_classes(), 2);
}

TEST(DatasetTest, ExplicitFeatureOrderAndLabelMap) {
  auto t = Table("state,b,a\nbad,1,2\ngood,3,4\nbad,5,6\n");
  DatasetSchema s;
  s.label = "state";
  s.features = {"a", "b"};
  ASSERT_TRUE(ParseLabelMap("good=0, bad=1", &s.label_map));
  auto d = BuildDataset(t, s);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Row(0)[0], 2.0f);
  EXPECT_EQ(d->Row(0)[1], 1.0f);
  EXPECT_EQ(d->y, (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"good", "bad"}));
}

TEST(DatasetTest, ErrorsNameRowAndColumn) {
  DatasetSchema s;
  s.label = "y";
  auto message = [&](const std::string& csv) {
    auto d = BuildDataset(Table(csv), s);
    EXPECT_FALSE(d.ok());
    return d.status().message();
  };
  std::string err = message("a,b,y\n1,2,0\n3,,1\n");
  EXPECT_NE(err.find("row 3, column 'b' (2): missing value"), std::string::npos) << err;
  err = message("a,b,y\n1,2,0\n3,x7,1\n");
  EXPECT_NE(err.find("row 3, column 'b' (2): non-numeric value 'x7'"), std::string::npos) << err;
  err = message("a,b,y\n1,2,ok\n");
  EXPECT_NE(err.find("row 2, column 'y' (3)"), std::string::npos) << err;
  EXPECT_NE(err.find("--label-map"), std::string::npos) << err;
  s.label = "nope";
  err = message("a,b,y\n1,2,0\n");
  EXPECT_NE(err.find("'nope'"), std::string::npos) << err;
  EXPECT_EQ(BuildDataset(Table("a,b,y\n1,2,0\n"), s).error(), errc::not_found);
}

TEST(DatasetTest, LabelMapParsing) {
  std::map<std::string, int> m;
  EXPECT_TRUE(ParseLabelMap("ok=0,fault=1", &m));
  EXPECT_EQ(m["fault"], 1);
  EXPECT_FALSE(ParseLabelMap("ok", &m));
  EXPECT_FALSE(ParseLabelMap("ok=x", &m));
  EXPECT_FALSE(ParseLabelMap("", &m));
}

TEST(DatasetTest, StratifiedSplitIsDeterministicAndStratified) {
  std::vector<int32_t> y;
  for (int i = 0; i < 1000; ++i) y.push_back(i < 800 ? 0 : 1);
  auto s1 = StratifiedSplit(y, 2, 0.33, 0.1, 7);
  auto s2 = StratifiedSplit(y, 2, 0.33, 0.1, 7);
  EXPECT_EQ(s1.train, s2.train);
  EXPECT_EQ(s1.test, s2.test);
  EXPECT_EQ(s1.train.size() + s1.validation.size() + s1.test.size(), 1000u);
  std::set<size_t> all(s1.train.begin(), s1.train.end());
  all.insert(s1.validation.begin(), s1.validation.end());
  all.insert(s1.test.begin(), s1.test.end());
  EXPECT_EQ(all.size(), 1000u);
  size_t pos_test =
      std::count_if(s1.test.begin(), s1.test.end(), [&](size_t i) { return y[i] == 1; });
  EXPECT_EQ(pos_test, 66u);  // 33% of 200
  EXPECT_EQ(s1.test.size(), 330u);
  auto s3 = StratifiedSplit(y, 2, 0.33, 0.1, 8);
  EXPECT_NE(s1.test, s3.test);
}

TEST(DatasetTest, NormalizationUsesOnlyGivenRows) {
  auto d = BuildDataset(Table("a,y\n1,0\n3,1\n100,0\n"), DatasetSchema{"y", {}, {}, {}});
  ASSERT_TRUE(d.ok());
  auto n = ComputeNormalization(*d, {0, 1});
  EXPECT_FLOAT_EQ(n.mean[0], 2.0f);
  EXPECT_FLOAT_EQ(n.stddev[0], 1.0f);
}

TEST(RngTest, SameSeedSameNumbers) {
  Rng a(1), b(1);
  for (int i = 0; i < 100; ++i) {
    double u = a.Uniform();
    EXPECT_EQ(u, b.Uniform());
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  for (int i = 0; i < 100; ++i) EXPECT_LT(a.Below(7), 7u);
}

}  // namespace
}  // namespace aiot::ml
