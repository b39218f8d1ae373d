#include "ml/data/ttf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "base/errc.h"

namespace aiot::ml {
namespace {

constexpr int64_t kTtfHour = 3600'000'000'000;

// Two devices. "a" fails at 10 h, is repaired at 11 h, is repaired again (preventive) at 15 h and
// fails at 20 h; readings until 22 h. "b" never fails; readings 0..9 h.
struct TtfCase {
  std::vector<std::string> device;
  std::vector<int64_t> time;
  std::vector<MaintenanceEvent> events;
};
TtfCase MakeTtfCase() {
  TtfCase c;
  for (int h : {0, 4, 10, 12, 14, 16, 19, 22}) {
    c.device.push_back("a");
    c.time.push_back(h * kTtfHour);
  }
  for (int h : {0, 3, 9}) {
    c.device.push_back("b");
    c.time.push_back(h * kTtfHour);
  }
  using K = MaintenanceEvent::Kind;
  c.events = {{"a", 20 * kTtfHour, K::kFailure}, {"a", 11 * kTtfHour, K::kRepair},
              {"a", 10 * kTtfHour, K::kFailure}, {"a", 15 * kTtfHour, K::kRepair},
              {"a", 13 * kTtfHour, K::kOther},   {"z", 5 * kTtfHour, K::kFailure},
              {"b", 2 * kTtfHour, K::kOther}};
  return c;
}

TEST(TimeToFailureTest, HoursToTheNextFailureCensoredByRepairsAndTheEndOfData) {
  const TtfCase c = MakeTtfCase();
  TtfStats st;
  const std::vector<float> h = TimeToFailureHours(c.device, c.time, c.events, 0, &st);
  ASSERT_EQ(h.size(), 11u);
  EXPECT_FLOAT_EQ(h[0], 10);  // a at 0 h: fails at 10 h
  EXPECT_FLOAT_EQ(h[1], 6);
  EXPECT_FLOAT_EQ(h[2], 0);  // the failure's own time
  // 12 h and 14 h: the repair at 15 h comes before the failure at 20 h: censored (unknown).
  EXPECT_TRUE(std::isnan(h[3]));
  EXPECT_TRUE(std::isnan(h[4]));
  EXPECT_FLOAT_EQ(h[5], 4);  // 16 h: after the repair, fails at 20 h
  EXPECT_FLOAT_EQ(h[6], 1);
  EXPECT_TRUE(std::isnan(h[7]));  // 22 h: no failure after it
  // b never fails (the failure of "z" and inspections change nothing): all censored.
  EXPECT_TRUE(std::isnan(h[8]) && std::isnan(h[9]) && std::isnan(h[10]));
  EXPECT_EQ(st.rows, 11u);
  EXPECT_EQ(st.exact, 5u);
  EXPECT_EQ(st.censored, 6u);
  EXPECT_EQ(st.capped, 0u);
  EXPECT_EQ(st.failures, 2u);
}

TEST(TimeToFailureTest, AHorizonCapsTheTargetAndKeepsReadingsCensoredBeyondIt) {
  const TtfCase c = MakeTtfCase();
  TtfStats st;
  const std::vector<float> h = TimeToFailureHours(c.device, c.time, c.events, 5, &st);
  EXPECT_FLOAT_EQ(h[0], 5);  // 10 h to failure, capped
  EXPECT_FLOAT_EQ(h[1], 5);  // 6 h, capped
  EXPECT_FLOAT_EQ(h[2], 0);
  EXPECT_TRUE(std::isnan(h[3]));  // censored by the repair 3 h later: < 5 h, unknown
  EXPECT_TRUE(std::isnan(h[4]));  // 1 h before the repair
  EXPECT_FLOAT_EQ(h[5], 4);
  EXPECT_FLOAT_EQ(h[6], 1);
  EXPECT_TRUE(std::isnan(h[7]));   // observed 0 h after
  EXPECT_FLOAT_EQ(h[8], 5);        // b at 0 h: seen healthy for 9 h >= 5 h: capped value known
  EXPECT_FLOAT_EQ(h[9], 5);        // b at 3 h: seen for 6 h
  EXPECT_TRUE(std::isnan(h[10]));  // b at 9 h: its last reading
  EXPECT_EQ(st.exact, 3u);
  EXPECT_EQ(st.capped, 4u);
  EXPECT_EQ(st.censored, 4u);
}

TEST(TimeToFailureTest, MaintenanceCsvIsCheckedCellByCell) {
  auto t = ParseCsv(
      "device,kind,at,mode\nfan-1,failure,2026-01-01T10:00:00Z,bearing\n"
      "fan-1,repair,2026-01-01 11:00:00,bearing\nfan-2,inspection,2026-01-01T00:00:00Z,\n");
  ASSERT_TRUE(t.ok());
  auto e = ParseMaintenanceCsv(*t);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0].kind, MaintenanceEvent::Kind::kFailure);
  EXPECT_EQ((*e)[1].kind, MaintenanceEvent::Kind::kRepair);
  EXPECT_EQ((*e)[1].at - (*e)[0].at, kTtfHour);  // a time without a zone is UTC
  EXPECT_EQ((*e)[2].kind, MaintenanceEvent::Kind::kOther);

