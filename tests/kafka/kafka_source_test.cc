// `source: kafka` for the telemetry store and the training datastore, as users run it: `aiot up`
// as a child process with `store.source: kafka` and `datastore.source: kafka`, librdkafka's mock
// cluster in this process (real TCP), the records written by kcat, the SQLite files read back by
// the sqlite3 shell. A record's offset is committed only after the SQLite transaction holding it:
// kill -9 in the middle of the stream, restart, and every record is there. The store is
// idempotent (key device, timestamp: a record read twice is one row); the datastore keeps a row
// per record read, so duplicates are counted and printed. A record with a bad payload is counted
// and committed past (never a stall).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <iostream>
#include <set>
#include <sstream>

#include "kafka/mock_cluster.h"
#include "tests/kafka/aiot_process.h"
#include "tests/support/run.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testing.h"

namespace aiot {
namespace {

using kafka::testing::KcatAvailable;
using kafka::testing::KcatWrite;
using kafka::testing::MockCluster;
using kafka_test::AiotProcess;
using kafka_test::MetricAt;
using std::chrono::seconds;
using test_support::FreePort;
using test_support::WaitFor;

constexpr int kDevices = 8;

// kcat -K: input: records `from`..`to`-1, round robin over the devices, one second apart.
std::string KcatLines(int64_t base_ms, int from, int to) {
  std::string lines;
  for (int n = from; n < to; ++n) {
    const std::string device = fmt::format("fan-{:04d}", n % kDevices);
    lines += fmt::format(
        "{}:{{\"deviceID\":\"{}\",\"timeStamp\":{},\"rotation\":{},\"temperature\":40.5,"
        "\"vibration\":150.25,\"sound\":50.0}}\n",
        device, device, base_ms + int64_t{n} * 1000, 600 + n % 100);
  }
  return lines;
}

// "device|ts" lines of a query (sqlite3 shell, list mode).
std::multiset<std::string> Rows(const std::string& db, const std::string& sql) {
  auto r = test_support::RunCommand(fmt::format("sqlite3 {} \"{}\"", db, sql),
                                    test_support::Capture::kStdout);
  std::multiset<std::string> rows;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) rows.insert(line);
  }
  return rows;
}

class KafkaSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
    if (test_support::RunCommand("sqlite3 -version").exit_code != 0) {
      AIOT_SKIP_WITHOUT_PEER("the sqlite3 shell is not installed");
    }
    auto c = MockCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status().message();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->CreateTopic("aiot.telemetry", 3).ok());
    base_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() -
               3'600'000;
  }

  // `aiot up` with both services reading Kafka; returns once both have their 3 partitions.
  std::unique_ptr<AiotProcess> StartUp() {
    http_port_ = FreePort();
    std::vector<std::string> args = {"up", "--log-level", "warn"};
    for (const std::string& s :
         {fmt::format("http.listen=127.0.0.1:{}", http_port_),
          fmt::format("broker.listeners=[127.0.0.1:{}]", FreePort()),
          "registry.data_dir=" + tmp_.File("var"), "store.path=" + tmp_.File("telemetry.db"),
          std::string("bootstrap.enabled=false"), std::string("datastore.flush_interval_ms=50"),
          std::string("store.source=kafka"), std::string("datastore.source=kafka")}) {
      args.insert(args.end(), {"--set", s});
    }
    for (const char* service : {"store", "datastore"}) {
      for (const std::string& s :
           {fmt::format("{}.kafka.bootstrap_servers={}", service, cluster_->bootstraps()),
            fmt::format("{}.kafka.commit_interval_ms=50", service),
            // A killed member's partitions move after the session timeout (the mock's least).
            fmt::format("{}.kafka.kafka={{session.timeout.ms: '6000', "
                        "heartbeat.interval.ms: '300'}}",
                        service)}) {
        args.insert(args.end(), {"--set", s});
      }
    }
    auto up = std::make_unique<AiotProcess>(std::move(args));
    EXPECT_TRUE(up->Start([&] { return Partitions("store") == 3 && Partitions("datastore") == 3; },
                          seconds(120)))
        << "aiot up did not get its partitions";
    return up;
  }

  double Metric(const std::string& prefix) const {
    return MetricAt(http_port_, prefix).value_or(0);
  }
  double Partitions(const std::string& service) const {
    return Metric(fmt::format("aiot_kafka_source_partitions{{service=\"{}\"}}", service));
  }
  double Records(const std::string& service) const {
    return Metric(fmt::format("aiot_kafka_source_records_total{{service=\"{}\"}}", service));
  }

  bool Write(int from, int to) {
    return KcatWrite(cluster_->bootstraps(), "-P -t aiot.telemetry -K : -H mqtt.topic=fan/messages",
                     KcatLines(base_ms_, from, to));
  }

  std::multiset<std::string> StoreRows() const {
    return Rows(tmp_.File("telemetry.db"),
                "SELECT d.name || '|' || t.ts FROM telemetry t JOIN devices d ON d.id = t.device");
  }
  std::multiset<std::string> DatastoreRows() const {  // its ts is in nanoseconds
    return Rows(tmp_.File("var") + "/datastore.db",
                "SELECT device || '|' || (ts / 1000000) FROM telemetry");
  }
  std::string Key(int n) const {
    return fmt::format("fan-{:04d}|{}", n % kDevices, base_ms_ + int64_t{n} * 1000);
  }

  test_support::TempDir tmp_{"aiot-kafka-source"};
  std::unique_ptr<MockCluster> cluster_;
  int64_t base_ms_ = 0;
  uint16_t http_port_ = 0;
};

