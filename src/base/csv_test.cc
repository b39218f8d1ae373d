#include "base/csv.h"

#include <gtest/gtest.h>

namespace aiot {
namespace {

TEST(Csv, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(CsvCell("fan-1"), "fan-1");
  EXPECT_EQ(CsvCell(""), "");
  EXPECT_EQ(CsvCell("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvCell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvCell("cr\r"), "\"cr\r\"");
  std::string row = "time";
  row += ',';
  AppendCsvCell(row, "x,y");
  EXPECT_EQ(row, "time,\"x,y\"");
}

}  // namespace
}  // namespace aiot