  auto bad_time = ParseCsv("device,kind,at\nfan-1,failure,yesterday\n");
  auto r = ParseMaintenanceCsv(*bad_time);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), errc::parse_error);
  EXPECT_NE(r.status().message().find("line 2, column `at`"), std::string::npos)
      << r.status().message();
  auto bad_kind = ParseCsv("device,kind,at\nfan-1,exploded,2026-01-01T00:00:00Z\n");
  EXPECT_FALSE(ParseMaintenanceCsv(*bad_kind).ok());
  auto no_device = ParseCsv("kind,at\nfailure,2026-01-01T00:00:00Z\n");
  EXPECT_FALSE(ParseMaintenanceCsv(*no_device).ok());
}

// The datastore's JSON (`aiot maintenance list --json`, datastore/maintenance_json.cc's ToJson)
// gives the same events as the CSV, and either is told by content.
TEST(TimeToFailureTest, MaintenanceJsonAsTheDatastoreGivesIt) {
  const std::string csv =
      "device,kind,at,mode\nfan-1,failure,2026-01-01T10:00:00Z,bearing\n"
      "fan-1,repair,2026-01-01 11:00:00,bearing\nfan-2,inspection,2026-01-01T00:00:00Z,\n";
  const std::string json = R"({
  "records": [
    {"at": "2026-01-01T10:00:00Z", "device": "fan-1", "kind": "failure", "mode": "bearing",
     "recorded_at": "2026-01-02T00:00:00Z", "source": "api:alice"},
    {"at": "2026-01-01T11:00:00Z", "device": "fan-1", "kind": "repair", "mode": "bearing"},
    {"at": "2026-01-01T00:00:00Z", "device": "fan-2", "kind": "inspection", "mode": "",
     "note": "ok"}
  ]
})";
  auto from_csv = ParseMaintenanceRecords(csv);
  auto from_json = ParseMaintenanceRecords("\xEF\xBB\xBF\n" + json);
  ASSERT_TRUE(from_csv.ok()) << from_csv.status().ToString();
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  ASSERT_EQ(from_json->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*from_json)[i].device, (*from_csv)[i].device) << i;
    EXPECT_EQ((*from_json)[i].at, (*from_csv)[i].at) << i;
    EXPECT_EQ((*from_json)[i].kind, (*from_csv)[i].kind) << i;
  }
  // A bare array; deviceID, a null kind and the older failure_at are the datastore's too.
  auto bare = ParseMaintenanceJson(
      R"([{"deviceID":"fan-3","kind":null,"failure_at":"2026-01-01 02:00:00"}])");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  ASSERT_EQ(bare->size(), 1u);
  EXPECT_EQ((*bare)[0].device, "fan-3");
  EXPECT_EQ((*bare)[0].kind, MaintenanceEvent::Kind::kFailure);
  EXPECT_EQ((*bare)[0].at - (*from_csv)[2].at, 2 * kTtfHour);
  auto empty = ParseMaintenanceRecords(R"({"records":[]})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(TimeToFailureTest, HostileMaintenanceJsonNamesLineColumnOrRecord) {
  auto expect = [](const std::string& text, const std::string& where) {
    auto r = ParseMaintenanceRecords(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), errc::parse_error) << text;
    EXPECT_NE(r.status().message().find(where), std::string::npos)
        << text << " -> " << r.status().message();
  };
  expect("{\"records\": [\n  {\"device\": \"a\",\n   \"at\": 2026-01-01}\n]}", "line 3, column ");
  expect("{\"records\": [", "not valid JSON");
  expect("[" + std::string(100000, '['), "not valid JSON");  // deep nesting, unterminated
  expect(R"({"rows":[]})", "`records` array");
  expect(R"({"records":{"device":"a"}})", "must be an array");
  expect(R"([{"device":"a","at":"2026-01-01T00:00:00Z"}, 7])",
         "record 2: a maintenance record must be a JSON object");
  expect(R"([{"device":5,"at":"2026-01-01T00:00:00Z"}])", "record 1: `device`");
  expect(R"([{"device":"","at":"2026-01-01T00:00:00Z"}])", "record 1: empty device id");
  expect(R"([{"device":"a","kind":"exploded","at":"2026-01-01T00:00:00Z"}])", "record 1: `kind`");
  expect(R"([{"device":"a","kind":"repair"}])", "record 1: `at` must be a string");
  expect(R"([{"device":"a"}])", "record 1: `at` must be a string");
  expect(R"([{"device":"a","at":"yesterday"}])", "record 1: `at`: `yesterday` is not a time");
  expect(R"([{"device":"a","at":1767225600}])", "record 1: `at` must be a string");
}

TEST(TimeToFailureTest, GroupSplitHoldsOutWholeDevices) {
  std::vector<int32_t> group;
  for (int g = 0; g < 10; ++g) group.insert(group.end(), 100, g);
  const Split s = RandomSplit(group.size(), group, 0.3, 0.2, 7);
  EXPECT_EQ(s.train.size() + s.validation.size() + s.test.size(), group.size());
  std::set<int32_t> train, val, test;
  for (size_t i : s.train) train.insert(group[i]);
  for (size_t i : s.validation) val.insert(group[i]);
  for (size_t i : s.test) test.insert(group[i]);
  EXPECT_EQ(test.size(), 3u);
  EXPECT_EQ(val.size(), 1u);
  EXPECT_EQ(train.size(), 6u);
  for (int32_t g : test) EXPECT_TRUE(!train.count(g) && !val.count(g));
  for (int32_t g : val) EXPECT_FALSE(train.count(g));
}

}  // namespace
}  // namespace aiot::ml