TEST_F(KafkaSourceTest, StoreAndDatastoreLoseNothingAcrossKill9) {
  constexpr int kTotal = 3000;
  auto up = StartUp();
  ASSERT_TRUE(up->running());
  // First part, and a record with a bad payload among it, read and committed.
  ASSERT_TRUE(Write(0, 1000));
  ASSERT_TRUE(
      KcatWrite(cluster_->bootstraps(), "-P -t aiot.telemetry -K :", "fan-0000:not json\n"));
  ASSERT_TRUE(WaitFor([&] {
    return Metric(R"(aiot_kafka_source_commits_total{service="store"})") > 0 &&
           Metric(R"(aiot_kafka_source_commits_total{service="datastore"})") > 0 &&
           Metric(R"(aiot_messages_rejected_total{component="store",reason="not_json"})") == 1 &&
           Metric(R"(aiot_messages_rejected_total{component="ingest",reason="not_json"})") == 1;
  }));
  // The rest written while aiot runs; kill -9 in the middle of it.
  auto rest = std::async(std::launch::async, [&] { return Write(1000, kTotal); });
  ASSERT_TRUE(WaitFor([&] { return Records("store") > 1200; }, seconds(60)));
  up->Kill9();
  ASSERT_TRUE(rest.get());

  up = StartUp();
  ASSERT_TRUE(up->running());
  std::multiset<std::string> store, datastore;
  ASSERT_TRUE(WaitFor(
      [&] {
        store = StoreRows();
        datastore = DatastoreRows();
        return std::set<std::string>(store.begin(), store.end()).size() >= kTotal &&
               std::set<std::string>(datastore.begin(), datastore.end()).size() >= kTotal;
      },
      seconds(90), std::chrono::milliseconds(250)))
      << store.size() << " store rows, " << datastore.size() << " datastore rows";
  EXPECT_EQ(up->Terminate(), 0);  // leaves the groups after committing what is stored

  store = StoreRows();
  datastore = DatastoreRows();
  for (int n = 0; n < kTotal; ++n) {
    EXPECT_EQ(store.count(Key(n)), 1u) << "store: record " << n;
    EXPECT_GE(datastore.count(Key(n)), 1u) << "datastore: lost record " << n;
  }
  EXPECT_EQ(store.size(), size_t{kTotal});  // idempotent: (device, ts) is its key
  const size_t duplicates =
      datastore.size() - std::set<std::string>(datastore.begin(), datastore.end()).size();
  std::cout << fmt::format(
      "store: {} rows for {} records; datastore: {} rows, {} duplicates (read again after kill "
      "-9)\n",
      store.size(), kTotal, datastore.size(), duplicates);

  // Everything, the bad record too, was committed: a new member reads only what is new.
  up = StartUp();
  ASSERT_TRUE(up->running());
  ASSERT_TRUE(Write(kTotal, kTotal + 1));
  ASSERT_TRUE(WaitFor([&] { return DatastoreRows().count(Key(kTotal)) == 1; }, seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return StoreRows().count(Key(kTotal)) == 1; }, seconds(30)));
  EXPECT_EQ(Records("store"), 1);
  EXPECT_EQ(Records("datastore"), 1);
  EXPECT_EQ(up->Terminate(), 0);
}

}  // namespace
}  // namespace aiot
