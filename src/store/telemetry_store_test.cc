#include "store/telemetry_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <future>
#include <random>

#include "base/errc.h"

namespace aiot::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'795'000'020'000;  // 2026-11-18, a whole minute

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            fmt::format("aiot-store-test-{}-{}", ::getpid(), std::random_device{}());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string Telemetry(std::string_view dev, int64_t ts_ms, double rot, double temp) {
  return fmt::format(R"({{"deviceID":"{}","timeStamp":"{}","rotation":{},"temperature":{}}})", dev,
                     FormatTimestamp(ts_ms * 1000000), rot, temp);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.path = dir_.File("t.db");
    config_.rollup_interval_ms = 3600 * 1000;  // only when asked, so tests see both paths
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto s = TelemetryStore::Open(config_, clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  const Series* Find(const SeriesResult& r, std::string_view dev, std::string_view field) {
    for (const auto& s : r.series) {
      if (s.device == dev && s.field == field) return &s;
    }
    return nullptr;
  }

  TempDir dir_;
  ManualClock clock_{(kT0 + 3 * 3600 * 1000) * 1000000};
  StoreConfig config_;
  std::unique_ptr<TelemetryStore> store_;
};

TEST_F(StoreTest, IngestThenQueryRawPoints) {
  ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-1", kT0, 600, 40)));
  ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-1", kT0 + 1000, 610, 41)));
  ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-2", kT0, 500, 30)));
  ASSERT_TRUE(store_->Flush());
  SeriesQuery q;
  q.from_ms = kT0;
  q.to_ms = kT0 + 60000;
  q.devices = {"fan-1"};
  q.fields = {"rotation", "temperature"};
  auto r = store_->Query(q);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->series.size(), 2u);
  const Series* rot = Find(*r, "fan-1", "rotation");
  ASSERT_NE(rot, nullptr);
  EXPECT_EQ(rot->times_ms, (std::vector<int64_t>{kT0, kT0 + 1000}));
  EXPECT_EQ(rot->values, (std::vector<double>{600, 610}));
  // All devices when none is named.
  q.devices.clear();
  r = store_->Query(q);
  ASSERT_TRUE(r);
  ASSERT_NE(Find(*r, "fan-2", "temperature"), nullptr);
  EXPECT_EQ(Find(*r, "fan-2", "temperature")->values, (std::vector<double>{30}));
}

// WriteThen's callback (the Kafka source's Done) runs after the transaction holding the record:
// when it runs, a reader sees the row.
TEST_F(StoreTest, WriteThenCallsBackOnceTheRecordIsCommitted) {
  std::promise<std::pair<bool, size_t>> seen;
  auto rec = store_->Parse("fan/messages", Telemetry("fan-9", kT0, 600, 40));
  ASSERT_TRUE(rec);
  ASSERT_TRUE(store_->WriteThen(std::move(*rec), [&](bool committed) {
    SeriesQuery q;
    q.from_ms = kT0;
    q.to_ms = kT0 + 1000;
    q.devices = {"fan-9"};
    q.fields = {"rotation"};
    auto r = store_->Query(q);
    seen.set_value({committed, r && !r->series.empty() ? r->series[0].values.size() : 0});
  }));
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get(), std::make_pair(true, size_t{1}));
}

TEST_F(StoreTest, SameTimestampMergesFields) {
  ASSERT_TRUE(store_->Ingest("fan/messages", R"({"deviceID":"d","timeStamp":1000,"rotation":1})"));
  ASSERT_TRUE(store_->Ingest("fan/messages", R"({"deviceID":"d","timeStamp":1000,"sound":2})"));
  ASSERT_TRUE(store_->Flush());
  SeriesQuery q;
  q.from_ms = 0;
  q.to_ms = 2000;
  q.fields = {"rotation", "sound"};
  auto r = store_->Query(q);
  ASSERT_TRUE(r);
  EXPECT_EQ(Find(*r, "d", "rotation")->values, (std::vector<double>{1}));
  EXPECT_EQ(Find(*r, "d", "sound")->values, (std::vector<double>{2}));
}

