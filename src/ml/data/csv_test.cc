#include "ml/data/csv.h"

#include <gtest/gtest.h>

#include "base/csv.h"
#include "base/errc.h"

namespace aiot::ml {
namespace {

TEST(CsvTest, HeaderQuotesBomCrlf) {
  std::string text =
      "\xEF\xBB\xBFname,\"note, with comma\",value\r\n"
      "a,\"say \"\"hi\"\"\",1.5\r\n"
      "\r\n"
      "b,\"two\nlines\",2\r\n";
  auto t = ParseCsv(text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->header.size(), 3u);
  EXPECT_EQ(t->header[0], "name");
  EXPECT_EQ(t->header[1], "note, with comma");
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "say \"hi\"");
  EXPECT_EQ(t->rows[1][1], "two\nlines");
  EXPECT_EQ(t->rows[1][2], "2");
  EXPECT_EQ(t->Column("value"), 2);
  EXPECT_EQ(t->Column("nope"), -1);
}

TEST(CsvTest, NoTrailingNewlineAndEmptyCells) {
  auto t = ParseCsv("a,b\n1,\n,2");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "");
  EXPECT_EQ(t->rows[1][0], "");
}

TEST(CsvTest, WrongFieldCountNamesTheLine) {
  auto t = ParseCsv("a,b\n1,2\n3\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error(), errc::parse_error);
  const std::string err = t.status().message();
  EXPECT_NE(err.find("line 3"), std::string::npos) << err;
  EXPECT_NE(err.find("expected 2 fields, found 1"), std::string::npos) << err;
}

TEST(CsvTest, UnterminatedQuote) {
  auto t = ParseCsv("a,b\n1,\"oops\n");
  EXPECT_FALSE(t.ok());
  const std::string err = t.status().message();
  EXPECT_NE(err.find("line 2, column 2"), std::string::npos) << err;
}

TEST(CsvTest, EmptyInputIsAnError) {
  EXPECT_FALSE(ParseCsv("").ok());
  EXPECT_FALSE(ParseCsv("\xEF\xBB\xBF").ok());
  EXPECT_EQ(ParseCsv("").status().message(), "empty CSV: no header");
}

TEST(CsvTest, ReadCsvFileNamesThePath) {
  auto missing = ReadCsvFile("/nonexistent/dir/x.csv");
  EXPECT_EQ(missing.error(), errc::not_found);
  EXPECT_EQ(missing.status().message(),
            "cannot open /nonexistent/dir/x.csv: No such file or directory");
}

TEST(CsvTest, ParseNumber) {
  double v = 0;
  EXPECT_TRUE(ParseNumber(" 12.5 ", &v));
  EXPECT_DOUBLE_EQ(v, 12.5);
  EXPECT_TRUE(ParseNumber("-3e2", &v));
  EXPECT_DOUBLE_EQ(v, -300);
  EXPECT_TRUE(ParseNumber("+4", &v));
  EXPECT_FALSE(ParseNumber("", &v));
  EXPECT_FALSE(ParseNumber("abc", &v));
  EXPECT_FALSE(ParseNumber("1.2.3", &v));
  EXPECT_FALSE(ParseNumber("nan", &v));
  EXPECT_FALSE(ParseNumber("inf", &v));
}

TEST(CsvTest, EscapeRoundTrips) {
  std::string cell = "a \"b\", c";
  auto t = ParseCsv("x\n" + CsvCell(cell) + "\n");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rows[0][0], cell);
  EXPECT_EQ(CsvCell("plain"), "plain");
}

}  // namespace
}  // namespace aiot::ml
