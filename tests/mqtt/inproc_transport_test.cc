// aiot's own client (src/mqtt/client) talking to the embedded broker through the in-process
// transport (no socket), alongside mosquitto clients on TCP.
#include "mqtt/broker/inproc_transport.h"

#include <gtest/gtest.h>

#include "tests/support/run.h"
#include "tests/support/testing.h"

#include <atomic>
#include <future>

#include "mqtt/client/client.h"
#include "tests/mqtt/test_broker.h"

namespace aiot::mqtt::test {
namespace {

using aiot::test_support::RunCommand;
using aiot::test_support::WaitFor;

class Inproc : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.ok());
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
  }
  std::shared_ptr<Client> Make(const std::string& id, uint32_t version = 5) {
    MqttClientConfig cfg;
    cfg.url = "inproc://";
    cfg.client_id = id;
    cfg.protocol_version = version;
    auto c = Client::Create(io_, cfg, broker::MakeInprocFactory(broker_.broker()));
    clients_.push_back(c);
    return c;
  }

  TestBroker broker_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_F(Inproc, PublishAndSubscribeWithoutSocket) {
  auto sub = Make("inproc-sub");
  auto pub = Make("inproc-pub", 4);
  std::mutex mu;
  std::vector<std::string> got;
  sub->Subscribe("ip/#", QoS::kExactlyOnce, [&](const Message& m) {
    std::lock_guard lock(mu);
    got.push_back(m.topic + "=" + std::string(m.payload.view()));
  });
  sub->Start();
  pub->Start();
  ASSERT_TRUE(WaitFor([&] { return broker_.broker().index().size() == 1; }));
  for (int q = 0; q < 3; ++q) {
    PublishOptions o;
    o.qos = static_cast<QoS>(q);
    ASSERT_TRUE(pub->Publish("ip/" + std::to_string(q), "v" + std::to_string(q), o).ok());
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return got.size() == 3;
  }));
  std::lock_guard lock(mu);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"ip/0=v0", "ip/1=v1", "ip/2=v2"}));
  EXPECT_EQ(broker_.broker().stats().sockets.load(), 2u);  // two in-process connections
}

TEST_F(Inproc, InprocPublisherReachesTcpSubscriber) {
  if (RunCommand("command -v mosquitto_sub").exit_code != 0)
    AIOT_SKIP_WITHOUT_PEER("mosquitto-clients missing");
  Process sub("timeout 60 mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
              " -V mqttv5 -t 'mix/#' -q 1 -C 1 -F '%t %p'");
  ASSERT_TRUE(WaitFor([&] { return broker_.broker().index().size() == 1; }));
  auto pub = Make("inproc-to-tcp");
  pub->Start();
  std::promise<std::error_code> acked;
  PublishOptions o;
  o.qos = QoS::kAtLeastOnce;
  ASSERT_TRUE(
      pub->Publish("mix/t", "from-inside", o, [&](std::error_code ec) { acked.set_value(ec); })
          .ok());
  auto f = acked.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_FALSE(f.get());
  EXPECT_EQ(sub.Wait(), 0);
  EXPECT_EQ(sub.Output(), "mix/t from-inside\n");
}

}  // namespace
}  // namespace aiot::mqtt::test