TEST_F(StoreTest, BucketedQueriesAgreeBeforeAndAfterRollupIncludingLateData) {
  // Two hours of 1 Hz telemetry with a known pattern.
  std::vector<Record> batch;
  for (int64_t i = 0; i < 7200; ++i) {
    TelemetryPoint p;
    p.device = "fan-1";
    p.ts_ms = kT0 + i * 1000;
    p.columns[0] = static_cast<double>(i % 97);
    p.extra.emplace_back("current", static_cast<double>(i % 13));
    batch.emplace_back(std::move(p));
  }
  ASSERT_TRUE(store_->WriteBatch(std::move(batch)));
  ASSERT_TRUE(store_->Flush());
  auto expected = [](int64_t bucket_start, int64_t bucket_ms, int mod, Aggregate agg,
                     const std::vector<std::pair<int64_t, double>>& late) -> double {
    double sum = 0, mn = INFINITY, mx = -INFINITY, last = NAN;
    int64_t n = 0;
    for (int64_t t = bucket_start; t < bucket_start + bucket_ms; t += 1000) {
      int64_t i = (t - kT0) / 1000;
      if (i < 0 || i >= 7200) continue;
      double v = static_cast<double>(i % mod);
      for (auto& [lt, lv] : late) {
        if (lt == t) v = lv;
      }
      sum += v;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      last = v;
      ++n;
    }
    switch (agg) {
      case Aggregate::kMean:
        return sum / static_cast<double>(n);
      case Aggregate::kMin:
        return mn;
      case Aggregate::kMax:
        return mx;
      case Aggregate::kLast:
        return last;
      case Aggregate::kCount:
        return static_cast<double>(n);
      case Aggregate::kSum:
        return sum;
    }
    return double{NAN};
  };
  std::vector<std::pair<int64_t, double>> late;
  auto check = [&](bool expect_rollups) {
    for (Aggregate agg : {Aggregate::kMean, Aggregate::kMin, Aggregate::kMax, Aggregate::kLast,
                          Aggregate::kCount, Aggregate::kSum}) {
      for (int64_t bucket : {60000LL, 300000LL, 45000LL}) {
        SeriesQuery q;
        q.from_ms = kT0 + 30000;  // not minute-aligned: raw head + rollups + raw tail
        q.to_ms = kT0 + 7200 * 1000 - 15000;
        q.devices = {"fan-1"};
        q.fields = {"rotation", "current"};
        q.bucket_ms = bucket;
        q.agg = agg;
        auto r = store_->Query(q);
        ASSERT_TRUE(r) << r.error().message();
        const Series* rot = Find(*r, "fan-1", "rotation");
        const Series* cur = Find(*r, "fan-1", "current");
        ASSERT_NE(rot, nullptr);
        ASSERT_NE(cur, nullptr);
        ASSERT_FALSE(rot->times_ms.empty());
        if (bucket == 60000) {
          EXPECT_EQ(r->used_rollups, expect_rollups);
        }
        for (size_t k = 0; k < rot->times_ms.size(); ++k) {
          int64_t b = rot->times_ms[k];
          // Clip the expected bucket to the query range.
          double want = [&] {
            std::vector<std::pair<int64_t, double>> l = late;
            int64_t lo = std::max(b, q.from_ms), hi = std::min(b + bucket, q.to_ms);
            return expected(lo, hi - lo, 97, agg, l);
          }();
          ASSERT_NEAR(rot->values[k], want, 1e-9)
              << "agg " << AggregateName(agg) << " bucket " << bucket << " at " << b;
        }
        for (size_t k = 0; k < cur->times_ms.size(); ++k) {
          int64_t b = cur->times_ms[k];
          int64_t lo = std::max(b, q.from_ms), hi = std::min(b + bucket, q.to_ms);
          ASSERT_NEAR(cur->values[k], expected(lo, hi - lo, 13, agg, {}), 1e-9);
        }
      }
    }
  };
  check(false);  // nothing rolled up yet: all raw
  ASSERT_TRUE(store_->RunMaintenance());
  check(true);
  // A late point rewrites a value inside an already rolled-up minute: the dirty minute is read
  // from raw until the next rollup, and the rollup is rewritten.
  late = {{kT0 + 600 * 1000, 1000.0}};
  ASSERT_TRUE(store_->Ingest("fan/messages", R"({"deviceID":"fan-1","timeStamp":)" +
                                                 std::to_string(kT0 + 600000) +
                                                 R"(,"rotation":1000})"));
  ASSERT_TRUE(store_->Flush());
  check(true);
  ASSERT_TRUE(store_->RunMaintenance());
  check(true);
}

