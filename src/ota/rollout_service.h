#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "mqtt/client/client.h"
#include "net/router.h"
#include "ota/rollout.h"

namespace aiot::ota {

// Binds a RolloutManager to MQTT: publishes its control messages (QoS 1) on
// fan/control/<deviceID>, subscribes to fan/status/+ and feeds every status report to the
// device registry (last seen, reported model) and to the manager; checks timeouts every tick_ms.
//
// Threading: message and timer callbacks run on the MQTT client's strand; the manager and the
// registries are thread-safe. The client is shared: the service subscribes and publishes but does
// not start or stop it. Stop() before destroying; the client's io_context must outlive it.
class RolloutService {
 public:
  RolloutService(OtaConfig config, registry::ModelRegistry& models,
                 registry::DeviceRegistry& devices, std::shared_ptr<mqtt::Client> client,
                 const Clock& clock = SystemClock::Instance());
  ~RolloutService();

  // Opens the rollout store (OtaConfig::db_path, by default <registry data_dir>/rollouts.db) and
  // loads the rollouts of an earlier run; unfinished ones resume. Call before Start(). Without
  // it rollouts live in memory only.
  Status Open();
  void Start();
  void Stop();
  RolloutManager& manager() { return manager_; }

 private:
  void OnStatusMessage(const mqtt::Message& m);
  void ScheduleTick();

  registry::DeviceRegistry& devices_;
  std::string db_path_;
  std::shared_ptr<mqtt::Client> client_;
  RolloutManager manager_;
  struct TimerState;
  std::shared_ptr<TimerState> timer_;
};

// POST /api/v1/rollouts, GET /api/v1/rollouts, GET /api/v1/rollouts/{id},
// POST /api/v1/rollouts/{id}/abort (admin or operator). See src/ota/README.md.
void RegisterRolloutRoutes(net::Router& router, RolloutManager& manager);

nlohmann::json ToJson(const Rollout& r);

}  // namespace aiot::ota
