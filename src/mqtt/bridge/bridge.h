#pragma once

// The embedded broker's bridges to remote MQTT brokers (`broker.bridge`, `broker.bridges`), as
// Mosquitto's bridges: topic lines with directions out / in / both, QoS, local and remote
// prefixes. One Bridge per configured bridge, each with its own clients, sender thread, buffer
// and metrics (label `bridge`, its name).
//
// Out: an in-process client of the local broker subscribes (no-local, retain as published) to
// each out filter; the handler appends the message to the store-and-forward buffer
// (base/disk_buffer.h) and returns, and only then does the client PUBACK the local broker. A
// sender thread takes the buffer in order and publishes to the remote through aiot's MQTT client
// (at most max_inflight at once); a record leaves the buffer only on the remote's PUBACK / PUBCOMP
// (QoS 0: once written to the socket). While the remote is down the records wait on disk; they go
// in order when it returns, also after a restart or kill -9 (the buffer re-reads its segments).
// At-least-once: after a crash, the records acknowledged since the last ack checkpoint (written
// every fsync interval) and the ones in flight (at most max_inflight) are sent again; the client
// also resends its in-flight messages with DUP after a reconnect. When the buffer is full, new out
// messages are dropped and counted (dropped{reason="buffer_full"}).
//
// In: the remote client subscribes (no-local) to each in filter and publishes what arrives to the
// local broker with the prefixes mapped and the message's QoS and retain flag.
//
// Loops (`both`): MQTT 5 no-local on both sides: the remote does not send back what the bridge
// published there, and the local broker does not hand the bridge what it published locally.
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/disk_buffer.h"
#include "base/metrics.h"
#include "base/result.h"
#include "mqtt/bridge/bridge_config.h"
#include "mqtt/broker/broker.h"
#include "mqtt/client/client.h"

namespace aiot::mqtt::bridge {

struct BridgeStats {
  bool connected = false;     // to the remote
  uint64_t out_buffered = 0;  // local messages appended to the buffer
  uint64_t out_sent = 0;      // acknowledged by the remote (QoS 0: written)
  uint64_t in_received = 0;   // remote messages published locally
  uint64_t dropped = 0;       // every reason
  disk::BufferStats buffer;
};

class Bridge {
 public:
  // Parses the topics, reads the password file, opens (and recovers) the buffer, makes the two
  // clients on `io`. invalid_argument for a bad configuration, io_error for the buffer.
  static Result<std::unique_ptr<Bridge>> Create(const BridgeConfig& config, broker::Broker& broker,
                                                boost::asio::io_context& io,
                                                metrics::Registry& registry);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Connects both clients and starts the sender thread; returns once the local broker has
  // acknowledged the out subscriptions (at most 5 s). The broker's cores and `io` must run.
  void Start();
  // Stops the sender, the clients (what is not acknowledged stays in the buffer), syncs the
  // buffer. Before the broker stops. Idempotent.
  void Stop();

  BridgeStats stats() const;
  const disk::RecoveryReport& recovery() const { return buffer_->recovery(); }
  const BridgeConfig& config() const { return config_; }

 private:
  struct Metrics;
  Bridge(const BridgeConfig& config, metrics::Registry& registry);

  void OnLocalMessage(const TopicSpec& t, const Message& m);
  void OnRemoteMessage(const TopicSpec& t, const Message& m);
  void SendLoop();
  void OnSent(uint64_t seq, std::error_code ec);
  void Drop(const char* reason);
  void UpdateGauges();

  BridgeConfig config_;
  std::vector<TopicSpec> topics_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<disk::DiskBuffer> buffer_;
  std::shared_ptr<Client> local_;
  std::shared_ptr<Client> remote_;
  std::thread sender_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint32_t inflight_ = 0;  // guarded by mu_
  bool stop_ = false;      // guarded by mu_
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<bool> connected_{false};
};

// The bridges of `configs` (BrokerConfig::enabled_bridges()), in order, each on the io_context
// `next_io` gives; the first one that cannot be created is the error (its message names it), and
// none is returned then. Start them after the broker, stop them before it.
Result<std::vector<std::unique_ptr<Bridge>>> CreateBridges(
    const std::vector<BridgeConfig>& configs, broker::Broker& broker,
    const std::function<boost::asio::io_context&()>& next_io, metrics::Registry& registry);

}  // namespace aiot::mqtt::bridge
