#include "store/query.h"

#include <gtest/gtest.h>

namespace aiot::store {
namespace {

TEST(SeriesQuery, ParsesParameters) {
  const int64_t now = 1'800'000'000'000;
  auto q = ParseSeriesQuery({{"devices", "a, b"},
                             {"fields", "rotation,score"},
                             {"from", "-1d"},
                             {"to", "now"},
                             {"bucket", "60s"},
                             {"agg", "max"},
                             {"format", "csv"}},
                            now);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->devices, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q->fields, (std::vector<std::string>{"rotation", "score"}));
  EXPECT_EQ(q->from_ms, now - 86'400'000);
  EXPECT_EQ(q->to_ms, now);
  EXPECT_EQ(q->bucket_ms, 60'000);
  EXPECT_EQ(q->agg, Aggregate::kMax);
  auto r = ParseSeriesQuery({{"from", "2026-11-22T10:00:00Z"}, {"to", "1796000000000"}}, now);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->to_ms, 1796000000000);
  EXPECT_FALSE(ParseSeriesQuery({{"agg", "median"}}, now));
  EXPECT_FALSE(ParseSeriesQuery({{"bucket", "fast"}}, now));
  EXPECT_FALSE(ParseSeriesQuery({{"from", "-1h"}, {"to", "-2h"}}, now));
  EXPECT_FALSE(ParseSeriesQuery({{"colour", "red"}}, now));
}

TEST(SeriesFormat, JsonAndCsv) {
  SeriesResult r;
  r.query.from_ms = 0;
  r.query.to_ms = 120000;
  r.query.bucket_ms = 60000;
  r.series.push_back({"fan\"1", "rotation", {0, 60000}, {1.5, 2}});
  r.series.push_back({"fan\"1", "score", {60000}, {0.25}});
  EXPECT_EQ(FormatSeriesJson(r),
            R"({"from":0,"to":120000,"bucket_ms":60000,"agg":"mean","series":[)"
            R"({"device":"fan\"1","field":"rotation","t":[0,60000],"v":[1.5,2]},)"
            R"({"device":"fan\"1","field":"score","t":[60000],"v":[0.25]}]})");
  EXPECT_EQ(FormatSeriesCsv(r),
            "time,device,rotation,score\r\n"
            "1970-01-01T00:00:00.000Z,\"fan\"\"1\",1.5,\r\n"
            "1970-01-01T00:01:00.000Z,\"fan\"\"1\",2,0.25\r\n");
}

}  // namespace
}  // namespace aiot::store
