#pragma once

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "base/result.h"
#include "mqtt/client/client_config.h"
#include "mqtt/client/transport.h"
#include "mqtt/protocol/packet.h"

namespace aiot::mqtt {

// A received application message (the PUBLISH as the server sent it; topic aliases resolved).
using Message = Publish;

struct PublishOptions {
  QoS qos = QoS::kAtMostOnce;
  bool retain = false;
  Properties properties{};  // v5: message expiry, content type, response topic, user properties...
};

// Completion of a Publish: {} once QoS 0 is handed to the transport, QoS 1 is PUBACKed, QoS 2 is
// PUBCOMPed; a ReasonCode error (mqtt_category) when the server refused it; errc::cancelled when
// the client stopped first.
using PublishDone = std::function<void(std::error_code)>;
using MessageHandler = std::function<void(const Message&)>;
// The SUBACK / UNSUBACK reason code for the filter (kGrantedQos0..2 or a failure).
using SubscribeDone = std::function<void(ReasonCode)>;

enum class ConnectionState { kDisconnected, kConnecting, kConnected, kStopped };
const char* ConnectionStateName(ConnectionState s);

struct ConnectionEvent {
  ConnectionState state = ConnectionState::kDisconnected;
  // Why the connection ended or failed: a network error, a CONNACK/DISCONNECT reason code
  // (mqtt_category), or {} for an orderly close.
  std::error_code error;
  bool session_present = false;  // kConnected only
};
using ConnectionHandler = std::function<void(const ConnectionEvent&)>;

struct ClientStats {
  uint64_t published = 0;  // accepted by Publish()
  uint64_t completed = 0;  // PublishDone called with success
  uint64_t failed = 0;     // PublishDone called with an error
  uint64_t received = 0;   // messages delivered to handlers
  uint64_t connects = 0;   // successful CONNACKs
  uint64_t rejected = 0;   // Publish() refused (queue full)
  uint64_t aliased = 0;    // PUBLISH packets sent with a topic alias instead of the topic
};

// An MQTT 3.1.1 / 5.0 client over a Transport (TCP, or in-process to the embedded broker).
//
//   auto client = mqtt::Client::Create(io, cfg);
//   client->Subscribe("fan/messages", QoS::kAtLeastOnce, [](const mqtt::Message& m) { ... });
//   client->Start();
//   client->Publish("fan/anomaly", payload, {.qos = QoS::kAtLeastOnce});
//   client->Stop();
//
// Keeps connecting (exponential backoff with jitter), resubscribes when the server has no
// session, resends unacknowledged QoS 1/2 messages (DUP) after a reconnect, queues messages
// published while disconnected (bounded by offline_queue_limit) and respects the server's
// Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size and Server Keep Alive.
//
// Thread-safety: Start, Stop, Publish, Subscribe and Unsubscribe may be called from any thread
// (they post to the client's strand; Publish takes a mutex to bound the queue). Every callback
// (message, connection and completion handlers) runs on the client's strand, one at a time.
// Set*Handler must be called before Start(). The io_context must outlive the client; call Stop()
// and let it complete before destroying the io_context.
class Client : public std::enable_shared_from_this<Client>, private TransportHandler {
 public:
  // `transport_factory` makes the transport; empty = TCP (tcp:// and mqtt:// urls) or TLS
  // (mqtts://, with config.tls: a CA or certificate file that cannot be used is logged and fails
  // each attempt with invalid_argument). For
  // "inproc://" pass the embedded broker's factory. `config` must pass Validate (client_config.h;
  // the configuration loader runs it): a protocol_version or will_qos outside the protocol aborts;
  // a url the transport cannot use fails every connection attempt (the connection handler sees
  // kDisconnected with invalid_argument).
  static std::shared_ptr<Client> Create(boost::asio::io_context& io, MqttClientConfig config,
                                        TransportFactory transport_factory = {});
  static std::shared_ptr<Client> Create(const boost::asio::any_io_executor& executor,
                                        MqttClientConfig config,
                                        TransportFactory transport_factory = {});
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void SetMessageHandler(MessageHandler handler);  // messages no Subscribe handler took
  void SetConnectionHandler(ConnectionHandler handler);
  // Batched acknowledgements: `flush` runs on the strand after the message handlers of the
  // PUBLISHes decoded from one read (TCP/TLS) and before their PUBACKs / PUBRECs, which then
  // leave together, in order; also before the connection's end is handled. So a handler may
  // queue its work and `flush` make it durable once per batch (`aiot bridge`: one buffer write).
  // With a transport without batches (in-process), after each message. Before Start().
  void SetBatchFlushHandler(std::function<void()> flush);

  void Start();
  // Sends DISCONNECT (normal, so no will) when connected, closes, cancels timers and fails the
  // queued and in-flight messages with errc::cancelled; then calls `done` on the strand.
  void Stop(std::function<void()> done = {});

  // Queues a message. Fails at once with ReasonCode::kTopicNameInvalid for an invalid topic,
  // errc::resource_exhausted when offline_queue_limit messages are already waiting, or
  // errc::cancelled after Stop().
  Status Publish(std::string topic, SharedBytes payload, PublishOptions options = {},
                 PublishDone done = {});
  // Subscribes now, or on the next connection when disconnected; kept across reconnects.
  // `handler` gets the messages matching `filter` (may be empty: they go to the message handler).
  void Subscribe(std::string filter, SubscribeOptions options, MessageHandler handler,
                 SubscribeDone done = {});
  void Subscribe(std::string filter, QoS qos, MessageHandler handler) {
    Subscribe(std::move(filter), SubscribeOptions{.qos = qos}, std::move(handler));
  }
  void Unsubscribe(std::string filter, SubscribeDone done = {});

