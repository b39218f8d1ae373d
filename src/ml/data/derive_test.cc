#include "ml/data/derive.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/errc.h"

namespace aiot::ml {
namespace {

const std::vector<std::string> kColumns = {"torque", "rotation", "air_temp", "process_temp",
                                           "Air temperature [K]"};

TEST(DeriveTest, ComputesInFloatInTheOrderWritten) {
  auto d = ParseDerived("power = torque * rotation * 0.10472", kColumns);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "power");
  EXPECT_EQ(d->expression, "torque * rotation * 0.10472");
  const float row[] = {41.3f, 1551.f, 298.1f, 308.6f, 298.1f};
  const float expect = (41.3f * 1551.f) * 0.10472f;  // left to right, float32
  EXPECT_EQ(EvaluateDerived(*d, row), expect);
  auto dt = ParseDerived("  dT=process_temp-air_temp ", kColumns);
  ASSERT_TRUE(dt.ok());
  EXPECT_EQ(EvaluateDerived(*dt, row), 308.6f - 298.1f);
  // Precedence, parentheses, unary minus, quoted names; constants folded (2 + 3 -> 5).
  auto e = ParseDerived("x = -(torque + 2 * 3) / (rotation - `Air temperature [K]`) * (2 + 3)",
                        kColumns);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const float t = (41.3f + 6.f) * -1.f;
  EXPECT_EQ(EvaluateDerived(*e, row), (t / (1551.f - 298.1f)) * 5.f);
  size_t constants = 0;
  for (const auto& s : e->steps) constants += s.kind == DeriveStep::Kind::kConstant;
  EXPECT_EQ(constants, 3u);  // 6, -1 (the unary minus) and 5
}

TEST(DeriveTest, ErrorsQuoteTheTextAndNameTheColumn) {
  struct Case {
    const char* text;
    const char* want;
  };
  for (const Case& c : {
           Case{"p = torque * ", "column 14: expected a column name"},
           Case{"p = torque + torq", "column 14: unknown column `torq`"},
           Case{"p torque", "column 3: expected '='"},
           Case{"p = (torque + 1", "column 16: expected ')' to close the '(' at column 5"},
           Case{"p = torque $ 2", "column 12: unexpected character '$'"},
           Case{"p = 2 * 3", "column 5: the expression uses no column"},
           Case{"p = torque * 1e999", "column 14: `1e999` is not a finite float32 number"},
           Case{"= torque", "column 1: expected a name"},
           Case{"p = `Air temperature", "column 5: unterminated `name`"},
       }) {
    auto d = ParseDerived(c.text, kColumns);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().code(), errc::parse_error) << c.text;
    EXPECT_NE(d.status().message().find(c.want), std::string::npos) << d.status().message();
    EXPECT_NE(d.status().message().find(c.text), std::string::npos) << d.status().message();
  }
  std::string deep = "p = " + std::string(100, '(') + "torque" + std::string(100, ')');
  EXPECT_NE(ParseDerived(deep, kColumns).status().message().find("nested deeper than 64"),
            std::string::npos);
}

TEST(DeriveTest, ListUsesEarlierNamesAndRefusesDuplicates) {
  auto list = ParseDerivedList({"power = torque * rotation", "ratio = power / air_temp"}, kColumns);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].steps[0].column, 5);  // power: after the 5 input columns
  EXPECT_EQ(ParseDerivedList({"ratio = power / air_temp"}, kColumns).status().code(),
            errc::parse_error);  // power is not defined yet
  EXPECT_EQ(ParseDerivedList({"torque = rotation * 2"}, kColumns).status().code(),
            errc::invalid_argument);
}

TEST(DeriveTest, AddDerivedAppendsColumnsAndRefusesDivisionByZero) {
  Dataset data;
  data.feature_names = {"a", "b"};
  data.class_names = {"0", "1"};
  data.rows = 3;
  data.cols = 2;
  data.x = {1, 2, 3, 4, 5, 0};
  data.y = {0, 1, 0};
  auto ok = ParseDerivedList({"s = a + b", "t = s * 2"}, data.feature_names);
  ASSERT_TRUE(ok.ok());
  auto out = AddDerived(data, *ok);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->cols, 4u);
  EXPECT_EQ(out->feature_names, (std::vector<std::string>{"a", "b", "s", "t"}));
  EXPECT_EQ(out->x, (std::vector<float>{1, 2, 3, 6, 3, 4, 7, 14, 5, 0, 5, 10}));
  EXPECT_EQ(out->y, data.y);
  // Row 3 has b = 0: a / b is +inf there, which the trainer refuses, naming the row.
  auto div = ParseDerivedList({"r = a / b"}, data.feature_names);
  ASSERT_TRUE(div.ok());
  auto bad = AddDerived(data, *div);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), errc::invalid_argument);
  EXPECT_NE(bad.status().message().find("`r = a / b` is inf on data row 3"), std::string::npos)
      << bad.status().message();
  // Evaluation itself is IEEE 754: x / 0 = inf, 0 / 0 = NaN (what the graph's DIV computes).
  const float zero_row[] = {0, 0};
  const float one_row[] = {1, 0};
  EXPECT_TRUE(std::isnan(EvaluateDerived((*div)[0], zero_row)));
  EXPECT_EQ(EvaluateDerived((*div)[0], one_row), INFINITY);
}

}  // namespace
}  // namespace aiot::ml
