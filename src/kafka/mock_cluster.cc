#include "kafka/mock_cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/errc.h"
#include "kafka/client.h"

namespace aiot::kafka::testing {

Result<std::unique_ptr<MockCluster>> MockCluster::Start(int brokers) {
  std::unique_ptr<MockCluster> c(new MockCluster());
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // The handle that owns the cluster; it never connects anywhere itself.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  c->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (c->rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status(errc::internal, fmt::format("mock cluster handle: {}", err));
  }
  c->cluster_ = rd_kafka_mock_cluster_new(c->rk_, brokers);
  if (c->cluster_ == nullptr) return Status(errc::internal, "rd_kafka_mock_cluster_new failed");
  c->bootstraps_ = rd_kafka_mock_cluster_bootstraps(c->cluster_);
  c->brokers_ = brokers;
  return c;
}

MockCluster::~MockCluster() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

Status MockCluster::CreateTopic(const std::string& topic, int partitions, int replication) {
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, fmt::format("create topic {}", topic));
}

Status MockCluster::SetBrokerDown(int broker_id) {
  const rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(cluster_, broker_id);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, fmt::format("broker {} down", broker_id));
}

Status MockCluster::SetBrokerUp(int broker_id) {
  const rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(cluster_, broker_id);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return KafkaStatus(err, fmt::format("broker {} up", broker_id));
}

void MockCluster::SetAllBrokersDown() {
  for (int id = 1; id <= brokers_; ++id) (void)SetBrokerDown(id);
}

void MockCluster::SetAllBrokersUp() {
  for (int id = 1; id <= brokers_; ++id) (void)SetBrokerUp(id);
}

void MockCluster::PushProduceErrors(const std::vector<rd_kafka_resp_err_t>& errors) {
  constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of Produce
  rd_kafka_mock_push_request_errors_array(cluster_, kProduceApiKey, errors.size(), errors.data());
}

bool KcatAvailable() { return ::access("/usr/bin/kcat", X_OK) == 0; }

std::string Kcat(const std::string& bootstraps, const std::string& args) {
  const std::string cmd = fmt::format("/usr/bin/kcat -b {} {} 2>/dev/null", bootstraps, args);
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace aiot::kafka::testing

namespace aiot::kafka::testing {

bool KcatWrite(const std::string& bootstraps, const std::string& args, const std::string& input) {
  const std::string cmd = fmt::format("/usr/bin/kcat -b {} {}", bootstraps, args);
  FILE* p = ::popen(cmd.c_str(), "w");
  if (p == nullptr) return false;
  std::fwrite(input.data(), 1, input.size(), p);
  return ::pclose(p) == 0;
}

}  // namespace aiot::kafka::testing

namespace aiot::kafka::testing {

std::vector<KcatRecord> KcatReadTopic(const std::string& bootstraps, const std::string& topic) {
  std::vector<KcatRecord> out;
  std::istringstream lines(Kcat(bootstraps, fmt::format("-C -t {} -o beginning -e -q -J", topic)));
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    KcatRecord r;
    if (j["key"].is_string()) r.key = j["key"];
    if (j["payload"].is_string()) r.payload = j["payload"];
    if (j["headers"].is_array()) {
      for (size_t i = 0; i + 1 < j["headers"].size(); i += 2) {
        r.headers[j["headers"][i]] = j["headers"][i + 1].is_string() ? j["headers"][i + 1] : "";
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace aiot::kafka::testing
