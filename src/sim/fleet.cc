#include "sim/fleet.h"

#include <fmt/format.h>

#include "base/check.h"
#include "base/errc.h"
#include "base/log.h"
#include "sim/history.h"
#include "sim/tflite_model.h"

namespace aiot::sim {

Fleet::Fleet(std::vector<boost::asio::io_context*> contexts, const FleetConfig& config,
             mqtt::MqttClientConfig client_template, mqtt::TransportFactory transport,
             ModelLoader loader, const Clock& clock)
    : config_(config) {
  AIOT_CHECK(!contexts.empty(), "a fleet needs at least one io_context");
  AIOT_CHECK(ValidatePhysics(config.physics).ok(), "invalid simulator physics config");
  const auto physics = PhysicsWithRegimes(config);
  AIOT_CHECK(physics.ok(), "invalid regime change (FleetConfig::regime_changes)");
  const uint32_t per_conn = std::max<uint32_t>(1, config.devices_per_connection);
  const auto faulty = PickFaulty(config.devices, config.faulty_fraction, config.seed);
  std::mt19937_64 seeder(config.seed);
  const int64_t start = clock.NowNanos();

  std::shared_ptr<mqtt::Client> client;
  std::vector<std::shared_ptr<DeviceAgent>> on_client;
  for (uint32_t i = 0; i < config.devices; ++i) {
    DeviceAgentConfig ac;
    ac.id = DeviceId(config.id_prefix, i);
    ac.telemetry_topic = config.topic;
    ac.status_prefix = config.status_prefix;
    ac.control_prefix = config.control_prefix;
    ac.maintenance_topic = config.maintenance_topic;
    ac.rate = config.rate;
    ac.time_scale = config.time_scale;
    ac.qos = config.qos;
    ac.registry_url = config.registry_url;
    ac.provision_token = config.provision_token;
    ac.protect_after = config.protect_after;
    if (!config.state_dir.empty()) ac.model_dir = config.state_dir + "/" + ac.id;
    if (i % per_conn == 0) {
      const size_t n = clients_.size();
      mqtt::MqttClientConfig cc = client_template;
      if (per_conn == 1) {
        cc.client_id = ac.id;
        DeviceAgent::SetWill(ac, &cc);
      } else {
        cc.client_id = fmt::format("{}mux-{}", config.id_prefix, n + 1);
      }
      client = mqtt::Client::Create(*contexts[n % contexts.size()], cc, transport);
      clients_.push_back(client);
    }
    auto device = std::make_unique<SimulatedDevice>(ac.id, *physics, seeder(), faulty[i], start);
    agents_.push_back(DeviceAgent::Create(std::move(ac), client,
                                          std::make_unique<SimulatedSensor>(std::move(device)),
                                          loader ? loader : TfliteModelLoader(), clock));
  }
  // Each client tells its agents about (re)connections.
  for (size_t c = 0; c < clients_.size(); ++c) {
    std::vector<std::weak_ptr<DeviceAgent>> mine;
    for (size_t i = c * per_conn; i < std::min<size_t>(agents_.size(), (c + 1) * per_conn); ++i) {
      mine.push_back(agents_[i]);
    }
    auto flag = std::make_shared<bool>(false);
    clients_[c]->SetConnectionHandler(
        [connected = connected_, mine = std::move(mine), flag](const mqtt::ConnectionEvent& e) {
          const bool up = e.state == mqtt::ConnectionState::kConnected;
          if (up != *flag) {
            *flag = up;
            if (up) {
              connected->fetch_add(1);
            } else {
              connected->fetch_sub(1);
            }
          }
          if (up) {
            for (auto& w : mine) {
              if (auto a = w.lock()) a->OnConnected();
            }
          }
        });
  }
}

Fleet::~Fleet() = default;

void Fleet::Start() {
  for (auto& c : clients_) c->Start();
  for (auto& a : agents_) a->Start();
  log::Get("sim")->info("fleet: {} devices over {} connections, {} msg/s each, time scale {}",
                        agents_.size(), clients_.size(), config_.rate, config_.time_scale);
}

void Fleet::Stop(std::function<void()> done) {
  // Agents publish their offline status first; then the clients stop; then `done`.
  struct Pending {
    std::atomic<size_t> agents;
    std::atomic<size_t> clients;
    std::function<void()> done;
  };
  auto p = std::make_shared<Pending>();
  p->agents = agents_.size();
  p->clients = clients_.size();
  p->done = std::move(done);
  auto clients = clients_;
  auto stop_clients = [p, clients] {
    if (clients.empty()) {
      if (p->done) p->done();
      return;
    }
    for (auto& c : clients) {
      c->Stop([p] {
        if (--p->clients == 0 && p->done) p->done();
      });
    }
  };
  if (agents_.empty()) {
    stop_clients();
    return;
  }
  for (auto& a : agents_) {
    a->Stop([p, stop_clients] {
      if (--p->agents == 0) stop_clients();
    });
  }
}

FleetStats Fleet::stats() const {
  FleetStats s;
  s.devices = static_cast<uint32_t>(agents_.size());
  s.clients = static_cast<uint32_t>(clients_.size());
  s.connected_clients = connected_->load();
  for (const auto& a : agents_) {
    auto snap = a->snapshot();
    s.readings += snap.readings;
    s.published += snap.published;
    s.activated += snap.registration == "active" ? 1 : 0;
    s.refused += snap.registration == "refused" ? 1 : 0;
  }
  for (const auto& c : clients_) {
    auto cs = c->stats();
    s.publish_completed += cs.completed;
    s.publish_failed += cs.failed;
  }
  return s;
}

}  // namespace aiot::sim