  ConnectionState state() const { return state_.load(); }
  ClientStats stats() const;
  const MqttClientConfig& config() const { return config_; }
  const std::string& client_id() const { return client_id_; }
  const boost::asio::any_io_executor& executor() const { return strand_; }

 private:
  struct Outgoing {
    mqtt::Publish publish;
    PublishDone done;
    uint64_t seq = 0;
    bool pubrec_received = false;
  };
  struct SubscriptionEntry {
    SubscribeOptions options;
    MessageHandler handler;
    bool in_session = false;  // the server has it (SUBACK success in this session)
    SubscribeDone done;       // pending until the SUBACK
  };
  struct PendingRequest {
    std::vector<std::string> filters;
  };
  enum class Phase { kIdle, kConnecting, kAwaitConnack, kConnected, kBackoff, kStopping, kStopped };

  Client(const boost::asio::any_io_executor& executor, MqttClientConfig config,
         TransportFactory factory);

  // TransportHandler (on the strand).
  void OnTransportConnected() override;
  void OnTransportPacket(Packet&& packet) override;
  void OnTransportClosed(std::error_code ec) override;
  void OnTransportDrained() override;
  void OnTransportBatchBegin() override;
  void OnTransportBatchEnd() override;
  // Runs the batch flush handler if messages were handed out since, then sends the held acks.
  void FlushBatch();

  void Connect();
  void ScheduleReconnect();
  void SetPhase(Phase p);
  void Emit(ConnectionState s, std::error_code ec, bool session_present = false);
  void HandleConnack(Connack&& ack);
  void HandlePublish(mqtt::Publish&& p);
  void HandleAck(PacketType type, uint16_t id, ReasonCode rc);
  void HandleSuback(Suback&& s);
  void HandleUnsuback(Unsuback&& u);
  void Fail(ReasonCode rc, const char* why);  // protocol violation by the server
  void SubscribePending();
  void Drain();
  void Send(Packet packet);
  // Sends a PUBLISH, replacing its topic by an outgoing topic alias when one is (or can be) bound.
  void SendPublish(const mqtt::Publish& p);
  uint16_t NextPacketId();
  void StartKeepAlive();
  void OnKeepAliveTimer();
  void FinishMessage(Outgoing& m, std::error_code ec);
  void CancelAll();

  boost::asio::any_io_executor strand_;
  MqttClientConfig config_;
  TransportFactory factory_;
  std::string client_id_;
  std::unique_ptr<Transport> transport_;
  // mqtts:// urls: made from config_.tls on the first connection attempt (retried while it fails).
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::atomic<ConnectionState> state_{ConnectionState::kDisconnected};
  Phase phase_ = Phase::kIdle;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer keepalive_timer_;
  uint32_t attempt_ = 0;
  std::mt19937 rng_;
  std::vector<std::function<void()>> stop_done_;

  MessageHandler message_handler_;
  ConnectionHandler connection_handler_;

  // Server limits of the current connection.
  uint32_t send_quota_ = 65535;
  uint8_t server_max_qos_ = 2;
  bool server_retain_available_ = true;
  uint32_t server_max_packet_size_ = 0;
  uint16_t keep_alive_s_ = 0;
  uint8_t version_ = kMqtt5;

  std::map<std::string, SubscriptionEntry> subscriptions_;
  std::function<void()> batch_flush_;
  bool in_batch_ = false;          // between OnTransportBatchBegin and End
  bool batch_unflushed_ = false;   // messages handed to handlers since the last flush
  std::vector<Packet> held_acks_;  // PUBACK / PUBREC waiting for the flush
  std::unordered_map<uint16_t, PendingRequest> pending_subscribes_;
  std::unordered_map<uint16_t, std::pair<std::string, SubscribeDone>> pending_unsubscribes_;
  std::map<uint16_t, Outgoing> inflight_;
  std::unordered_set<uint16_t> qos2_received_;
  std::unordered_map<uint16_t, std::string> topic_aliases_in_;
  // Outgoing topic aliases of the current connection: topic -> (alias, last use).
  struct AliasOut {
    uint16_t alias = 0;
    uint64_t last_used = 0;
  };
  uint16_t alias_out_max_ = 0;  // min(topic_alias_maximum_out, server's Topic Alias Maximum)
  std::unordered_map<std::string, AliasOut> aliases_out_;
  uint64_t alias_clock_ = 0;
  uint16_t next_packet_id_ = 1;
  uint64_t next_seq_ = 1;
  int64_t last_sent_ns_ = 0;
  bool ping_outstanding_ = false;
  int64_t ping_sent_ns_ = 0;

  // Messages accepted by Publish() and not yet in flight. Guarded by queue_mu_ (Publish runs on
  // any thread); everything else above is used only on the strand.
  std::mutex queue_mu_;
  std::deque<Outgoing> queue_;
  bool drain_posted_ = false;

  std::atomic<uint64_t> stat_published_{0}, stat_completed_{0}, stat_failed_{0}, stat_received_{0},
      stat_connects_{0}, stat_rejected_{0}, stat_aliased_{0};
};

}  // namespace aiot::mqtt
