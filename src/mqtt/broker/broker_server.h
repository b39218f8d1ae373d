#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "mqtt/broker/broker.h"
#include "mqtt/broker/broker_config.h"

namespace aiot::mqtt::broker {

// The asio binding of the broker: listeners (MQTT over TCP, TLS, WebSocket, WebSocket over TLS) and
// connections, one acceptor per listener and
// core (SO_REUSEPORT lets the kernel spread connections over the cores), per-core timers and the
// $SYS publisher. A connection lives on the io_context that accepted it.
//
// Thread-safety: Start/Stop/ports from the owning thread (not a runtime thread for Stop's wait).
class BrokerServer {
 public:
  // `contexts`: one per core, run by the caller (e.g. net::Runtime); they outlive the server.
  BrokerServer(const BrokerConfig& config, metrics::Registry& registry,
               std::vector<boost::asio::io_context*> contexts);
  ~BrokerServer();
  BrokerServer(const BrokerServer&) = delete;
  BrokerServer& operator=(const BrokerServer&) = delete;

  // Binds every configured listener ("[scheme://]host:port"; port 0 picks a free port) and starts
  // accepting. Fails, without logging, when the password or ACL file or the TLS files cannot be
  // loaded or a listener cannot be bound; the Status's message says which.
  Status Start();
  // Stops accepting, sends DISCONNECT (Server shutting down) to v5 clients and closes every
  // connection; returns once each core has done so.
  void Stop();

  // Re-reads the TLS certificate, key and CA files (tls.*): handshakes from now on use them,
  // established connections keep theirs. On failure the previous ones stay; the Status says
  // which file. Callable from any thread. (Start loads them first.)
  Status ReloadTls();

  // Bound port of each listener, in configuration order (after Start).
  std::vector<uint16_t> ports() const;
  Broker& broker() { return *broker_; }

 private:
  struct Impl;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aiot::mqtt::broker
