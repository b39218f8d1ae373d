// `aiot predictor` with `source: kafka`, as users scale it out: two processes in one consumer
// group read a 4-partition topic of librdkafka's mock cluster (in this process, real TCP; the
// records written by kcat), publish results to mosquitto; one is killed with SIGKILL and the
// other takes its partitions over from the group's last commit: every record is scored at least
// once (duplicates counted and printed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "harness.h"
#include "kafka/mock_cluster.h"
#include "services/test_models.h"
#include "tests/kafka/aiot_process.h"
#include "tests/support/testing.h"

namespace aiot::services {
namespace {

using aiot::test_support::WaitFor;
using kafka::testing::KcatAvailable;
using kafka::testing::KcatWrite;
using kafka::testing::MockCluster;
using kafka_test::MetricAt;
using mqtt::testing::FreePort;
using mqtt::testing::IoThread;
using mqtt::testing::Mosquitto;
using std::chrono::seconds;
using testing::ClientConfig;
using testing::Collector;

// `aiot predictor` consuming Kafka, with its HTTP server (for /metrics) on a free port.
class PredictorProcess {
 public:
  PredictorProcess(const std::string& id, std::vector<std::string> args)
      : http_port_(FreePort()), process_([&] {
          args.insert(args.begin(), {"--log-level", "warn"});
          args.insert(args.end(),
                      {"--client-id", id, "--http", fmt::format("127.0.0.1:{}", http_port_)});
          return args;
        }()) {
    started_ = process_.Start([this] {  // serving HTTP
      net::testing::TestClient client(http_port_);
      return client.connected() &&
             client.Roundtrip(net::testing::GetRequest("/healthz"), 5000).has_value();
    });
  }
  bool started() const { return started_; }
  void Kill9() { process_.Kill9(); }
  // The value of the /metrics line that starts with `prefix`, 0 if none.
  double Metric(const std::string& prefix) const {
    return MetricAt(http_port_, prefix).value_or(0);
  }
  double Partitions() const {
    return Metric(R"(aiot_kafka_source_partitions{service="predictor"})");
  }
  double Records() const {
    return Metric(R"(aiot_kafka_source_records_total{service="predictor"})");
  }

 private:
  uint16_t http_port_;
  kafka_test::AiotProcess process_;
  bool started_ = false;
};

// mosquitto for the results, a three-broker mock cluster for the readings, a fan model.
class KafkaPredictorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Mosquitto::Available()) AIOT_SKIP_WITHOUT_PEER("/usr/sbin/mosquitto not installed");
    if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
    ASSERT_TRUE(broker_.Start());
    auto cluster = MockCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status().message();
    cluster_ = std::move(*cluster);
    model_ = dir_.Path("fan.tflite");
    ASSERT_TRUE(testing::WriteFanTflite(model_, "fan-mlp", 1.0f, 55.0f, true).ok());
  }
  std::string bootstraps() const { return cluster_->bootstraps(); }

  Mosquitto broker_;
  std::unique_ptr<MockCluster> cluster_;
  testing::TempDir dir_;
  std::string model_;
  IoThread io_;
};

// kcat input "key:value" lines: readings `from`..`to`-1 of 16 devices, round robin.
std::string Records(int from, int to) {
  std::string lines;
  for (int n = from; n < to; ++n) {
    const std::string device = fmt::format("fan-{:02d}", n % 16);
    lines += device + ":" + testing::Reading(device, 50, n) + "\n";
  }
  return lines;
}

// The readings scored so far, by timeStamp (unique per reading), with how often.
std::map<std::string, int> Scored(Collector& out) {
  std::map<std::string, int> seen;
  for (const auto& r : out.On("fan/anomaly")) {
    if (r.contains("timeStamp") && r["timeStamp"].is_string()) seen[r["timeStamp"]]++;
  }
  return seen;
}

