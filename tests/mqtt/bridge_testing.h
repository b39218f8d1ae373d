#pragma once

// Helpers of the bridge tests (tests/mqtt/bridge_test.cc, bridge_process_test.cc): aiot's MQTT
// client connected to a broker, and what a subscriber received, in order.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mqtt/client/client.h"
#include "tests/support/testing.h"

namespace aiot::mqtt::bridge_test {

// What a subscription received (topic and payload), in arrival order.
class Received {
 public:
  void Add(const Message& m) {
    std::lock_guard lk(mu_);
    topics_.push_back(m.topic);
    payloads_.emplace_back(m.payload.view());
  }
  std::vector<std::string> payloads() const {
    std::lock_guard lk(mu_);
    return payloads_;
  }
  std::vector<std::string> topics() const {
    std::lock_guard lk(mu_);
    return topics_;
  }
  // Payloads that do not start with `skip` (probes).
  std::vector<std::string> payloads_without(const std::string& skip) const {
    std::vector<std::string> out;
    for (auto& p : payloads()) {
      if (!p.starts_with(skip)) out.push_back(p);
    }
    return out;
  }
  size_t count(const std::string& payload) const {
    size_t n = 0;
    for (auto& p : payloads()) n += p == payload;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> topics_;
  std::vector<std::string> payloads_;
};

struct ClientOptions {
  std::string client_id;
  bool clean_start = true;
  uint32_t session_expiry_s = 0;
  tls::ClientConfig tls;
  std::string username;
  std::string password;
  // Where messages that no Subscribe handler takes go (set before the client starts: a persistent
  // session's queued messages arrive right after CONNACK, before any new Subscribe).
  Received* unmatched = nullptr;
};

// A started client; waits (30 s) until connected. Null when it did not connect.
inline std::shared_ptr<Client> ConnectClient(boost::asio::io_context& io, const std::string& url,
                                             const ClientOptions& o = {}) {
  MqttClientConfig c;
  c.url = url;
  c.client_id = o.client_id;
  c.clean_start = o.clean_start;
  c.session_expiry_s = o.session_expiry_s;
  c.tls = o.tls;
  c.username = o.username;
  c.password = o.password;
  c.reconnect_min_ms = 50;
  c.reconnect_max_ms = 500;
  auto client = Client::Create(io, c);
  if (o.unmatched)
    client->SetMessageHandler([into = o.unmatched](const Message& m) { into->Add(m); });
  client->Start();
  if (!test_support::WaitFor([&] { return client->state() == ConnectionState::kConnected; }))
    return nullptr;
  return client;
}

// Subscribes `filter` at QoS 1 into `into`; waits for the SUBACK. False on refusal or timeout.
inline bool SubscribeInto(Client& client, const std::string& filter, Received& into) {
  auto granted = std::make_shared<std::promise<ReasonCode>>();
  auto f = granted->get_future();
  client.Subscribe(
      filter, SubscribeOptions{.qos = QoS::kAtLeastOnce},
      [&into](const Message& m) { into.Add(m); },
      [granted](ReasonCode rc) { granted->set_value(rc); });
  return f.wait_for(std::chrono::seconds(30)) == std::future_status::ready &&
         f.get() == ReasonCode::kGrantedQos1;
}

// Stops the client and waits for it.
inline void StopClient(const std::shared_ptr<Client>& client) {
  if (!client) return;
  std::promise<void> done;
  client->Stop([&done] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(10));
}

// "m0", "m1", ... "m<n-1>".
inline std::vector<std::string> Numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

}  // namespace aiot::mqtt::bridge_test
