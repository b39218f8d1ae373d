#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "mqtt/broker/auth.h"
#include "mqtt/broker/broker_config.h"
#include "mqtt/broker/persistence.h"
#include "mqtt/broker/retained_store.h"
#include "mqtt/broker/session_state.h"
#include "mqtt/broker/subscription_index.h"
#include "mqtt/protocol/packet.h"

// The broker core: sans-I/O. Packets in (ServerConnection::OnPacket), packets out (Link::Send),
// time in (Broker::Tick), work across cores through Executor::Post. The asio binding
// (tcp_listener.h) and the in-process transport are thin layers over this.
namespace aiot::mqtt::broker {

// Runs closures on one core (one io_context thread). Post is callable from any thread; closures
// posted from one thread run in the order posted.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Post(std::function<void()> fn) = 0;
};

// Where a connection's outgoing packets go: a socket (encoded) or an in-process client (as
// structs). Called only on the connection's core.
class Link {
 public:
  virtual ~Link() = default;
  // Queues `packet` for the peer. `version` is the connection's protocol version.
  virtual void Send(const Packet& packet, uint8_t version) = 0;
  // A PUBACK / PUBREC / PUBREL / PUBCOMP without properties, as Send of that packet (the
  // default); a link that encodes writes its bytes directly (EncodeAck), without a Packet.
  virtual void SendAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version);
  // Flushes what was sent, then closes; the binding then calls ServerConnection::OnClosed.
  virtual void Close() = 0;
  // Bytes queued but not yet written to the peer (0 if the link does not queue).
  virtual size_t Backlog() const { return 0; }
  // Backpressure: stop (true) / resume (false) reading packets from the peer. Links that cannot
  // pause (the in-process transport) ignore it; their clients are held back by withheld acks.
  virtual void PauseReading(bool /*paused*/) {}
  // Frees buffers the link keeps for reuse if it has nothing pending (called about once a
  // second by the core's tick, so that idle connections hold none).
  virtual void Trim() {}
  // The local "address:port" the connection came in on (for authenticators); "" if none.
  virtual std::string ListenerAddress() const { return {}; }
  // In-process clients are part of this process: no authentication, no ACL.
  virtual bool Trusted() const { return false; }
  // TLS with use_identity_as_username: the client certificate's identity ("" if it has none),
  // which replaces the CONNECT's user name; nullopt otherwise.
  virtual std::optional<std::string> CertificateUsername() const { return std::nullopt; }
};

class Broker;
class Shard;
class Session;

// The ingest gate: a hook that sees every PUBLISH the broker accepts, before it is acknowledged
// (the Kafka bridge inside the broker, src/kafka/README.md). Offer runs on the publisher's core
// and must not block. What it answers:
// - kPass: not the gate's; routed and acknowledged as usual.
// - kTaken: routed now; for QoS 1/2 the PUBACK / PUBREC waits until the gate calls `done`:
//   kSuccess acknowledges, any other reason code refuses (v5: that code in the PUBACK / PUBREC;
//   3.1.1 has none: the connection is closed, so the client sends the message again). `done` is
//   called at most once, from any thread (the broker posts it to the connection's core; a
//   connection gone or replaced by then is ignored: its client resends). Acks keep the order of
//   the PUBLISHes [MQTT-4.6.0-2]. For QoS 0 `done` is empty.
// - kRefuse: neither routed nor taken; refused with `reason` as above (QoS 0: dropped).
struct IngestVerdict {
  enum Kind : uint8_t { kPass, kTaken, kRefuse };
  Kind kind = kPass;
  ReasonCode reason = ReasonCode::kSuccess;
};
// Where a gate's answer goes: the publisher's core (a Shard).
class IngestAnswerSink {
 public:
  // From any thread: posts the answer for (conn, packet_id) to the sink's core.
  virtual void PostIngestAnswer(uint64_t conn, uint16_t packet_id, ReasonCode rc) = 0;

