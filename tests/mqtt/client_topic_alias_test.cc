// aiot's client using outgoing topic aliases against aiot's broker, over TCP and in-process: the
// broker resolves them and subscribers (aiot's client, mosquitto_sub) get the full topic; the
// number of aliases is capped by the broker's Topic Alias Maximum (the broker disconnects a client
// that exceeds it, so every message arriving shows the cap was kept).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>

#include "mqtt/broker/inproc_transport.h"
#include "mqtt/client/client.h"
#include "tests/mqtt/test_broker.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::WaitFor;

class ClientTopicAlias : public ::testing::TestWithParam<bool> {  // param: in-process
 protected:
  void SetUp() override {
    broker::BrokerConfig cfg;
    cfg.topic_alias_maximum = 3;
    broker_.emplace(cfg);
    ASSERT_TRUE(broker_->ok());
    guard_.emplace(boost::asio::make_work_guard(io_));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    for (auto& c : clients_) {
      std::promise<void> done;
      c->Stop([&] { done.set_value(); });
      done.get_future().wait_for(std::chrono::seconds(10));
    }
    clients_.clear();
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    broker_.reset();
  }
  std::shared_ptr<Client> Make(const std::string& id, uint32_t alias_out) {
    MqttClientConfig cfg;
    cfg.client_id = id;
    cfg.topic_alias_maximum_out = alias_out;
    std::shared_ptr<Client> c;
    if (GetParam()) {
      cfg.url = "inproc://";
      c = Client::Create(io_, cfg, broker::MakeInprocFactory(broker_->broker()));
    } else {
      cfg.url = "tcp://127.0.0.1:" + std::to_string(broker_->port());
      c = Client::Create(io_, cfg);
    }
    clients_.push_back(c);
    c->Start();
    EXPECT_TRUE(WaitFor([&] { return c->state() == ConnectionState::kConnected; }));
    return c;
  }

  std::optional<TestBroker> broker_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_P(ClientTopicAlias, MessagesArriveWithTheFullTopic) {
  auto sub = Make("alias-sub", 0);
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;
  std::atomic<int> subscribed{-1};
  sub->Subscribe(
      "fleet/#", {.qos = QoS::kAtLeastOnce},
      [&](const Message& m) {
        std::lock_guard lock(mu);
        got.emplace_back(m.topic, std::string(m.payload.view()));
      },
      [&](ReasonCode rc) { subscribed = static_cast<int>(rc); });
  ASSERT_TRUE(WaitFor([&] { return subscribed.load() >= 0; }));
  Process mosquitto_sub("timeout 60 mosquitto_sub -h 127.0.0.1 -p " +
                        std::to_string(broker_->port()) +
                        " -V mqttv5 -q 1 -t 'fleet/#' -C 12 -F '%t %p'");
  ASSERT_TRUE(WaitFor([&] { return broker_->broker().index().size() >= 2; }));

  // Asks for 100 aliases; the broker grants 3. Four topics, round robin, then repeats of one.
  auto pub = Make("alias-pub", 100);
  std::vector<std::string> topics;
  for (int round = 0; round < 2; ++round)
    for (const char* t : {"fleet/fan-1/t", "fleet/fan-2/t", "fleet/fan-3/t", "fleet/fan-4/t"})
      topics.push_back(t);
  for (int i = 0; i < 4; ++i) topics.push_back("fleet/fan-4/t");
  std::atomic<int> acked{0}, failed{0};
  for (size_t i = 0; i < topics.size(); ++i) {
    ASSERT_TRUE(pub->Publish(topics[i], "m" + std::to_string(i), {.qos = QoS::kAtLeastOnce},
                             [&](std::error_code ec) { ++(ec ? failed : acked); })
                    .ok());
  }
  ASSERT_TRUE(WaitFor([&] { return acked + failed == static_cast<int>(topics.size()); }));
  EXPECT_EQ(failed.load(), 0);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return got.size() == topics.size();
  }));
  {
    std::lock_guard lock(mu);
    for (size_t i = 0; i < topics.size(); ++i) {
      EXPECT_EQ(got[i].first, topics[i]) << i;
      EXPECT_EQ(got[i].second, "m" + std::to_string(i));
    }
  }
  // Round robin over 4 topics with 3 aliases rebinds every time (LRU); fan-4 then stays bound.
  EXPECT_EQ(pub->stats().aliased, 4u);
  EXPECT_EQ(pub->stats().connects, 1u);  // never disconnected for a bad alias
  EXPECT_EQ(mosquitto_sub.Wait(), 0);
  std::string want;
  for (size_t i = 0; i < topics.size(); ++i) want += topics[i] + " m" + std::to_string(i) + "\n";
  EXPECT_EQ(mosquitto_sub.Output(), want);
}

INSTANTIATE_TEST_SUITE_P(Transports, ClientTopicAlias, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Inproc" : "Tcp"; });

}  // namespace
}  // namespace aiot::mqtt::test