TEST_F(KafkaPredictorTest, TwoInstancesInOneGroupSplitPartitionsAndOneTakesOverAfterSigkill) {
  ASSERT_TRUE(cluster_->CreateTopic("aiot.telemetry", 4).ok());
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"), {"fan/anomaly"});
  ASSERT_TRUE(out.WaitSubscribed());
  const std::vector<std::string> args = {
      "--set", "predictor.source=kafka", "--set",
      "predictor.kafka.bootstrap_servers=" + bootstraps(), "--set", "predictor.kafka.group=scorers",
      "--set", "predictor.kafka.commit_interval_ms=50",
      // A dead member's partitions move after the session timeout (the mock's minimum).
      "--set", "predictor.kafka.kafka={session.timeout.ms: '6000', heartbeat.interval.ms: '300'}",
      "--set", "predictor.qos=1", "predictor", "--mqtt", broker_.url(), "--model", model_};
  PredictorProcess a("scorer-a", args), b("scorer-b", args);
  ASSERT_TRUE(a.started() && b.started());
  // Both in the group, the four partitions split between them.
  ASSERT_TRUE(WaitFor(
      [&] {
        return a.Partitions() >= 1 && b.Partitions() >= 1 && a.Partitions() + b.Partitions() == 4;
      },
      seconds(60), std::chrono::milliseconds(200)))
      << a.Partitions() << " + " << b.Partitions();

  ASSERT_TRUE(KcatWrite(bootstraps(), "-P -t aiot.telemetry -K :", Records(0, 200)));
  ASSERT_TRUE(WaitFor([&] { return Scored(out).size() == 200; }, seconds(60)));
  EXPECT_GT(a.Records(), 0);  // both scored a share
  EXPECT_GT(b.Records(), 0);

  // Offsets are committed after the results are acknowledged (not by librdkafka on its own).
  ASSERT_TRUE(WaitFor([&] {
    return a.Metric(R"(aiot_kafka_source_commits_total{service="predictor"})") > 0 &&
           b.Metric(R"(aiot_kafka_source_commits_total{service="predictor"})") > 0;
  }));
  a.Kill9();  // no leave, no final commit: what it scored since its last commit is read again
  ASSERT_TRUE(KcatWrite(bootstraps(), "-P -t aiot.telemetry -K :", Records(200, 400)));
  std::map<std::string, int> seen;
  EXPECT_TRUE(WaitFor(
      [&] {
        seen = Scored(out);
        return seen.size() == 400;
      },
      seconds(90), std::chrono::milliseconds(300)));
  EXPECT_EQ(b.Partitions(), 4);
  size_t duplicates = 0;
  for (const auto& [ts, n] : seen) duplicates += n - 1;
  std::cout << fmt::format("{} of 400 readings scored, {} scored twice or more\n", seen.size(),
                           duplicates);
  for (int n = 0; n < 400; ++n) {
    const auto reading = nlohmann::json::parse(testing::Reading("x", 50, n));
    EXPECT_TRUE(seen.contains(reading["timeStamp"].get<std::string>())) << "lost reading " << n;
  }
}

// results_to: both: each reading's result is published on MQTT and written to Kafka (key = the
// device id), readable by kcat; a record with a bad payload is dead-lettered on MQTT, counted,
// and the records after it are scored and committed (no stall).
TEST_F(KafkaPredictorTest, ResultsToBothReachKafkaAndMqttAndABadRecordIsDeadLettered) {
  ASSERT_TRUE(cluster_->CreateTopic("aiot.telemetry", 2).ok());
  ASSERT_TRUE(cluster_->CreateTopic("aiot.anomaly", 2).ok());
  Collector out(io_.io(), ClientConfig(broker_.url(), "collector"),
                {"fan/anomaly", "aiot/deadletter"});
  ASSERT_TRUE(out.WaitSubscribed());
  PredictorProcess p("scorer", {"--set", "predictor.source=kafka", "--set",
                                "predictor.kafka.bootstrap_servers=" + bootstraps(), "--set",
                                "predictor.kafka.commit_interval_ms=50", "--set",
                                "predictor.results_to=both", "--set", "predictor.qos=1",
                                "predictor", "--mqtt", broker_.url(), "--model", model_});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(
      WaitFor([&] { return p.Partitions() == 2; }, seconds(60), std::chrono::milliseconds(200)));
  ASSERT_TRUE(KcatWrite(bootstraps(), "-P -t aiot.telemetry -K :",
                        Records(0, 50) + "fan-00:not json\n" + Records(50, 100)));
  ASSERT_TRUE(WaitFor([&] { return Scored(out).size() == 100; }, seconds(60)));
  ASSERT_TRUE(out.WaitCount("aiot/deadletter", 1));
  EXPECT_EQ(p.Metric(R"(aiot_predictor_deadletter_total{reason="not_json"})"), 1);
  std::map<std::string, int> in_kafka;  // timeStamp -> count
  ASSERT_TRUE(WaitFor(
      [&] {
        in_kafka.clear();
        for (const auto& r : kafka::testing::KcatReadTopic(bootstraps(), "aiot.anomaly")) {
          auto j = nlohmann::json::parse(r.payload, nullptr, false);
          if (!j.is_object() || !j["timeStamp"].is_string()) continue;
          EXPECT_EQ(r.key, j["deviceID"].get<std::string>());  // keyed by device
          EXPECT_TRUE(j.contains("score") && j.contains("level"));
          in_kafka[j["timeStamp"].get<std::string>()]++;
        }
        return in_kafka.size() == 100;
      },
      seconds(60), std::chrono::milliseconds(300)))
      << in_kafka.size() << " results in Kafka";
  // Offsets committed past the bad record: nothing outstanding, no lag.
  EXPECT_TRUE(WaitFor([&] {
    return p.Metric(R"(aiot_kafka_source_lag{partition="0",service="predictor")") == 0 &&
           p.Metric(R"(aiot_kafka_source_lag{partition="1",service="predictor")") == 0;
  }));
}

}  // namespace
}  // namespace aiot::services