 protected:
  ~IngestAnswerSink() = default;
};
// A gate's answer for one PUBLISH: the publisher's core, its connection id (which a later
// connection of the same slot does not share) and the packet id. Plain data (24 bytes, copied
// without allocating), so a gate that holds many of them across threads costs no malloc/free.
struct IngestDone {
  IngestAnswerSink* sink = nullptr;  // null: nothing to answer (QoS 0)
  uint64_t conn = 0;
  uint16_t packet_id = 0;

  explicit operator bool() const { return sink != nullptr; }
  void operator()(ReasonCode rc) const { sink->PostIngestAnswer(conn, packet_id, rc); }
};
class IngestGate {
 public:
  virtual ~IngestGate() = default;
  virtual IngestVerdict Offer(const MessagePtr& message, IngestDone done) = 0;
};

// Whom the ACL (acl_file) is checked for: the policy in force when the client connected, its
// client id and user name. Held by the connection's session; absent when there is no ACL.
struct AclIdentity {
  std::shared_ptr<const AuthPolicy> policy;  // has_acl()
  std::string client_id;
  std::optional<std::string> username;

  bool May(std::string_view topic, unsigned access) const {
    return policy->acl()->Check(client_id, username, topic, access);
  }
};

// One client connection as the broker sees it. Created by Broker::Accept on the connection's core;
// used only on that core. The binding calls OnPacket for each decoded packet and OnClosed exactly
// once when the transport is gone; after OnClosed the object is destroyed and must not be used.
class ServerConnection {
 public:
  ServerConnection(Shard& shard, Link& link, bool anonymous_allowed);
  ~ServerConnection();

  void OnPacket(Packet&& packet);
  // A decode error on the stream: v5 gets DISCONNECT with the reason code, then the link closes.
  void OnProtocolError(ReasonCode rc, const char* detail);
  void OnClosed();
  // The link finished a write; `backlog` bytes are still queued. Lets a session release the
  // QoS 0 publishers its backlog held back.
  void OnWritten(size_t backlog);

  uint8_t version() const { return version_; }
  uint32_t max_packet_size() const { return max_packet_size_; }
  const BrokerConfig& config() const;

 private:
  friend class Broker;
  friend class Shard;
  friend class Session;
  enum class Phase : uint8_t { kAwaitConnect, kAwaitSession, kOnline, kClosing };