TEST_F(StoreTest, AnomaliesDevicesAndTimeline) {
  ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-5", kT0, 450, 50)));
  ASSERT_TRUE(store_->Ingest("fan/status/fan-5", R"({"online":true,"model":"fan-mlp@3"})"));
  ASSERT_TRUE(store_->Ingest(
      "fan/anomaly",
      fmt::format(
          R"({{"deviceID":"fan-5","timeStamp":{},"fault":0,"score":0.1,"level":"ok","model":"fan-mlp@3"}})",
          kT0)));
  ASSERT_TRUE(store_->Ingest(
      "fan/anomaly",
      fmt::format(
          R"({{"deviceID":"fan-5","timeStamp":{},"fault":1,"score":0.97,"level":"critical","model":"fan-mlp@3"}})",
          kT0 + 1000)));
  ASSERT_TRUE(store_->Ingest(
      "aiot/alerts",
      fmt::format(R"({{"deviceID":"fan-5","timeStamp":{},"level":"critical","message":"fault"}})",
                  kT0 + 1500)));
  ASSERT_TRUE(store_->Ingest("aiot/events/drift", R"({"feature":"rotation","psi":0.4})"));
  EXPECT_EQ(store_->Ingest("other/topic", "{}").error(), make_error_code(errc::not_found));
  EXPECT_FALSE(store_->Ingest("fan/anomaly", R"({"deviceID":"fan-5","score":[})"));
  ASSERT_TRUE(store_->Flush());

  auto devices = store_->Devices();
  ASSERT_TRUE(devices);
  ASSERT_EQ(devices->size(), 1u);
  const DeviceInfo& d = (*devices)[0];
  EXPECT_EQ(d.name, "fan-5");
  EXPECT_TRUE(d.online);
  EXPECT_EQ(d.model, "fan-mlp@3");
  EXPECT_EQ(d.level, Level::kCritical);
  EXPECT_DOUBLE_EQ(d.score, 0.97);
  EXPECT_EQ(d.last_seen_ms, kT0);
  ASSERT_FALSE(d.latest.empty());
  EXPECT_EQ(d.latest[0].first, "rotation");

  TimelineQuery tq;
  auto tl = store_->Timeline(tq);
  ASSERT_TRUE(tl);
  ASSERT_EQ(tl->size(), 3u);  // the drift event (receive time: newest), the alert, the critical
  EXPECT_EQ((*tl)[0].kind, "drift");
  EXPECT_EQ((*tl)[1].kind, "alert");
  EXPECT_EQ((*tl)[2].kind, "anomaly");
  EXPECT_EQ((*tl)[2].level, Level::kCritical);
  tq.include_ok = true;
  tq.kinds = {"anomaly"};
  tl = store_->Timeline(tq);
  ASSERT_TRUE(tl);
  EXPECT_EQ(tl->size(), 2u);

  SeriesQuery q;
  q.from_ms = kT0;
  q.to_ms = kT0 + 60000;
  q.fields = {"score", "fault"};
  q.bucket_ms = 60000;
  q.agg = Aggregate::kMax;
  auto r = store_->Query(q);
  ASSERT_TRUE(r);
  EXPECT_EQ(Find(*r, "fan-5", "score")->values, (std::vector<double>{0.97}));
  EXPECT_EQ(Find(*r, "fan-5", "fault")->values, (std::vector<double>{1}));
}

