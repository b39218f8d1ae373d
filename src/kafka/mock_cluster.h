#pragma once

// librdkafka's mock cluster in-process, for tests of any module (library aiot_kafka_testing):
// N brokers with real TCP listeners on loopback, so independent clients (kcat, a child
// `aiot bridge`) reach it at bootstraps(), and librdkafka's fault injection.
//
//   auto cluster = kafka::testing::MockCluster::Start(3);
//   ASSERT_TRUE(cluster.ok()) << cluster.status().message();
//   (*cluster)->CreateTopic("aiot.telemetry", 4);
//   ... kcat -b (*cluster)->bootstraps() ...
//   (*cluster)->SetBrokerDown(1); ... (*cluster)->SetBrokerUp(1);
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace aiot::kafka::testing {

class MockCluster {
 public:
  static Result<std::unique_ptr<MockCluster>> Start(int brokers = 3);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,..." of the brokers.
  const std::string& bootstraps() const { return bootstraps_; }
  int brokers() const { return brokers_; }
  rd_kafka_mock_cluster_t* get() const { return cluster_; }

  Status CreateTopic(const std::string& topic, int partitions, int replication = 3);
  // Broker ids are 1..brokers(). Down: connections closed, new ones refused.
  Status SetBrokerDown(int broker_id);
  Status SetBrokerUp(int broker_id);
  void SetAllBrokersDown();
  void SetAllBrokersUp();
  // The next produce requests (to any broker) fail with these errors, in order.
  void PushProduceErrors(const std::vector<rd_kafka_resp_err_t>& errors);

 private:
  MockCluster() = default;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
  int brokers_ = 0;
};

// Runs kcat and returns its standard output: `kcat -b <bootstraps> <args>`.
std::string Kcat(const std::string& bootstraps, const std::string& args);
// Runs `kcat -b <bootstraps> <args>` with `input` on its standard input (e.g. -P); true when it
// exited with 0.
bool KcatWrite(const std::string& bootstraps, const std::string& args, const std::string& input);
bool KcatAvailable();

// One record of a topic as kcat reads it back.
struct KcatRecord {
  std::string key;
  std::string payload;
  std::map<std::string, std::string> headers;
};
// Every record of `topic` from the beginning, read by kcat (`-C -o beginning -e -J`).
std::vector<KcatRecord> KcatReadTopic(const std::string& bootstraps, const std::string& topic);

}  // namespace aiot::kafka::testing
