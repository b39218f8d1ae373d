#pragma once

// Shared pieces of the services integration tests: a collecting MQTT subscriber, a publisher,
// model files in a temp dir, HTTP requests.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"
#include "net/test_client.h"

namespace aiot::services::testing {

// Subscribes to `filters` and keeps every message, by topic, in arrival order.
class Collector {
 public:
  Collector(boost::asio::io_context& io, mqtt::MqttClientConfig config,
            const std::vector<std::string>& filters, mqtt::TransportFactory transport = {});
  ~Collector();
  bool WaitSubscribed();
  std::vector<nlohmann::json> On(const std::string& topic);
  size_t Count(const std::string& topic);
  bool WaitCount(const std::string& topic, size_t n, int seconds = 60);

 private:
  std::shared_ptr<mqtt::Client> client_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> messages_;
  std::atomic<size_t> subscribed_{0};
  size_t wanted_;
};

// Publishes and waits until QoS 1 messages are acknowledged.
class Publisher {
 public:
  Publisher(boost::asio::io_context& io, mqtt::MqttClientConfig config,
            mqtt::TransportFactory transport = {});
  ~Publisher();
  bool WaitConnected();
  void Publish(const std::string& topic, std::string payload, int qos = 1);
  bool WaitAcked(int seconds = 60);

 private:
  std::shared_ptr<mqtt::Client> client_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> acked_{0};
};

// A temp dir removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

// A telemetry reading with the given sound level (the test models score by sound).
std::string Reading(const std::string& device, double sound, int seq = 0);

// POST/GET on 127.0.0.1:port; returns {status, body}.
net::testing::Reply Http(uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& token = "");

mqtt::MqttClientConfig ClientConfig(const std::string& url, const std::string& id);

}  // namespace aiot::services::testing
