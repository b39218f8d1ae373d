// The librdkafka wrappers against librdkafka's mock cluster (real TCP on loopback), read back by
// an independent client (kcat).
#include "kafka/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/errc.h"
#include "kafka/mock_cluster.h"
#include "tests/support/testing.h"

namespace aiot::kafka {
namespace {

using aiot::test_support::WaitFor;
using testing::KcatAvailable;
using testing::MockCluster;

std::unique_ptr<MockCluster> StartCluster() {
  auto c = MockCluster::Start(3);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(*c) : nullptr;
}

struct Collected {
  std::mutex mu;
  std::vector<DeliveryReport> reports;
  std::vector<uintptr_t> opaques;
  std::atomic<int> ok{0}, failed{0};
};

std::unique_ptr<Producer> MakeProducer(const std::string& bootstraps, Collected& c,
                                       Properties extra = {}) {
  extra["bootstrap.servers"] = bootstraps;
  auto p = Producer::Create(extra, [&c](const DeliveryReport& r) {
    std::lock_guard lock(c.mu);
    c.opaques.push_back(reinterpret_cast<uintptr_t>(r.opaque));
    (r.err == RD_KAFKA_RESP_ERR_NO_ERROR ? c.ok : c.failed)++;
  });
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(KafkaClient, PropertiesArePassedThroughByNameWithClearErrors) {
  EXPECT_TRUE(CheckProperties({{"bootstrap.servers", "x:1"}, {"linger.ms", "5"}}).ok());
  Status s = CheckProperties({{"linger.mss", "5"}});
  EXPECT_EQ(s.code(), make_error_code(errc::invalid_argument));
  EXPECT_NE(s.message().find("linger.mss"), std::string::npos) << s.message();
  s = CheckProperties({{"linger.ms", "forever"}});
  EXPECT_NE(s.message().find("linger.ms=forever"), std::string::npos) << s.message();
  auto p = Producer::Create({{"acks", "1"}}, {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("acks=all"), std::string::npos);
  auto c = Consumer::Create({{"bootstrap.servers", "x:1"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("group.id"), std::string::npos);
}

TEST(KafkaClient, ErrorsCarryLibrdkafkaNames) {
  const Status s = KafkaStatus(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "produce");
  EXPECT_EQ(s.code().message(), "MSG_SIZE_TOO_LARGE");
  EXPECT_EQ(KafkaError(s.code()), RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  EXPECT_NE(s.message().find("produce: MSG_SIZE_TOO_LARGE"), std::string::npos);
}

TEST(KafkaClient, ProducesWithHeadersAndOpaquesKcatReadsThemBack) {
  if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
  auto cluster = StartCluster();
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->CreateTopic("t.one", 3).ok());
  Collected c;
  auto producer = MakeProducer(cluster->bootstraps(), c);
  ASSERT_TRUE(producer);
  const std::vector<Header> headers = {{"mqtt.topic", "fan/messages"}};
  for (uintptr_t i = 1; i <= 50; ++i) {
    const std::string value = "v" + std::to_string(i);
    const std::string key = "k" + std::to_string(i % 5);
    ASSERT_TRUE(producer
                    ->Produce({.topic = "t.one",
                               .key = key,
                               .value = value,
                               .headers = &headers,
                               .header_views = {},
                               .opaque = reinterpret_cast<void*>(i)})
                    .ok());
  }
  ASSERT_TRUE(producer->Flush(30000).ok());
  EXPECT_EQ(c.ok.load(), 50);
  std::vector<uintptr_t> sorted = c.opaques;
  std::sort(sorted.begin(), sorted.end());
  for (uintptr_t i = 1; i <= 50; ++i) EXPECT_EQ(sorted[i - 1], i);

  const std::string out = testing::Kcat(cluster->bootstraps(), "-C -t t.one -o beginning -e -q -J");
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["headers"], nlohmann::json::array({"mqtt.topic", "fan/messages"}));
    ++n;
  }
  EXPECT_EQ(n, 50) << out;
}

TEST(KafkaClient, ConsumerGroupWithManualCommitResumesAfterTheCommit) {
  if (!KcatAvailable()) AIOT_SKIP_WITHOUT_PEER("kcat is not installed");
  auto cluster = StartCluster();
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->CreateTopic("t.in", 1).ok());
  // Written by kcat, an independent producer.
  ASSERT_TRUE(
      testing::KcatWrite(cluster->bootstraps(), "-P -t t.in -K :", "d1:r1\nd2:r2\nd3:r3\nd4:r4\n"));
  const Properties props = {{"bootstrap.servers", cluster->bootstraps()},
                            {"group.id", "g1"},
                            {"auto.offset.reset", "earliest"},
                            {"session.timeout.ms", "6000"},
                            {"heartbeat.interval.ms", "500"}};
  auto next = [](Consumer& c) -> std::optional<InRecord> {
    std::optional<InRecord> r;
    WaitFor([&] {
      auto p = c.Poll(100);
      if (p.ok() && *p) r = std::move(**p);
      return r.has_value();
    });
    return r;
  };
  {
    auto c = Consumer::Create(props);
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_TRUE((*c)->Subscribe({"t.in"}).ok());
    auto r1 = next(**c);
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->value, "r1");
    EXPECT_EQ(r1->key, "d1");
    auto r2 = next(**c);
    ASSERT_TRUE(r2);
    ASSERT_TRUE((*c)->Commit(r2->topic, r2->partition, r2->offset + 1, /*async=*/false).ok());
    auto r3 = next(**c);  // read, never committed
    ASSERT_TRUE(r3);
  }
  auto c = Consumer::Create(props);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Subscribe({"t.in"}).ok());
  auto again = next(**c);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->value, "r3");  // from the committed offset on
}

// Produces records with opaques `from`..`to` (inclusive) to t.faults, one key.
void ProduceRange(Producer& producer, uintptr_t from, uintptr_t to) {
  for (uintptr_t i = from; i <= to; ++i) {
    ASSERT_TRUE(producer
                    .Produce({.topic = "t.faults",
                              .key = "k",
                              .value = "v",
                              .header_views = {},
                              .opaque = reinterpret_cast<void*>(i)})
                    .ok());
  }
}

TEST(KafkaClient, DeliversThroughABrokerOutageAndInjectedProduceErrors) {
  auto cluster = StartCluster();
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->CreateTopic("t.faults", 2).ok());
  Collected c;
  auto producer = MakeProducer(cluster->bootstraps(), c, {{"message.timeout.ms", "0"}});
  ASSERT_TRUE(producer);
  cluster->PushProduceErrors({RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                              RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION});
  ProduceRange(*producer, 1, 20);
  ASSERT_TRUE(WaitFor([&] {
    producer->Poll(10);
    return c.ok.load() == 20;
  }));
  cluster->SetAllBrokersDown();
  ProduceRange(*producer, 21, 40);
  producer->Poll(500);  // nothing can be delivered while every broker is down
  EXPECT_EQ(c.ok.load(), 20);
  cluster->SetAllBrokersUp();
  ASSERT_TRUE(WaitFor([&] {
    producer->Poll(10);
    return c.ok.load() == 40;
  }));
  EXPECT_EQ(c.failed.load(), 0);
  std::lock_guard lock(c.mu);
  // One key, one partition: delivered in order.
  for (size_t i = 0; i < c.opaques.size(); ++i) EXPECT_EQ(c.opaques[i], i + 1);
}

}  // namespace
}  // namespace aiot::kafka