  // CONNECT, in steps. Each check that can refuse returns false once it has refused.
  void HandleConnect(Connect&& c);
  // CONNACK with `rc` (and `why` as the v5 reason string), then close.
  void RefuseConnect(ReasonCode rc, const char* why);
  // Authentication, an assigned client id (sets `*assigned`), the ACL identity (`*acl`, null
  // without an ACL) and the will topic's ACL.
  bool AdmitClient(Connect& c, std::shared_ptr<const AclIdentity>* acl, bool* assigned);
  // The client's v5 limits (Receive Maximum, Maximum Packet Size, ...) and the session expiry.
  bool AcceptConnectProperties(const Connect& c, uint32_t* expiry);
  // The will against the limits; kept in extras() when accepted.
  bool AcceptWill(const Will& w);
  // Sets the keep alive in force; returns the v5 Server Keep Alive when it is not the client's.
  std::optional<uint16_t> NegotiateKeepAlive(uint16_t requested);
  Properties ConnackProperties(const Connect& c, uint32_t expiry, bool assigned,
                               std::optional<uint16_t> server_keep_alive) const;
  struct SessionSetup;
  // On the connection's core: attaches the session (nullptr: a new one) and sends CONNACK.
  static void InstallSession(const std::shared_ptr<SessionSetup>& setup,
                             std::unique_ptr<Session> s);
  // Ends the old session's connection on the core that has it, then installs that session (or a
  // new one, for Clean Start) here.
  void TakeOverSession(SessionKey old_key, uint32_t old_core, bool clean_start,
                       std::shared_ptr<SessionSetup> setup);
  // Authentication at CONNECT (auth.h): the CONNACK reason code to refuse with, or kSuccess;
  // `policy` is set to the policy in force (null: trusted or none loaded).
  ReasonCode Authenticate(const Connect& c, std::shared_ptr<const AuthPolicy>* policy);
  // ACL (acl_file): may this client publish to / receive `topic`? (Online only.)
  bool MayAccess(std::string_view topic, unsigned access) const;
  // Detaches from the session as a network failure would (will, session expiry).
  void OnSessionLost();
  void Dispatch(Packet&& packet);
  void HandlePublish(Publish&& p);
  // v5 topic alias of an incoming PUBLISH: records it, or fills in the topic. False: killed.
  bool ResolveTopicAlias(Publish& p);
  // Topic name, configured limits, QoS and retain: false when the connection was killed.
  bool AdmitPublish(const Publish& p);
  // A PUBLISH to a topic the ACL does not let this client write: counted, acked, not routed.
  void DropUnauthorizedPublish(uint16_t packet_id, uint8_t qos);
  // The routed message of an accepted PUBLISH (its topic, payload and properties moved out).
  MessagePtr ToMessage(Publish&& p, uint8_t qos);
  void HandleSubscribe(Subscribe&& s);
  void HandleUnsubscribe(Unsubscribe&& u);
  void HandleDisconnect(Disconnect&& d);
  // Server-initiated close: DISCONNECT with `rc` for v5 (if CONNECT was accepted), then close.
  void Kill(ReasonCode rc, const char* reason);
  void Send(const Packet& packet);
  void SendAckPacket(PacketType type, uint16_t packet_id, ReasonCode rc = ReasonCode::kSuccess);
  void SendPublish(const Delivery& d, uint16_t packet_id, bool dup);
  // PUBACK / PUBREC for an incoming QoS 1/2 PUBLISH: sent now, or held while a subscriber this
  // connection publishes to is congested (acks keep the order of the PUBLISHes [MQTT-4.6.0-2]).
  // `gates`: how many answers the ack also waits for (OnIngestDone: the ingest gate, the
  // persistence log with every_ack); `rc` is the ack's reason.
  void SendFlowAck(PacketType type, uint16_t packet_id, uint8_t gates = 0,
                   ReasonCode rc = ReasonCode::kSuccess);
  void SendAck(PacketType type, uint16_t packet_id, ReasonCode rc);
  // The ingest gate's answer for a PUBLISH (IngestGate). False: refused (answered here).
  bool OfferToIngestGate(IngestGate& gate, const MessagePtr& m, uint16_t packet_id, bool* gated);
  // A gate (ingest gate, persistence) finished with `packet_id` (on this core): its ack may go
  // once no gate holds it, or it is refused.
  void OnIngestDone(uint16_t packet_id, ReasonCode rc);
  // Sends the held acks from the front that wait for nothing any more (none while paused_by_).
  void ReleaseHeldAcks();
  // True when `packet_id`'s PUBREC is still held (a QoS 2 resend must not ack it early).
  bool HoldsAck(uint16_t packet_id) const;
  // Backpressure from congested sessions: +1 per session holding this publisher back, -1 when
  // it releases it. At 0 the held acks are sent and reading resumes.
  void AdjustPause(int delta);

  // Rarely needed per-connection state, allocated on first use and kept until the connection
  // ends: most connections have no will, use no topic aliases, send nothing before their CONNACK
  // and are never held back, and an idle connection should be small.
  struct Extras {
    std::optional<WillState> will;
    // Topic aliases: client -> broker (alias -> topic) and broker -> client (topic -> alias).
    std::unordered_map<uint16_t, std::string> alias_in;
    std::unordered_map<std::string, uint16_t> alias_out;
    std::vector<Packet> pending;  // packets received while the session is being fetched
    // Withheld by backpressure or waiting for the ingest gate or the persistence log (`gates`
    // answers still to come), in PUBLISH order.
    struct HeldAck {
      PacketType type;
      uint16_t packet_id;
      uint8_t gates;
      ReasonCode rc;
    };
    std::vector<HeldAck> held_acks;
  };
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }
  bool has_held_acks() const { return extras_ && !extras_->held_acks.empty(); }

  Broker& broker() const;  // the shard's

  Shard& shard_;
  Link& link_;
  Session* session_ = nullptr;  // owned by the shard
  uint64_t conn_id_ = 0;        // this connection's id on its shard (Shard::FindConnection)
  int64_t last_packet_ns_ = 0;  // monotonic; until CONNECT arrives, when the connection opened
  std::unique_ptr<Extras> extras_;
  // Client's limits (v5 CONNECT properties).
  uint32_t max_packet_size_ = UINT32_MAX;
  // Backpressure (see README "Threads and ownership"): sessions currently holding us back (the
  // acks withheld meanwhile are in extras_), and whether the link was asked to stop reading.
  uint32_t paused_by_ = 0;
  uint16_t keep_alive_s_ = 0;
  uint16_t client_receive_maximum_ = 65535;
  uint16_t client_topic_alias_maximum_ = 0;
  Phase phase_ = Phase::kAwaitConnect;
  uint8_t version_ = 0;
  bool anonymous_allowed_;
  bool send_will_ = true;  // false after DISCONNECT 0x00
  bool request_problem_information_ = true;
  bool reading_paused_ = false;
  bool waiting_transit_ = false;  // held by its own core (Shard::WaitForTransit)
};

