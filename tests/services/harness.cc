#include "harness.h"

#include <fmt/format.h>

#include <cstdlib>
#include <random>

#include "tests/support/testing.h"

namespace aiot::services::testing {

using aiot::test_support::WaitFor;

mqtt::MqttClientConfig ClientConfig(const std::string& url, const std::string& id) {
  mqtt::MqttClientConfig c;
  c.url = url;
  c.client_id = id;
  c.offline_queue_limit = 1000000;
  c.max_inflight = 1000;
  return c;
}

Collector::Collector(boost::asio::io_context& io, mqtt::MqttClientConfig config,
                     const std::vector<std::string>& filters, mqtt::TransportFactory transport)
    : wanted_(filters.size()) {
  client_ = mqtt::Client::Create(io, std::move(config), std::move(transport));
  for (const auto& f : filters) {
    client_->Subscribe(
        f, mqtt::SubscribeOptions{.qos = mqtt::QoS::kAtLeastOnce},
        [this](const mqtt::Message& m) {
          std::lock_guard lock(mu_);
          messages_[m.topic].emplace_back(m.payload.view());
        },
        [this](mqtt::ReasonCode) { subscribed_.fetch_add(1); });
  }
  client_->Start();
}

Collector::~Collector() {
  std::promise<void> done;
  client_->Stop([&done] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(10));
}

bool Collector::WaitSubscribed() {
  return WaitFor([&] { return subscribed_.load() >= wanted_; });
}

std::vector<nlohmann::json> Collector::On(const std::string& topic) {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out;
  for (const auto& s : messages_[topic]) out.push_back(nlohmann::json::parse(s));
  return out;
}

size_t Collector::Count(const std::string& topic) {
  std::lock_guard lock(mu_);
  return messages_[topic].size();
}

bool Collector::WaitCount(const std::string& topic, size_t n, int seconds) {
  return WaitFor([&] { return Count(topic) >= n; }, std::chrono::seconds(seconds));
}

Publisher::Publisher(boost::asio::io_context& io, mqtt::MqttClientConfig config,
                     mqtt::TransportFactory transport) {
  client_ = mqtt::Client::Create(io, std::move(config), std::move(transport));
  client_->Start();
}

Publisher::~Publisher() {
  std::promise<void> done;
  client_->Stop([&done] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(10));
}

bool Publisher::WaitConnected() {
  return WaitFor([&] { return client_->state() == mqtt::ConnectionState::kConnected; });
}

void Publisher::Publish(const std::string& topic, std::string payload, int qos) {
  sent_.fetch_add(1);
  mqtt::PublishOptions o;
  o.qos = static_cast<mqtt::QoS>(qos);
  (void)client_->Publish(topic, mqtt::SharedBytes(std::move(payload)), o,
                         [this](std::error_code) { acked_.fetch_add(1); });
}

bool Publisher::WaitAcked(int seconds) {
  return WaitFor([&] { return acked_.load() >= sent_.load(); }, std::chrono::seconds(seconds));
}

TempDir::TempDir() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / fmt::format("aiot-services-{:x}", rd());
  std::filesystem::create_directories(dir_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Reading(const std::string& device, double sound, int seq) {
  return fmt::format(
      R"({{"deviceID":"{}","timeStamp":"2026-11-22T10:00:{:02}.{:03}Z","rotation":600.5,)"
      R"("temperature":40.2,"vibration":150.1,"sound":{}}})",
      device, (seq / 1000) % 60, seq % 1000, sound);
}

net::testing::Reply Http(uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& token) {
  net::testing::TestClient client(port);
  std::string req = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: {}\r\n",
      method, target, body.size());
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "\r\n" + body;
  auto reply = client.Roundtrip(req);
  return reply ? *reply : net::testing::Reply{};
}

}  // namespace aiot::services::testing
