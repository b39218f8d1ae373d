#pragma once

// A StoreService fed by a real MQTT broker, as the store's integration tests run it.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <chrono>
#include <functional>
#include <string>

#include "mqtt/client/client.h"
#include "store/store_service.h"
#include "tests/support/testing.h"

namespace aiot::store::testing {

// The client factory of a StoreService on the broker at `url`, its clients running on `io`.
inline StoreService::ClientFactory ClientsOf(boost::asio::io_context& io, const std::string& url) {
  return [&io, url] {
    mqtt::MqttClientConfig mc;
    mc.url = url;
    return mqtt::Client::Create(io, mc);
  };
}

// Subscriptions are asynchronous: calls `publish` until `svc` has received a message (30 s).
inline bool PublishUntilReceived(const StoreService& svc, const std::function<void()>& publish) {
  return test_support::WaitFor(
      [&] {
        publish();
        return svc.messages() > 0;
      },
      std::chrono::seconds(30));
}

}  // namespace aiot::store::testing