// Counters of the whole broker (also exported to Prometheus and $SYS).
struct BrokerStats {
  std::atomic<uint64_t> connections{0};  // currently connected (CONNACK accepted)
  std::atomic<uint64_t> sessions{0};     // sessions existing (online + offline)
  std::atomic<uint64_t> msgs_dropped{0};
  std::atomic<uint64_t> sockets{0};  // transport connections open (before CONNECT too)
};

// PUBLISH traffic summed over the cores (each core counts its own, without shared cache lines).
struct MessageTotals {
  uint64_t msgs_received = 0;
  uint64_t msgs_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
};

// The broker. Thread-safety: Accept/Tick/ServerConnection methods run on the core they are for;
// everything shared between cores (subscription index, retained store, client-id registry,
// stats) is internally synchronized. See src/mqtt/README.md "## Broker".
class Broker {
 public:
  Broker(const BrokerConfig& config, metrics::Registry& registry,
         const Clock& clock = SystemClock::Instance());
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // One executor per core; must be called once before Accept. The executors outlive the broker.
  void SetCores(std::vector<Executor*> cores);
  size_t cores() const { return shards_.size(); }

  // A new transport connection on `core`. REQUIRES: called on that core. Returns nullptr when
  // max_connections is reached (the binding closes the transport).
  ServerConnection* Accept(uint32_t core, Link& link, bool anonymous_allowed);

  // Runs `fn` on `core` (any thread). For bindings such as the in-process transport.
  void Post(uint32_t core, std::function<void()> fn);
  // A core for a new connection, round robin (any thread).
  uint32_t NextCore() { return static_cast<uint32_t>(next_core_++ % shards_.size()); }

  // Timers of `core`: CONNECT timeout, keep alive, will delay, session and message expiry.
  // REQUIRES: called on that core, about once a second.
  void Tick(uint32_t core);

  // Publishes the $SYS topics (retained). Called from one thread at a time.
  void PublishSys();

  // Server shutdown: DISCONNECT (v5: Server shutting down) and close every connection of `core`.
  // REQUIRES: called on that core.
  void Shutdown(uint32_t core);

  // Authentication and ACL (config password_file / acl_file, plus `external` for usernames the
  // password file does not know, e.g. the device registry). Loads the files; on failure the
  // previous policy stays and the Status says why (its message names the file; not logged here).
  // BrokerServer::Start calls it; call it again to reload (SIGHUP): new connections get the new
  // policy. Any thread.
  Status LoadAuth();
  // Sets the external authenticator; takes effect at the next LoadAuth. Before Start.
  void SetAuthenticator(Authenticator external);

  // Installs (or, with nullptr, removes) the ingest gate; any thread. After removing it, an
  // Offer already running on a core may still finish: the caller waits for the cores (Post)
  // before destroying the gate.
  void SetIngestGate(IngestGate* gate) { ingest_gate_.store(gate, std::memory_order_release); }

  // broker.persistence: loads the log (refusing a corrupt one unless `recover`), restores its
  // sessions (offline), subscriptions, queued and in-flight messages and retained messages, and
  // starts the writer. REQUIRES: after SetCores, before any connection (BrokerServer::Start calls
  // it before opening the listeners). No-op with mode none.
  Status OpenPersistence();
  // The persistence log (null: mode none).
  Persister* persister() const { return persist_.get(); }

