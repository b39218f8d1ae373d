#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "mqtt/client/client.h"
#include "mqtt/client/client_config.h"
#include "mqtt/client/transport.h"
#include "sim/device_agent.h"
#include "sim/sim_config.h"

namespace aiot::sim {

struct FleetStats {
  uint32_t devices = 0;
  uint32_t connected_clients = 0;
  uint32_t clients = 0;
  uint64_t readings = 0;
  uint64_t published = 0;          // accepted by the clients
  uint64_t publish_completed = 0;  // handed to the broker (QoS 0) or acknowledged (QoS 1)
  uint64_t publish_failed = 0;
  uint32_t activated = 0;  // confirmed by the registry (with FleetConfig::registry_url)
  uint32_t refused = 0;    // refused by the registry: silent
};

// A fleet of simulated devices, each a DeviceAgent reading a SimulatedDevice, spread over the given
// io_contexts. By default every device has its own MQTT client (client id = device id, will on
// its status topic); FleetConfig::devices_per_connection > 1 multiplexes devices over fewer
// connections (client id "<prefix>mux-<n>", no per-device will).
//
// Usage from the app (in-process broker) or `aiot simulate` (TCP):
//   sim::Fleet fleet(runtime.contexts(), fleet_config, client_config, broker.TransportFactory());
//   fleet.Start(); ... fleet.Stop([]{ ... });
// `client_template` supplies url, credentials and protocol settings; client id and will are set
// per connection. Thread-safety: Start/Stop/stats from any thread; Stop's `done` runs once, on
// one of the contexts, after every device published its offline status and every client stopped.
class Fleet {
 public:
  Fleet(std::vector<boost::asio::io_context*> contexts, const FleetConfig& config,
        mqtt::MqttClientConfig client_template, mqtt::TransportFactory transport = {},
        ModelLoader loader = {}, const Clock& clock = SystemClock::Instance());
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  void Start();
  void Stop(std::function<void()> done = {});

  FleetStats stats() const;
  size_t size() const { return agents_.size(); }
  DeviceAgent& agent(size_t i) { return *agents_[i]; }

 private:
  FleetConfig config_;
  std::vector<std::shared_ptr<mqtt::Client>> clients_;
  std::vector<std::shared_ptr<DeviceAgent>> agents_;
  // Shared with the clients' connection handlers, which may outlive a Stop()ped fleet briefly.
  std::shared_ptr<std::atomic<uint32_t>> connected_ = std::make_shared<std::atomic<uint32_t>>(0);
};

}  // namespace aiot::sim