TEST_F(StoreTest, RetentionDropsRawButKeepsRollups) {
  for (int i = 0; i < 120; ++i) {
    ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-1", kT0 + i * 1000, i, 1)));
  }
  ASSERT_TRUE(store_->RunMaintenance());
  clock_.Advance(std::chrono::hours(24 * 8));
  ASSERT_TRUE(store_->RunMaintenance());
  SeriesQuery q;
  q.from_ms = kT0;
  q.to_ms = kT0 + 120000;
  q.fields = {"rotation"};
  auto raw = store_->Query(q);
  ASSERT_TRUE(raw);
  EXPECT_TRUE(Find(*raw, "fan-1", "rotation")->times_ms.empty());
  q.bucket_ms = 60000;
  auto rolled = store_->Query(q);
  ASSERT_TRUE(rolled);
  EXPECT_EQ(Find(*rolled, "fan-1", "rotation")->values, (std::vector<double>{29.5, 89.5}));
  clock_.Advance(std::chrono::hours(24 * 400));
  ASSERT_TRUE(store_->RunMaintenance());
  rolled = store_->Query(q);
  ASSERT_TRUE(rolled);
  EXPECT_TRUE(Find(*rolled, "fan-1", "rotation")->times_ms.empty());
}

TEST_F(StoreTest, ReopenKeepsDataAndAddsConfiguredColumns) {
  ASSERT_TRUE(store_->Ingest("fan/messages",
                             R"({"deviceID":"d","timeStamp":1000,"rotation":1,"current":7})"));
  ASSERT_TRUE(store_->Flush());
  config_.fields.push_back("current");
  Reopen();
  EXPECT_GE(store_->schema().ColumnOf("current"), 0);
  ASSERT_TRUE(store_->Ingest("fan/messages",
                             R"({"deviceID":"d","timeStamp":2000,"rotation":2,"current":8})"));
  ASSERT_TRUE(store_->Flush());
  SeriesQuery q;
  q.from_ms = 0;
  q.to_ms = 3000;
  q.fields = {"rotation", "current"};
  auto r = store_->Query(q);
  ASSERT_TRUE(r);
  EXPECT_EQ(Find(*r, "d", "rotation")->values, (std::vector<double>{1, 2}));
  // The old value stays in the side table; new ones land in the column.
  EXPECT_EQ(Find(*r, "d", "current")->values, (std::vector<double>{8}));
}

TEST_F(StoreTest, RejectsBadConfig) {
  StoreConfig bad = config_;
  bad.path = dir_.File("bad.db");
  bad.fields = {"rotation", "x;drop table"};
  auto r = TelemetryStore::Open(bad, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::invalid_argument));
  EXPECT_NE(r.status().message().find("store.fields: `x;drop table`"), std::string::npos)
      << r.status().ToString();
  bad.fields = {"score"};
  EXPECT_FALSE(TelemetryStore::Open(bad, clock_));
  bad.fields = {"rotation"};
  bad.path = dir_.File("missing-dir/t.db");
  r = TelemetryStore::Open(bad, clock_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find(bad.path), std::string::npos) << r.status().ToString();
}

TEST_F(StoreTest, ErrorsSayWhy) {
  EXPECT_EQ(store_->Ingest("other/topic", "{}").message(), "not a topic the store reads");
  EXPECT_EQ(store_->Ingest("fan/anomaly", R"({"deviceID":"d","score":"high"})").message(),
            "`score` is not a number");
  Status st = store_->Ingest("fan/messages", R"({"deviceID":"d","rotation":"fast"})");
  EXPECT_EQ(st.code(), make_error_code(errc::parse_error));
  EXPECT_NE(st.message().find("rotation"), std::string::npos) << st.ToString();
  // A query larger than max_query_points says so.
  config_.max_query_points = 10;
  Reopen();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_->Ingest("fan/messages", Telemetry("fan-1", kT0 + i * 1000, i, 1)));
  }
  ASSERT_TRUE(store_->Flush());
  SeriesQuery q;
  q.from_ms = kT0;
  q.to_ms = kT0 + 60000;
  q.fields = {"rotation"};
  auto r = store_->Query(q);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::out_of_range));
  EXPECT_NE(r.status().message().find("max_query_points"), std::string::npos)
      << r.status().ToString();
}

}  // namespace
}  // namespace aiot::store