  // Publishes a message from the broker itself (e.g. $SYS). Any thread.
  void PublishFromBroker(std::string topic, std::string payload, bool retain);

  const BrokerConfig& config() const { return config_; }
  const BrokerStats& stats() const { return stats_; }
  MessageTotals totals() const;
  const Clock& clock() const { return clock_; }
  SubscriptionIndex& index() { return index_; }
  RetainedStore& retained() { return retained_; }

 private:
  friend class ServerConnection;
  friend class Shard;
  friend class Session;
  struct Metrics;
  struct RegistryEntry {
    SessionKey key = 0;
    uint32_t core = 0;
  };

  // Registers `client_id` on `core` (with the old session's key unless `clean_start`, else
  // `new_key`); returns the entry it had before, if any.
  std::optional<RegistryEntry> ClaimClientId(const std::string& client_id, SessionKey new_key,
                                             bool clean_start, uint32_t core);
  // What HandlePublish adds to the persistence record of a routed message.
  struct RouteLog {
    bool retain_store = false;        // the message sets / clears its topic's retained message
    SessionKey publisher = 0;         // QoS 2: the publisher's session and packet id, now
    uint16_t incoming_packet_id = 0;  // awaiting PUBREL
    std::function<void()> done;       // every_ack: runs once the record is durable
    bool waits = false;               // out: a record was appended with `done`
  };
  // Routes a message accepted from a publisher on `from_core` (or the broker) to every matching
  // session, posting one batch per other core. With persistence, the deliveries to persistent
  // sessions are logged first (one RecPublish, with what `log` adds).
  void Route(uint32_t from_core, MessagePtr msg, RouteLog* log = nullptr);
  // Appends the RecPublish of a routed message (its deliveries to persistent sessions).
  void LogRoute(const MessagePtr& msg,
                const std::vector<std::tuple<uint32_t, SessionKey, Delivery>>& out, RouteLog* log);
  // Restores a session loaded from the log onto `shard` (offline).
  void RestoreSession(Shard* shard, SessionKey key, const PersistedSession& ps);
  // A persistence id for a message about to be routed (0: persistence off).
  uint64_t NextMessageId() { return persist_ ? next_msg_id_++ : 0; }
  // Delivers retained messages matching `filter` to session on `core` (the current core).
  void Forget(const std::string& client_id, SessionKey key);

  std::shared_ptr<const AuthPolicy> auth_policy() const;

  BrokerConfig config_;
  const Clock& clock_;
  mutable std::mutex auth_mu_;
  std::shared_ptr<const AuthPolicy> auth_;  // guarded by auth_mu_; null: no authentication
  Authenticator external_auth_;             // guarded by auth_mu_
  std::unique_ptr<Metrics> metrics_;
  BrokerStats stats_;
  SubscriptionIndex index_;
  RetainedStore retained_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::mutex registry_mu_;
  // std::hash<std::string> makes the map cache each key's hash in its node; an idle connection
  // should not pay for that (rehashing recomputes the hashes instead).
  struct ClientIdHash {
    size_t operator()(const std::string& id) const noexcept {
      return std::hash<std::string_view>()(id);
    }
  };
  std::unordered_map<std::string, RegistryEntry, ClientIdHash>
      registry_;  // guarded by registry_mu_
  std::atomic<IngestGate*> ingest_gate_{nullptr};
  std::atomic<SessionKey> next_key_{1};
  std::atomic<uint64_t> next_core_{0};
  std::atomic<uint64_t> next_assigned_id_{1};
  int64_t started_ns_ = 0;
  std::atomic<uint64_t> clients_total_max_{0};
  uint64_t prom_rx_ = 0;  // Tick(0) only: totals already added to the Prometheus counters
  uint64_t prom_tx_ = 0;
  uint64_t sys_last_rx_ = 0;  // PublishSys only
  uint64_t sys_last_tx_ = 0;
  std::atomic<uint64_t> next_msg_id_{1};
  // Last member: destroyed first (its writer's last callbacks may touch the shards).
  std::unique_ptr<Persister> persist_;
};

}  // namespace aiot::mqtt::broker
