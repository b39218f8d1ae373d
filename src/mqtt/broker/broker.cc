#include "mqtt/broker/broker.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <unordered_set>

#include "base/check.h"
#include "base/version.h"
#include "mqtt/protocol/codec.h"
#include "mqtt/protocol/topic.h"

namespace aiot::mqtt::broker {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr uint32_t kNoCore = UINT32_MAX;
constexpr uint32_t kSessionNeverExpires = 0xFFFFFFFFu;

template <typename T>
T Ack(uint16_t packet_id, ReasonCode rc = ReasonCode::kSuccess) {
  T t;
  t.packet_id = packet_id;
  t.reason_code = rc;
  return t;
}

Connack MakeConnack(ReasonCode rc, bool session_present = false) {
  Connack c;
  c.reason_code = rc;
  c.session_present = session_present;
  return c;
}

uint8_t Qos(QoS q) { return static_cast<uint8_t>(q); }

bool TopicWithinLimits(const BrokerConfig& c, std::string_view topic) {
  if (topic.size() > c.max_topic_length) return false;
  if (c.max_topic_levels == 0) return true;
  size_t levels = 1 + std::count(topic.begin(), topic.end(), '/');
  return levels <= c.max_topic_levels;
}

}  // namespace

// ---- Metrics ---------------------------------------------------------------------------------

struct Broker::Metrics {
  explicit Metrics(metrics::Registry& r)
      : connections_family(prometheus::BuildGauge()
                               .Name("aiot_mqtt_broker_connections")
                               .Help("MQTT clients currently connected")
                               .Register(r)),
        connections(connections_family.Add({})),
        sessions(prometheus::BuildGauge()
                     .Name("aiot_mqtt_broker_sessions")
                     .Help("MQTT sessions (online and offline)")
                     .Register(r)
                     .Add({})),
        subscriptions(prometheus::BuildGauge()
                          .Name("aiot_mqtt_broker_subscriptions")
                          .Help("MQTT subscriptions")
                          .Register(r)
                          .Add({})),
        retained(prometheus::BuildGauge()
                     .Name("aiot_mqtt_broker_retained_messages")
                     .Help("Retained messages stored")
                     .Register(r)
                     .Add({})),
        messages(prometheus::BuildCounter()
                     .Name("aiot_mqtt_broker_messages_total")
                     .Help("PUBLISH packets received from and sent to clients")
                     .Register(r)),
        received(messages.Add({{"direction", "received"}})),
        sent(messages.Add({{"direction", "sent"}})),
        dropped_family(prometheus::BuildCounter()
                           .Name("aiot_mqtt_broker_messages_dropped_total")
                           .Help("Messages not delivered, by reason")
                           .Register(r)),
        dropped_queue_full(dropped_family.Add({{"reason", "queue_full"}})),
        dropped_too_large(dropped_family.Add({{"reason", "packet_too_large"}})),
        dropped_expired(dropped_family.Add({{"reason", "expired"}})),
        dropped_offline_qos0(dropped_family.Add({{"reason", "offline_qos0"}})),
        dropped_slow_consumer(dropped_family.Add({{"reason", "slow_consumer"}})),
        dropped_not_authorized(dropped_family.Add({{"reason", "not_authorized"}})),
        rejected_family(prometheus::BuildCounter()
                            .Name("aiot_mqtt_broker_connections_rejected_total")
                            .Help("Connections refused or closed by the broker, by reason")
                            .Register(r)),
        rejected_max_connections(rejected_family.Add({{"reason", "max_connections"}})),
        rejected_not_authorized(rejected_family.Add({{"reason", "not_authorized"}})),
        rejected_bad_credentials(rejected_family.Add({{"reason", "bad_credentials"}})),
        rejected_connect_timeout(rejected_family.Add({{"reason", "connect_timeout"}})),
        rejected_keep_alive(rejected_family.Add({{"reason", "keep_alive_timeout"}})),
        rejected_protocol(rejected_family.Add({{"reason", "protocol_error"}})),
        rejected_limits(rejected_family.Add({{"reason", "limit_exceeded"}})),
        backpressure_family(prometheus::BuildCounter()
                                .Name("aiot_mqtt_broker_backpressure_total")
                                .Help("Publishers held back for congested subscribers (pause), "
                                      "holds given up after max_publisher_pause_ms (timeout), "
                                      "and messages a held publisher had in flight, queued "
                                      "beyond the session's limit instead of dropped "
                                      "(beyond_limit)")
                                .Register(r)),
        backpressure_pause(backpressure_family.Add({{"event", "pause"}})),
        backpressure_timeout(backpressure_family.Add({{"event", "timeout"}})),
        queued_beyond_limit(backpressure_family.Add({{"event", "beyond_limit"}})) {}

  prometheus::Family<prometheus::Gauge>& connections_family;
  prometheus::Gauge& connections;
  prometheus::Gauge& sessions;
  prometheus::Gauge& subscriptions;
  prometheus::Gauge& retained;
  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Counter& received;
  prometheus::Counter& sent;
  prometheus::Family<prometheus::Counter>& dropped_family;
  prometheus::Counter& dropped_queue_full;
  prometheus::Counter& dropped_too_large;
  prometheus::Counter& dropped_expired;
  prometheus::Counter& dropped_offline_qos0;
  prometheus::Counter& dropped_slow_consumer;
  prometheus::Counter& dropped_not_authorized;
  prometheus::Family<prometheus::Counter>& rejected_family;
  prometheus::Counter& rejected_max_connections;
  prometheus::Counter& rejected_not_authorized;
  prometheus::Counter& rejected_bad_credentials;
  prometheus::Counter& rejected_connect_timeout;
  prometheus::Counter& rejected_keep_alive;
  prometheus::Counter& rejected_protocol;
  prometheus::Counter& rejected_limits;
  prometheus::Family<prometheus::Counter>& backpressure_family;
  prometheus::Counter& backpressure_pause;
  prometheus::Counter& backpressure_timeout;
  prometheus::Counter& queued_beyond_limit;
};

// ---- Session ---------------------------------------------------------------------------------

// A session on its current core. REQUIRES: every method runs on shard->index's core.
class Session {
 public:
  Session(Shard* shard, SessionKey key) : shard_(shard), key_(key) {}

  SessionKey key() const { return key_; }
  SessionState& state() { return state_; }
  ServerConnection* conn() const { return conn_; }

  void Attach(ServerConnection* conn, Shard* shard) {
    conn_ = conn;
    shard_ = shard;
    state_.expires_at_ns = 0;
  }
  void Detach() {
    conn_ = nullptr;
    Release();  // an offline session holds nobody back: it drops beyond its limits
  }
  // The ACL deliveries are checked against (null: none), from the last connection's identity.
  void SetAcl(std::unique_ptr<const AclIdentity> acl) { acl_ = std::move(acl); }
  const AclIdentity* acl() const { return acl_.get(); }
  void set_shard(Shard* s) { shard_ = s; }

  size_t Window() const {
    size_t w = broker().config_.max_inflight_messages;
    if (conn_ != nullptr) w = std::min<size_t>(w, conn_->client_receive_maximum_);
    return std::max<size_t>(w, 1);
  }

  // A message routed to this session.
  void Enqueue(Delivery&& d);
  // Sends queued messages while the in-flight window has room.
  void Pump();
  // After a reconnect: resend unacknowledged PUBLISH (DUP) and PUBREL [MQTT-4.4.0-1].
  void ResendInflight();
  void OnAck(PacketType type, uint16_t packet_id, ReasonCode rc);
  // Backpressure: publishers are held back from an eighth of the queue limits, released at a
  // 16th (a short queue keeps the latency of a held stream low; it still never runs dry at full
  // speed); for QoS 0, from an eighth of max_write_buffer unwritten, released at a 32nd.
  bool AboveHighWatermark() const;
  bool BelowLowWatermark() const;
  size_t WriteHighWatermark() const {
    uint32_t limit = broker().config_.max_write_buffer;
    return limit == 0 ? size_t{1} << 20 : std::max<size_t>(limit / 8, 1);
  }
  size_t WriteLowWatermark() const { return WriteHighWatermark() / 4; }
  // The connection wrote; `backlog` bytes are still unwritten.
  void OnWritten(size_t backlog);
  // Holds back the connection that published `m` (once per congestion).
  void HoldPublisher(const Message& m);
  // Releases every publisher held back; the session stays in drop mode when `timed_out`.
  void Release();
  // Tick: a hold lasting longer than max_publisher_pause_ms turns into dropping.
  void CheckPauseTimeout(int64_t now);
  // Persistence: the log, if this session's state is kept (expiry > 0), else null.
  Persister* PersistLog() const {
    Persister* p = broker().persist_.get();
    return p != nullptr && state_.expiry_interval_s != 0 ? p : nullptr;
  }
  // Logs the end of a delivery of `m` (QoS 1/2) that will not be made or is over.
  void LogDone(const Message& m, uint8_t qos) {
    if (qos == 0 || m.persist_id == 0) return;
    if (Persister* p = PersistLog()) p->Append(RecDone{key_, m.persist_id});
  }
  // Removes every subscription from the index.
  void DropSubscriptions() {
    if (!state_.contents) return;
    auto& subscriptions = state_.contents->subscriptions;
    for (const auto& [filter, opts] : subscriptions) broker().index_.Remove(key_, filter);
    subscriptions.clear();
  }

 private:
  uint16_t NextPacketId() {
    for (int i = 0; i < 65536; ++i) {
      uint16_t id = state_.next_packet_id++;
      if (state_.next_packet_id == 0) state_.next_packet_id = 1;
      if (id != 0 && !state_.View().inflight_out.contains(id)) return id;
    }
    return 0;
  }
  bool SendNew(Delivery&& d);

  Broker& broker() const;  // the shard's

  Shard* shard_;
  SessionKey key_;
  ServerConnection* conn_ = nullptr;
  SessionState state_;
  std::unique_ptr<const AclIdentity> acl_;
  // Backpressure state (not session state: it concerns the current connections only). A hold
  // exists while publishers are being held back (allocated per congestion, which is rare).
  struct Hold {
    int64_t since_ns = 0;
    std::vector<std::pair<uint32_t, uint64_t>> held;  // (core, connection id) held back
  };
  std::unique_ptr<Hold> hold_;
  bool overflowing_ = false;  // a hold timed out: drop beyond the limits until drained
};

// ---- SessionTable: a shard's sessions by key
// -----------------------------------------------------

// Open addressing with linear probing over the sessions themselves (the key is the session's
// own): a slot of 8 bytes, at most 3/4 full, where std::unordered_map costs a 32-byte node and a
// bucket per session. Owns the sessions. Iterating is safe as long as nothing is inserted or
// taken meanwhile.
class SessionTable {
 public:
  SessionTable() = default;
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;
  ~SessionTable() {
    for (Session* s : slots_) delete s;
  }

  Session* Find(SessionKey key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = Home(key);; i = (i + 1) & mask()) {
      if (slots_[i] == nullptr) return nullptr;
      if (slots_[i]->key() == key) return slots_[i];
    }
  }
  // REQUIRES: no session with s->key() in the table.
  void Insert(std::unique_ptr<Session> s) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    Place(s.release());
    ++size_;
  }
  // Removes the session with `key` and hands it over; null if there is none.
  std::unique_ptr<Session> Take(SessionKey key) {
    if (size_ == 0) return nullptr;
    size_t i = Home(key);
    for (;; i = (i + 1) & mask()) {
      if (slots_[i] == nullptr) return nullptr;
      if (slots_[i]->key() == key) break;
    }
    std::unique_ptr<Session> taken(slots_[i]);
    slots_[i] = nullptr;
    --size_;
    // Backward shift: an entry further on in the cluster whose probe path crosses the hole moves
    // into it, so lookups never stop early at the hole.
    for (size_t j = (i + 1) & mask(); slots_[j] != nullptr; j = (j + 1) & mask()) {
      size_t home = Home(slots_[j]->key());
      if (((j - home) & mask()) >= ((j - i) & mask())) {
        slots_[i] = slots_[j];
        slots_[j] = nullptr;
        i = j;
      }
    }
    return taken;
  }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (Session* s : slots_) {
      if (s != nullptr) fn(s);
    }
  }

 private:
  size_t mask() const { return slots_.size() - 1; }
  // Fibonacci hashing: keys are consecutive integers, spread over the table by the top bits.
  size_t Home(SessionKey key) const {
    return static_cast<size_t>((uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void Place(Session* s) {
    size_t i = Home(s->key());
    while (slots_[i] != nullptr) i = (i + 1) & mask();
    slots_[i] = s;
  }
  void Grow() {
    std::vector<Session*> old = std::move(slots_);
    size_t capacity = old.empty() ? 8 : old.size() * 2;
    slots_.assign(capacity, nullptr);
    shift_ = 64 - std::countr_zero(capacity);
    for (Session* s : old) {
      if (s != nullptr) Place(s);
    }
  }

  std::vector<Session*> slots_;  // size 0 or a power of two
  size_t size_ = 0;
  int shift_ = 64;
};

// ---- Shard: the per-core part of the broker ----------------------------------------------------

// Everything one core owns: its sessions, its connections and its outgoing cross-core batches.
// REQUIRES: every method runs on this core, except Post.
class Shard final : public IngestAnswerSink {
 public:
  Shard(Broker& broker, uint32_t index, Executor* exec)
      : broker_(broker), index_(index), exec_(exec) {}

  uint32_t index() const { return index_; }
  Broker& broker() const { return broker_; }
  void Post(std::function<void()> fn) { exec_->Post(std::move(fn)); }

  // A connection's id is its slot in conns_ (low 32 bits) and a sequence number (high 32 bits,
  // never 0), so that an id outlives its connection: a slot's next connection has another id.
  ServerConnection* AddConnection(Link& link, bool anonymous_allowed) {
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<uint32_t>(conns_.size());
      conns_.emplace_back();
    }
    if (++conn_seq_ == 0) conn_seq_ = 1;
    conns_[slot] = std::make_unique<ServerConnection>(*this, link, anonymous_allowed);
    ServerConnection* raw = conns_[slot].get();
    raw->conn_id_ = uint64_t{conn_seq_} << 32 | slot;
    return raw;
  }
  void RemoveConnection(ServerConnection* conn) {
    AIOT_CHECK(FindConnection(conn->conn_id_) == conn, "unknown connection");
    uint32_t slot = static_cast<uint32_t>(conn->conn_id_);
    conns_[slot].reset();  // destroys conn
    free_slots_.push_back(slot);
  }
  uint64_t ConnectionId(ServerConnection* conn) const { return conn->conn_id_; }
  ServerConnection* FindConnection(uint64_t id) const {
    uint32_t slot = static_cast<uint32_t>(id);
    if (slot >= conns_.size() || conns_[slot] == nullptr || conns_[slot]->conn_id_ != id)
      return nullptr;
    return conns_[slot].get();
  }
  Session* FindSession(SessionKey key) { return sessions_.Find(key); }
  Session* AddSession(std::unique_ptr<Session> s) {
    Session* raw = s.get();
    moved_.erase(s->key());
    sessions_.Take(s->key());  // none expected; as a map assignment would, replace it
    sessions_.Insert(std::move(s));
    return raw;
  }
  std::unique_ptr<Session> TakeSession(SessionKey key, uint32_t to_core) {
    std::unique_ptr<Session> s = sessions_.Take(key);
    if (s == nullptr) return nullptr;
    if (to_core != index_) moved_[key] = to_core;
    return s;
  }
  // A session is on its way here from another core: hold deliveries that arrive before it.
  void ExpectSession(SessionKey key) { arriving_[key]; }
  // Deliveries that arrived before the session did.
  std::vector<Delivery> TakeEarlyDeliveries(SessionKey key) {
    auto it = arriving_.find(key);
    if (it == arriving_.end()) return {};
    std::vector<Delivery> v = std::move(it->second);
    arriving_.erase(it);
    return v;
  }
  // Backpressure signal for connection `conn` on `core` (this or another): +1 hold, -1 release.
  // Signals from one core to another arrive in the order sent (Executor::Post), so a release
  // never overtakes its hold.
  void SignalPublisher(uint32_t core, uint64_t conn, int delta) {
    Shard* target = broker_.shards_[core].get();
    auto apply = [target, conn, delta] {
      if (ServerConnection* c = target->FindConnection(conn)) c->AdjustPause(delta);
    };
    if (target == this) {
      apply();
    } else {
      target->Post(apply);
    }
  }
  // Ends a session: subscriptions, registry entry, pending will [MQTT-3.1.2-8].
  void EndSession(Session* s) {
    if (Persister* p = broker_.persist_.get(); p != nullptr && p->Persistent(s->key()))
      p->Append(RecSessionEnd{s->key()});
    s->Release();
    s->DropSubscriptions();
    const SessionContents& sc = s->state().View();
    if (sc.pending_will) broker_.Route(index_, sc.pending_will->msg);
    if (s->conn() != nullptr) s->conn()->session_ = nullptr;
    broker_.Forget(s->state().client_id, s->key());
    broker_.stats_.sessions--;
    sessions_.Take(s->key());  // destroys s
  }

  // Queues a delivery for a session on `core` (this or another).
  void Deliver(uint32_t core, SessionKey key, Delivery&& d) {
    if (core == index_) {
      DeliverLocal(key, std::move(d));
      return;
    }
    if (outbox_.size() < broker_.shards_.size()) outbox_.resize(broker_.shards_.size());
    outbox_[core].emplace_back(key, std::move(d));
    ++in_transit_;
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      // Runs after the current handler: everything routed while handling one read is batched
      // into one post per destination core.
      Post([this] { Flush(); });
    }
  }
  void DeliverLocal(SessionKey key, Delivery&& d) {
    if (Session* s = sessions_.Find(key)) {
      s->Enqueue(std::move(d));
      return;
    }
    auto m = moved_.find(key);
    if (m != moved_.end()) {
      Deliver(m->second, key, std::move(d));
      return;
    }
    auto a = arriving_.find(key);
    if (a != arriving_.end()) a->second.push_back(std::move(d));
  }
  void Flush() {
    flush_scheduled_ = false;
    for (uint32_t c = 0; c < outbox_.size(); ++c) {
      if (outbox_[c].empty()) continue;
      auto batch =
          std::make_shared<std::vector<std::pair<SessionKey, Delivery>>>(std::move(outbox_[c]));
      outbox_[c].clear();
      Shard* target = broker_.shards_[c].get();
      target->Post([target, batch, origin = this] {
        for (auto& [key, d] : *batch) target->DeliverLocal(key, std::move(d));
        origin->Post([origin, n = batch->size()] { origin->OnDelivered(n); });
      });
    }
  }

  // Backpressure across cores. A session can hold its publishers back only once their messages
  // have reached it; until then the publisher's core would keep acknowledging (and reading)
  // while the other core is busy. So each core bounds the deliveries it has handed to other cores
  // and not yet seen delivered: beyond kMaxInTransit, a connection that publishes is held back
  // (its acks withheld) until they drop to half of it.
  static constexpr size_t kMaxInTransit = 256;
  bool TransitFull() const { return in_transit_ > kMaxInTransit; }
  void WaitForTransit(ServerConnection* conn) {
    if (conn->waiting_transit_) return;
    conn->waiting_transit_ = true;
    conn->AdjustPause(+1);
    transit_waiters_.push_back(conn->conn_id_);
  }
  void OnDelivered(size_t n) {
    in_transit_ -= n;
    if (in_transit_ > kMaxInTransit / 2 || transit_waiters_.empty()) return;
    std::vector<uint64_t> waiters;
    waiters.swap(transit_waiters_);
    for (uint64_t id : waiters) {
      if (ServerConnection* c = FindConnection(id)) {
        c->waiting_transit_ = false;
        c->AdjustPause(-1);
      }
    }
  }

  // every_ack: a PUBACK / PUBREC whose record is durable, from a persistence sync thread. The acks
  // of a group are collected and released on this core by one posted closure, not one each (so
  // a connection's acks also leave in one write).
  void PostDurableAck(uint64_t conn, uint16_t packet_id, bool pubcomp = false) {
    bool first;
    {
      std::lock_guard lock(durable_mu_);
      first = durable_acks_.empty();
      durable_acks_.push_back({conn, packet_id, pubcomp});
    }
    if (first) Post([this] { ReleaseDurableAcks(); });
  }
  void ReleaseDurableAcks() {
    {
      std::lock_guard lock(durable_mu_);
      durable_run_.swap(durable_acks_);
    }
    for (const DurableAck& a : durable_run_) {
      ServerConnection* c = FindConnection(a.conn);
      if (c == nullptr) continue;  // gone: the client resends after reconnecting
      if (!a.pubcomp) {
        c->OnIngestDone(a.packet_id, ReasonCode::kSuccess);
      } else if (c->phase_ != ServerConnection::Phase::kClosing) {
        c->SendAckPacket(PacketType::kPubcomp, a.packet_id);
      }
    }
    durable_run_.clear();
  }
  // The ingest gate's answers (IngestDone, from the Kafka bridge's threads), released like the
  // durable acks: collected, and one posted closure per batch, not one per message.
  void PostIngestAnswer(uint64_t conn, uint16_t packet_id, ReasonCode rc) override {
    bool first;
    {
      std::lock_guard lock(ingest_mu_);
      first = ingest_done_.empty();
      ingest_done_.push_back({conn, packet_id, rc});
    }
    if (first) Post([this] { ReleaseIngestDone(); });
  }
  void ReleaseIngestDone() {
    {
      std::lock_guard lock(ingest_mu_);
      ingest_run_.swap(ingest_done_);
    }
    for (const IngestAnswer& a : ingest_run_) {
      // Gone, or the slot now holds another connection: the client resends after reconnecting.
      if (ServerConnection* c = FindConnection(a.conn)) c->OnIngestDone(a.packet_id, a.rc);
    }
    ingest_run_.clear();
  }

  void Tick();

  // This core's traffic. Written only by this core (plain load + store), read by any.
  struct alignas(64) Counters {
    std::atomic<uint64_t> msgs_received{0};
    std::atomic<uint64_t> msgs_sent{0};
    std::atomic<uint64_t> bytes_received{0};
    std::atomic<uint64_t> bytes_sent{0};
  };
  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  Counters counters;

 private:
  friend class Broker;
  Broker& broker_;
  uint32_t index_;
  Executor* exec_;
  // Connections by slot (see AddConnection); null slots are listed in free_slots_.
  std::vector<std::unique_ptr<ServerConnection>> conns_;
  std::vector<uint32_t> free_slots_;
  uint32_t conn_seq_ = 0;
  SessionTable sessions_;
  std::unordered_map<SessionKey, uint32_t> moved_;  // sessions that moved to another core
  std::unordered_map<SessionKey, std::vector<Delivery>> arriving_;  // see ExpectSession
  std::vector<std::vector<std::pair<SessionKey, Delivery>>> outbox_;
  size_t in_transit_ = 0;                  // see kMaxInTransit
  std::vector<uint64_t> transit_waiters_;  // connection ids held back until in_transit_ drops
  bool flush_scheduled_ = false;
  struct DurableAck {
    uint64_t conn = 0;
    uint16_t packet_id = 0;
    bool pubcomp = false;  // a PUBCOMP to send, else a held PUBACK / PUBREC to release
  };
  std::mutex durable_mu_;
  std::vector<DurableAck> durable_acks_;  // guarded by durable_mu_
  std::vector<DurableAck> durable_run_;   // being released (this core)
  struct IngestAnswer {
    uint64_t conn = 0;  // the connection's id
    uint16_t packet_id = 0;
    ReasonCode rc = ReasonCode::kSuccess;
  };
  std::mutex ingest_mu_;
  std::vector<IngestAnswer> ingest_done_;  // guarded by ingest_mu_
  std::vector<IngestAnswer> ingest_run_;   // being released (this core)
};

// ---- Session implementation ------------------------------------------------------------------

Broker& Session::broker() const { return shard_->broker(); }

void Session::Enqueue(Delivery&& d) {
  if (acl_ && !acl_->May(d.msg->topic, kAccessRead)) {
    broker().stats_.msgs_dropped++;
    broker().metrics_->dropped_not_authorized.Increment();
    LogDone(*d.msg, d.qos);
    return;
  }
  int64_t now = broker().clock_.MonotonicNanos();
  if (d.msg->Expired(now)) {
    broker().stats_.msgs_dropped++;
    broker().metrics_->dropped_expired.Increment();
    LogDone(*d.msg, d.qos);
    return;
  }
  bool online = conn_ != nullptr && conn_->phase_ == ServerConnection::Phase::kOnline;
  const BrokerConfig& c = broker().config_;
  if (d.qos == 0) {
    if (online) {
      // A reader falling behind holds its QoS 0 publishers back (their reading pauses) before
      // its unwritten bytes reach max_write_buffer, where QoS 0 is shed.
      if (!overflowing_ && c.max_publisher_pause_ms != 0 &&
          conn_->link_.Backlog() >= WriteHighWatermark()) {
        HoldPublisher(*d.msg);
      }
      conn_->SendPublish(d, 0, false);
    } else {
      broker().stats_.msgs_dropped++;
      broker().metrics_->dropped_offline_qos0.Increment();
    }
    return;
  }
  if (online && state_.View().queue.empty() && state_.View().inflight_out.size() < Window()) {
    SendNew(std::move(d));
    return;
  }
  SessionContents& sc = state_.Contents();
  const bool holds = online && !overflowing_ && c.max_publisher_pause_ms != 0;
  if ((c.max_queued_messages != 0 && sc.queue.size() >= c.max_queued_messages) ||
      (c.max_queued_bytes != 0 && sc.queued_bytes + d.msg->Bytes() > c.max_queued_bytes)) {
    // Backpressure instead of loss: a message from a client that is being held back (its acks
    // withheld) is one it had in flight before the hold reached it, at most its Receive Maximum
    // (a client ignoring the window is not read beyond that): kept beyond the limit, so a large
    // Receive Maximum loses nothing at an online subscriber. Without a hold (offline, the hold
    // timed out, backpressure off, the broker's own messages) the limit is hard.
    if (!holds || d.msg->publisher_conn == 0) {
      broker().stats_.msgs_dropped++;
      broker().metrics_->dropped_queue_full.Increment();
      LogDone(*d.msg, d.qos);
      if (holds) HoldPublisher(*d.msg);
      return;
    }
    broker().metrics_->queued_beyond_limit.Increment();
  }
  sc.queued_bytes += d.msg->Bytes();
  const Message& m = *d.msg;
  sc.queue.push_back(std::move(d));
  if (holds && AboveHighWatermark()) HoldPublisher(m);
}

bool Session::AboveHighWatermark() const {
  const BrokerConfig& c = broker().config_;
  size_t high = c.max_queued_messages == 0 ? 250 : std::max<size_t>(c.max_queued_messages / 8, 1);
  const SessionContents& sc = state_.View();
  return sc.queue.size() >= high ||
         (c.max_queued_bytes != 0 && sc.queued_bytes >= c.max_queued_bytes / 8);
}

bool Session::BelowLowWatermark() const {
  const BrokerConfig& c = broker().config_;
  size_t low = c.max_queued_messages == 0 ? 125 : c.max_queued_messages / 16;
  const SessionContents& sc = state_.View();
  return sc.queue.size() <= low &&
         (c.max_queued_bytes == 0 || sc.queued_bytes <= c.max_queued_bytes / 16);
}

void Session::HoldPublisher(const Message& m) {
  if (m.publisher_conn == 0) return;  // the broker itself ($SYS, wills)
  if (!hold_) {
    hold_ = std::make_unique<Hold>();
    hold_->since_ns = broker().clock_.MonotonicNanos();
  }
  std::vector<std::pair<uint32_t, uint64_t>>& held = hold_->held;
  std::pair<uint32_t, uint64_t> who{m.publisher_core, m.publisher_conn};
  if (std::find(held.begin(), held.end(), who) != held.end()) return;
  held.push_back(who);
  broker().metrics_->backpressure_pause.Increment();
  shard_->SignalPublisher(who.first, who.second, +1);
}

void Session::Release() {
  if (!hold_) return;
  std::unique_ptr<Hold> hold = std::move(hold_);
  for (const auto& [core, conn] : hold->held) shard_->SignalPublisher(core, conn, -1);
}

void Session::CheckPauseTimeout(int64_t now) {
  if (hold_ && now - hold_->since_ns >
                   static_cast<int64_t>(broker().config_.max_publisher_pause_ms) * 1'000'000) {
    broker().metrics_->backpressure_timeout.Increment();
    overflowing_ = true;
    Release();
  }
}

bool Session::SendNew(Delivery&& d) {
  if (d.qos == 0) {
    conn_->SendPublish(d, 0, false);
    return true;
  }
  uint16_t id = NextPacketId();
  if (id == 0) return false;
  // QoS 2 keeps its packet id across a restart (the receiver dedupes by it); QoS 1 may be resent
  // with another.
  if (d.qos == 2 && d.msg->persist_id != 0) {
    if (Persister* p = PersistLog()) p->Append(RecSent{key_, d.msg->persist_id, id});
  }
  conn_->SendPublish(d, id, false);
  InflightOut& f = state_.Contents().inflight_out[id];
  f.stage = d.qos == 1 ? InflightOut::Stage::kAwaitPuback : InflightOut::Stage::kAwaitPubrec;
  f.msg_id = d.msg->persist_id;
  f.delivery = std::move(d);
  return true;
}

void Session::Pump() {
  if (conn_ == nullptr || conn_->phase_ != ServerConnection::Phase::kOnline) return;
  int64_t now = broker().clock_.MonotonicNanos();
  SessionContents* sc = state_.contents.get();  // null: nothing queued
  while (sc != nullptr && !sc->queue.empty() && sc->inflight_out.size() < Window()) {
    Delivery d = std::move(sc->queue.front());
    sc->queue.pop_front();
    sc->queued_bytes -= d.msg->Bytes();
    if (d.msg->Expired(now)) {  // [MQTT-3.3.2-5]
      broker().stats_.msgs_dropped++;
      broker().metrics_->dropped_expired.Increment();
      LogDone(*d.msg, d.qos);
      continue;
    }
    if (!SendNew(std::move(d))) break;
  }
  if ((hold_ || overflowing_) && BelowLowWatermark() &&
      conn_->link_.Backlog() <= WriteLowWatermark()) {
    overflowing_ = false;
    Release();
  }
}

void Session::OnWritten(size_t backlog) {
  if ((hold_ || overflowing_) && backlog <= WriteLowWatermark() && BelowLowWatermark()) {
    overflowing_ = false;
    Release();
  }
}

void Session::ResendInflight() {
  if (state_.contents == nullptr) return;
  for (auto& [id, f] : state_.contents->inflight_out) {
    if (f.stage == InflightOut::Stage::kAwaitPubcomp) {
      conn_->SendAckPacket(PacketType::kPubrel, id);
    } else {
      conn_->SendPublish(f.delivery, id, true);
    }
  }
}

void Session::OnAck(PacketType type, uint16_t packet_id, ReasonCode rc) {
  std::map<uint16_t, InflightOut>& inflight = state_.Contents().inflight_out;
  auto it = inflight.find(packet_id);
  if (type == PacketType::kPubrec) {
    if (it == inflight.end()) {
      // [MQTT-4.3.3-?]: answer so the client can finish its state; v5 says which id was unknown.
      conn_->SendAckPacket(PacketType::kPubrel, packet_id, ReasonCode::kPacketIdentifierNotFound);
      return;
    }
    Persister* log = it->second.msg_id != 0 ? PersistLog() : nullptr;
    if (IsError(rc)) {  // v5: the receiver refused; the exchange ends here
      if (log) log->Append(RecDone{key_, it->second.msg_id});
      inflight.erase(it);
    } else {
      if (log) log->Append(RecPubrec{key_, packet_id});
      it->second.stage = InflightOut::Stage::kAwaitPubcomp;
      it->second.delivery.msg.reset();  // payload no longer needed [MQTT-4.3.3-?]
      conn_->SendAckPacket(PacketType::kPubrel, packet_id);
      return;
    }
  } else if (it != inflight.end()) {
    bool expected =
        (type == PacketType::kPuback && it->second.stage == InflightOut::Stage::kAwaitPuback) ||
        (type == PacketType::kPubcomp && it->second.stage == InflightOut::Stage::kAwaitPubcomp);
    if (!expected) return;
    if (it->second.msg_id != 0) {
      if (Persister* log = PersistLog()) log->Append(RecDone{key_, it->second.msg_id});
    }
    inflight.erase(it);
  } else {
    return;
  }
  Pump();
}

// ---- Shard::Tick -------------------------------------------------------------------------------

void Shard::Tick() {
  const BrokerConfig& c = broker_.config_;
  int64_t now = broker_.clock_.MonotonicNanos();
  std::vector<ServerConnection*> to_kill;
  std::vector<std::pair<ServerConnection*, ReasonCode>> kills;
  for (auto& conn : conns_) {
    ServerConnection* x = conn.get();
    if (x == nullptr) continue;
    x->link_.Trim();
    if (x->phase_ == ServerConnection::Phase::kAwaitConnect &&
        now - x->last_packet_ns_ > static_cast<int64_t>(c.connect_timeout_ms) * 1'000'000) {
      broker_.metrics_->rejected_connect_timeout.Increment();
      kills.emplace_back(x, ReasonCode::kMaximumConnectTime);
    } else if (x->phase_ == ServerConnection::Phase::kOnline && x->keep_alive_s_ > 0 &&
               !x->reading_paused_ &&
               now - x->last_packet_ns_ > x->keep_alive_s_ * kNanosPerSecond * 3 / 2) {
      // [MQTT-3.1.2-22]: nothing from the client for 1.5 x Keep Alive.
      broker_.metrics_->rejected_keep_alive.Increment();
      kills.emplace_back(x, ReasonCode::kKeepAliveTimeout);
    }
  }
  for (auto& [x, rc] : kills)
    x->Kill(rc, rc == ReasonCode::kKeepAliveTimeout ? "keep alive timeout" : "no CONNECT in time");

  std::vector<Session*> ended;
  sessions_.ForEach([&](Session* s) {
    SessionState& st = s->state();
    if (s->conn() != nullptr) {
      s->CheckPauseTimeout(now);
      return;
    }
    SessionContents* sc = st.contents.get();
    if (sc != nullptr && sc->pending_will && now >= sc->will_due_ns) {  // [MQTT-3.1.3-9]
      broker_.Route(index_, sc->pending_will->msg);                     // Will Delay elapsed
      sc->pending_will.reset();
      if (Persister* p = s->PersistLog()) p->Append(RecWill{s->key(), nullptr, 0});
    }
    if (st.expires_at_ns != 0 && now >= st.expires_at_ns) ended.push_back(s);
  });
  for (Session* s : ended) EndSession(s);
}

// ---- ServerConnection ------------------------------------------------------------------------

Broker& ServerConnection::broker() const { return shard_.broker(); }

const BrokerConfig& ServerConnection::config() const { return broker().config(); }

ServerConnection::ServerConnection(Shard& shard, Link& link, bool anonymous_allowed)
    : shard_(shard), link_(link), anonymous_allowed_(anonymous_allowed) {
  last_packet_ns_ = broker().clock_.MonotonicNanos();
  broker().stats_.sockets++;
}

ServerConnection::~ServerConnection() { broker().stats_.sockets--; }

void ServerConnection::Send(const Packet& packet) {
  if (phase_ == Phase::kClosing && !std::holds_alternative<Disconnect>(packet)) return;
  link_.Send(packet, version_ == 0 ? kMqtt5 : version_);
}

void ServerConnection::SendAckPacket(PacketType type, uint16_t packet_id, ReasonCode rc) {
  if (phase_ == Phase::kClosing) return;
  link_.SendAck(type, packet_id, rc, version_ == 0 ? kMqtt5 : version_);
}

void Link::SendAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version) {
  switch (type) {
    case PacketType::kPuback:
      return Send(Ack<Puback>(packet_id, rc), version);
    case PacketType::kPubrec:
      return Send(Ack<Pubrec>(packet_id, rc), version);
    case PacketType::kPubrel:
      return Send(Ack<Pubrel>(packet_id, rc), version);
    case PacketType::kPubcomp:
      return Send(Ack<Pubcomp>(packet_id, rc), version);
    default:
      AIOT_CHECK(false, "SendAck of a packet that is not an ack");
  }
}

void ServerConnection::Kill(ReasonCode rc, const char* reason) {
  if (phase_ == Phase::kClosing) return;
  if (version_ == kMqtt5 && (phase_ == Phase::kOnline || phase_ == Phase::kAwaitSession)) {
    Disconnect d;
    d.reason_code = rc;
    if (reason != nullptr) d.properties.reason_string = reason;
    link_.Send(d, version_);
  }
  phase_ = Phase::kClosing;
  link_.Close();
}

void ServerConnection::OnProtocolError(ReasonCode rc, const char* detail) {
  broker().metrics_->rejected_protocol.Increment();
  if (phase_ == Phase::kAwaitConnect && version_ == kMqtt5) {
    Connack ack = MakeConnack(rc);
    link_.Send(ack, version_);
    phase_ = Phase::kClosing;
    link_.Close();
    return;
  }
  Kill(rc, detail);
}

void ServerConnection::OnPacket(Packet&& packet) {
  if (phase_ == Phase::kClosing) return;
  last_packet_ns_ = broker().clock_.MonotonicNanos();
  if (phase_ == Phase::kAwaitConnect) {
    if (!std::holds_alternative<Connect>(packet)) {  // [MQTT-3.1.0-1]
      phase_ = Phase::kClosing;
      link_.Close();
      return;
    }
    HandleConnect(std::get<Connect>(std::move(packet)));
    return;
  }
  if (phase_ == Phase::kAwaitSession) {
    extras().pending.push_back(std::move(packet));
    return;
  }
  Dispatch(std::move(packet));
}

void ServerConnection::Dispatch(Packet&& packet) {
  switch (TypeOf(packet)) {
    case PacketType::kPublish:
      HandlePublish(std::get<Publish>(std::move(packet)));
      break;
    case PacketType::kPuback:
      if (session_)
        session_->OnAck(PacketType::kPuback, std::get<Puback>(packet).packet_id,
                        ReasonCode::kSuccess);
      break;
    case PacketType::kPubrec: {
      const auto& p = std::get<Pubrec>(packet);
      if (session_) session_->OnAck(PacketType::kPubrec, p.packet_id, p.reason_code);
      break;
    }
    case PacketType::kPubcomp:
      if (session_)
        session_->OnAck(PacketType::kPubcomp, std::get<Pubcomp>(packet).packet_id,
                        ReasonCode::kSuccess);
      break;
    case PacketType::kPubrel: {
      uint16_t id = std::get<Pubrel>(packet).packet_id;
      Pubcomp comp = Ack<Pubcomp>(id);
      if (session_ == nullptr || session_->state().contents == nullptr ||
          session_->state().contents->inflight_in.erase(id) == 0) {
        comp.reason_code = ReasonCode::kPacketIdentifierNotFound;
      } else if (Persister* p = session_->PersistLog()) {
        if (p->mode() == PersistenceMode::kEveryAck) {
          // With PUBCOMP the client may reuse the id: the release is on disk first, or after a
          // crash the new message would be taken for a resend of the old one (and not routed).
          p->Append(RecPubrel{session_->key(), id}, [shard = &shard_, conn = conn_id_, id] {
            shard->PostDurableAck(conn, id, /*pubcomp=*/true);
          });
          break;
        }
        p->Append(RecPubrel{session_->key(), id});
      }
      Send(comp);
      break;
    }
    case PacketType::kSubscribe:
      HandleSubscribe(std::get<Subscribe>(std::move(packet)));
      break;
    case PacketType::kUnsubscribe:
      HandleUnsubscribe(std::get<Unsubscribe>(std::move(packet)));
      break;
    case PacketType::kPingreq:
      Send(Pingresp{});
      break;
    case PacketType::kDisconnect:
      HandleDisconnect(std::get<Disconnect>(std::move(packet)));
      break;
    case PacketType::kConnect:  // [MQTT-3.1.0-2] a second CONNECT is a Protocol Error
      Kill(ReasonCode::kProtocolError, "second CONNECT");
      break;
    case PacketType::kAuth:  // no enhanced authentication methods are supported
      Kill(ReasonCode::kProtocolError, "AUTH without an authentication method");
      break;
    default:  // CONNACK, SUBACK, UNSUBACK, PINGRESP from a client
      Kill(ReasonCode::kProtocolError, "packet type not sent by clients");
      break;
  }
}

// What a CONNECT installs its session with, once the session is known (maybe on another core).
struct ServerConnection::SessionSetup {
  Shard* here = nullptr;  // the connection's shard
  Broker* broker = nullptr;
  uint64_t conn_id = 0;
  SessionKey new_key = 0;  // for a new session
  std::string client_id;
  uint32_t expiry = 0;
  uint8_t version = 0;
  Properties connack_props;  // v5
  std::shared_ptr<const AclIdentity> acl;
};

// CONNECT [MQTT-3.1]: checks in the order a refusal is decided (version, authentication, client
// id, will ACL, v5 properties, will limits), then claims the client id and installs the session,
// fetched from its core when the client id had one.
void ServerConnection::HandleConnect(Connect&& c) {
  version_ = c.protocol_version;
  if (version_ != kMqtt5 && version_ != kMqtt311) {
    version_ = kMqtt311;  // [MQTT-3.1.2-2] answer 0x01 in 3.1.1 form
    RefuseConnect(ReasonCode::kUnsupportedProtocolVersion, nullptr);
    return;
  }
  std::shared_ptr<const AclIdentity> acl;  // null: no ACL to check
  bool assigned = false;
  uint32_t expiry = 0;
  if (!AdmitClient(c, &acl, &assigned) || !AcceptConnectProperties(c, &expiry)) return;
  if (c.will && !AcceptWill(*c.will)) return;
  std::optional<uint16_t> server_keep_alive = NegotiateKeepAlive(c.keep_alive);

  Broker& b = broker();
  auto setup = std::make_shared<SessionSetup>();
  setup->here = &shard_;
  setup->broker = &b;
  setup->conn_id = shard_.ConnectionId(this);
  setup->new_key = b.next_key_++;
  setup->client_id = c.client_id;
  setup->expiry = expiry;
  setup->version = version_;
  if (version_ == kMqtt5)
    setup->connack_props = ConnackProperties(c, expiry, assigned, server_keep_alive);
  setup->acl = std::move(acl);
  // Claim the client id and fetch any existing session (possibly from another core).
  std::optional<Broker::RegistryEntry> old =
      b.ClaimClientId(c.client_id, setup->new_key, c.clean_start, shard_.index());
  phase_ = Phase::kAwaitSession;
  if (!old) {
    InstallSession(setup, nullptr);
    return;
  }
  TakeOverSession(old->key, old->core, c.clean_start, std::move(setup));
}

void ServerConnection::RefuseConnect(ReasonCode rc, const char* why) {
  Connack ack = MakeConnack(rc);
  if (version_ == kMqtt5 && why != nullptr) ack.properties.reason_string = why;
  link_.Send(ack, version_);
  phase_ = Phase::kClosing;
  link_.Close();
}

bool ServerConnection::AdmitClient(Connect& c, std::shared_ptr<const AclIdentity>* acl,
                                   bool* assigned) {
  std::shared_ptr<const AuthPolicy> policy;
  // use_identity_as_username: the certificate names the user (for the ACL), not the CONNECT.
  std::optional<std::string> identity = link_.CertificateUsername();
  if (identity) {
    c.username = std::move(*identity);
    c.password.reset();
  }
  if (ReasonCode rc = Authenticate(c, &policy); rc != ReasonCode::kSuccess) {
    RefuseConnect(rc, rc == ReasonCode::kBadUserNameOrPassword ? "bad user name or password"
                      : c.username                             ? "not authorized"
                                   : "anonymous clients are not allowed on this listener");
    return false;
  }
  if (c.client_id.empty()) {
    if (version_ == kMqtt311 && !c.clean_start) {  // [MQTT-3.1.3-8]
      RefuseConnect(ReasonCode::kClientIdentifierNotValid, nullptr);
      return false;
    }
    char buf[48];
    std::snprintf(buf, sizeof buf, "aiot-%016llx",
                  static_cast<unsigned long long>(broker().next_assigned_id_++));
    c.client_id = buf;
    *assigned = true;
  }
  if (policy && policy->has_acl()) {
    *acl = std::make_shared<AclIdentity>(
        AclIdentity{.policy = std::move(policy), .client_id = c.client_id, .username = c.username});
  }
  if (c.will && *acl && !(*acl)->May(c.will->topic, kAccessWrite)) {  // as Mosquitto: at CONNECT
    broker().metrics_->rejected_not_authorized.Increment();
    RefuseConnect(ReasonCode::kNotAuthorized, "will topic not authorized");
    return false;
  }
  return true;
}

bool ServerConnection::AcceptConnectProperties(const Connect& c, uint32_t* expiry) {
  const BrokerConfig& cfg = broker().config_;
  if (version_ != kMqtt5) {
    *expiry = c.clean_start ? 0 : std::min(kSessionNeverExpires, cfg.max_session_expiry);
    return true;
  }
  const Properties& p = c.properties;
  if (p.receive_maximum && *p.receive_maximum == 0) {  // [MQTT-3.1.2-?] 0 is a Protocol Error
    RefuseConnect(ReasonCode::kProtocolError, "Receive Maximum 0");
    return false;
  }
  if (p.maximum_packet_size && *p.maximum_packet_size == 0) {
    RefuseConnect(ReasonCode::kProtocolError, "Maximum Packet Size 0");
    return false;
  }
  if (p.authentication_method) {
    RefuseConnect(ReasonCode::kBadAuthenticationMethod, "no authentication methods supported");
    return false;
  }
  client_receive_maximum_ = p.receive_maximum.value_or(65535);
  max_packet_size_ = p.maximum_packet_size.value_or(UINT32_MAX);
  client_topic_alias_maximum_ = p.topic_alias_maximum.value_or(0);
  request_problem_information_ = p.request_problem_information.value_or(1) != 0;
  *expiry = std::min(p.session_expiry_interval.value_or(0), cfg.max_session_expiry);
  return true;
}

bool ServerConnection::AcceptWill(const Will& w) {
  const BrokerConfig& cfg = broker().config_;
  if (Qos(w.qos) > cfg.max_qos) {
    RefuseConnect(ReasonCode::kQosNotSupported, "will QoS not supported");
    return false;
  }
  if (w.retain && !cfg.retain_available) {
    RefuseConnect(ReasonCode::kRetainNotSupported, "retain not supported");
    return false;
  }
  if (!TopicWithinLimits(cfg, w.topic)) {
    RefuseConnect(ReasonCode::kTopicNameInvalid, "will topic exceeds limits");
    return false;
  }
  auto m = std::make_shared<Message>();
  m->topic = w.topic;
  m->payload = w.payload;
  m->qos = Qos(w.qos);
  m->retain = w.retain;
  m->properties.payload_format_indicator = w.properties.payload_format_indicator;
  m->properties.message_expiry_interval = w.properties.message_expiry_interval;
  m->properties.content_type = w.properties.content_type;
  m->properties.response_topic = w.properties.response_topic;
  m->properties.correlation_data = w.properties.correlation_data;
  m->properties.user_properties = w.properties.user_properties;
  if (m->qos > 0 || m->retain) m->persist_id = broker().NextMessageId();
  extras().will =
      WillState{.msg = std::move(m), .delay_s = w.properties.will_delay_interval.value_or(0)};
  return true;
}

std::optional<uint16_t> ServerConnection::NegotiateKeepAlive(uint16_t requested) {
  const BrokerConfig& cfg = broker().config_;
  keep_alive_s_ = requested;
  if (version_ == kMqtt5 &&
      (requested > cfg.max_keepalive || (requested == 0 && cfg.max_keepalive < 65535))) {
    keep_alive_s_ = cfg.max_keepalive;
    return cfg.max_keepalive;  // Server Keep Alive
  }
  return std::nullopt;
}

Properties ServerConnection::ConnackProperties(const Connect& c, uint32_t expiry, bool assigned,
                                               std::optional<uint16_t> server_keep_alive) const {
  const BrokerConfig& cfg = broker().config_;
  Properties a;
  if (c.properties.session_expiry_interval.value_or(0) != expiry)
    a.session_expiry_interval = expiry;
  a.receive_maximum = cfg.receive_maximum;
  if (cfg.max_qos < 2) a.maximum_qos = cfg.max_qos;
  if (!cfg.retain_available) a.retain_available = 0;
  if (cfg.max_packet_size < kMaxPacketSize) a.maximum_packet_size = cfg.max_packet_size;
  if (assigned) a.assigned_client_identifier = c.client_id;
  if (cfg.topic_alias_maximum > 0) a.topic_alias_maximum = cfg.topic_alias_maximum;
  a.server_keep_alive = server_keep_alive;
  return a;
}

std::optional<Broker::RegistryEntry> Broker::ClaimClientId(const std::string& client_id,
                                                           SessionKey new_key, bool clean_start,
                                                           uint32_t core) {
  std::lock_guard lock(registry_mu_);
  std::optional<RegistryEntry> old;
  if (auto it = registry_.find(client_id); it != registry_.end()) old = it->second;
  registry_[client_id] = {(old && !clean_start) ? old->key : new_key, core};
  return old;
}

// Runs on the new connection's core with the session (nullptr: start a new one).
void ServerConnection::InstallSession(const std::shared_ptr<SessionSetup>& setup,
                                      std::unique_ptr<Session> s) {
  Shard* here = setup->here;
  Broker* broker = setup->broker;
  bool present = s != nullptr;
  bool was_persistent = false;
  if (!s) {
    s = std::make_unique<Session>(here, setup->new_key);
    broker->stats_.sessions++;
  } else {
    was_persistent = s->PersistLog() != nullptr;
    // Resumed before the will delay elapsed: the will is not sent [MQTT-3.1.3-9].
    if (s->state().contents && s->state().contents->pending_will) {
      s->state().contents->pending_will.reset();
      if (was_persistent) broker->persist_->Append(RecWill{s->key(), nullptr, 0});
    }
  }
  s->state().client_id = setup->client_id;
  s->state().expiry_interval_s = setup->expiry;
  s->state().protocol_version = setup->version;
  if (broker->persist_ && (setup->expiry != 0 || was_persistent)) {
    broker->persist_->Append(RecSession{s->key(), setup->client_id, setup->expiry, setup->version});
  }
  {
    std::lock_guard lock(broker->registry_mu_);
    broker->registry_[setup->client_id] = {s->key(), here->index()};
  }
  std::vector<Delivery> early = here->TakeEarlyDeliveries(s->key());
  Session* session = here->AddSession(std::move(s));
  for (Delivery& d : early) session->Enqueue(std::move(d));
  ServerConnection* conn = here->FindConnection(setup->conn_id);
  if (conn == nullptr || conn->phase_ == Phase::kClosing) {
    // The client went away while its session was being fetched: keep it offline.
    int64_t now = broker->clock_.MonotonicNanos();
    session->state().expires_at_ns =
        now + static_cast<int64_t>(setup->expiry) * kNanosPerSecond;  // expiry 0: now
    return;
  }
  conn->session_ = session;
  session->Attach(conn, here);
  session->SetAcl(setup->acl ? std::make_unique<const AclIdentity>(*setup->acl) : nullptr);
  Connack ack = MakeConnack(ReasonCode::kSuccess, present);
  ack.properties = std::move(setup->connack_props);
  conn->phase_ = Phase::kOnline;
  broker->stats_.connections++;
  conn->Send(ack);
  session->ResendInflight();
  session->Pump();
  std::vector<Packet> pending;
  if (conn->extras_) pending.swap(conn->extras_->pending);
  for (Packet& p : pending) {
    if (conn->phase_ != Phase::kOnline) break;
    conn->Dispatch(std::move(p));
  }
}

// Takes the old session over on its core (maybe this one) [MQTT-3.1.4-3], then installs it (or
// a new one, for Clean Start) on this connection's core.
void ServerConnection::TakeOverSession(SessionKey old_key, uint32_t old_core, bool clean_start,
                                       std::shared_ptr<SessionSetup> setup) {
  Broker* broker = setup->broker;
  Shard* here = &shard_;
  Shard* old_shard = broker->shards_[old_core].get();
  uint32_t to_core = shard_.index();
  if (!clean_start && old_core != to_core) shard_.ExpectSession(old_key);
  old_shard->Post([old_shard, broker, old_key, clean_start, to_core, here, setup]() {
    Session* s = old_shard->FindSession(old_key);
    std::unique_ptr<Session> taken;
    if (s != nullptr) {
      if (ServerConnection* oc = s->conn()) {
        // The old connection ends abnormally: its will follows the usual rules.
        oc->Kill(ReasonCode::kSessionTakenOver, "another connection took the session over");
        oc->OnSessionLost();
        s = old_shard->FindSession(old_key);  // may have ended (Session Expiry 0)
      }
    }
    if (s != nullptr) {
      if (clean_start) {
        old_shard->EndSession(s);
      } else {
        taken = old_shard->TakeSession(old_key, to_core);
        if (to_core != old_shard->index()) {
          std::vector<std::string> filters;
          for (const auto& [f, o] : taken->state().View().subscriptions) filters.push_back(f);
          broker->index_.Rehome(old_key, filters, to_core);
        }
        taken->set_shard(here);
      }
    }
    if (here == old_shard) {
      InstallSession(setup, std::move(taken));  // same core: no window for lost deliveries
      return;
    }
    auto holder = std::make_shared<std::unique_ptr<Session>>(std::move(taken));
    here->Post([setup, holder, here, old_key]() {
      if (!*holder) here->TakeEarlyDeliveries(old_key);  // nothing is coming: stop holding
      InstallSession(setup, std::move(*holder));
    });
  });
}

ReasonCode ServerConnection::Authenticate(const Connect& c,
                                          std::shared_ptr<const AuthPolicy>* policy) {
  if (link_.Trusted()) return ReasonCode::kSuccess;  // in-process: no authentication, no ACL
  *policy = broker().auth_policy();
  const AuthPolicy* auth = policy->get();
  if (link_.CertificateUsername()) {  // authenticated by its TLS client certificate
    if (c.username && !c.username->empty()) return ReasonCode::kSuccess;
    broker().metrics_->rejected_not_authorized.Increment();
    return ReasonCode::kNotAuthorized;  // a certificate without CN or SAN
  }
  if (c.username && auth != nullptr && auth->has_credential_store()) {
    std::string listener = link_.ListenerAddress();
    AuthRequest r{
        .client_id = c.client_id,
        .username = std::string_view(*c.username),
        .password = c.password ? std::optional<std::string_view>(*c.password) : std::nullopt,
        .listener = listener};
    switch (auth->Authenticate(r)) {
      case AuthResult::kAllow:
        return ReasonCode::kSuccess;
      case AuthResult::kNotAuthorized:
        broker().metrics_->rejected_not_authorized.Increment();
        return ReasonCode::kNotAuthorized;
      default:
        broker().metrics_->rejected_bad_credentials.Increment();
        return ReasonCode::kBadUserNameOrPassword;
    }
  }
  // Anonymous (or a username with no credential store to check it, as in Mosquitto).
  if (!anonymous_allowed_) {
    broker().metrics_->rejected_not_authorized.Increment();
    return ReasonCode::kNotAuthorized;
  }
  return ReasonCode::kSuccess;
}

bool ServerConnection::MayAccess(std::string_view topic, unsigned access) const {
  const AclIdentity* acl = session_ != nullptr ? session_->acl() : nullptr;
  return acl == nullptr || acl->May(topic, access);
}

void ServerConnection::OnSessionLost() {
  // Detaches from the session the way a network failure would, without closing the session.
  if (session_ == nullptr) return;
  Session* s = session_;
  session_ = nullptr;
  s->Detach();
  broker().stats_.connections--;
  int64_t now = broker().clock_.MonotonicNanos();
  std::optional<WillState> will;
  if (extras_) will.swap(extras_->will);
  if (will && send_will_) {
    uint32_t expiry = s->state().expiry_interval_s;
    if (will->delay_s > 0 && expiry > 0) {
      SessionContents& sc = s->state().Contents();
      sc.will_due_ns =
          now + static_cast<int64_t>(std::min(will->delay_s, expiry)) * kNanosPerSecond;
      if (Persister* p = s->PersistLog()) {
        const Clock& c = broker().clock_;
        p->Append(RecWill{s->key(), will->msg, c.NowNanos() + (sc.will_due_ns - now)});
      }
      sc.pending_will = std::move(will);
    } else {
      broker().Route(shard_.index(), will->msg);
    }
  }
  uint32_t expiry = s->state().expiry_interval_s;
  if (expiry == 0) {
    shard_.EndSession(s);
  } else if (expiry != kSessionNeverExpires) {
    s->state().expires_at_ns = now + static_cast<int64_t>(expiry) * kNanosPerSecond;
    // The expiry keeps counting from now across a restart.
    if (Persister* p = s->PersistLog()) p->Append(RecOffline{s->key(), broker().clock_.NowNanos()});
  } else {
    s->state().expires_at_ns = 0;
  }
}

void ServerConnection::OnWritten(size_t backlog) {
  if (session_ != nullptr && phase_ == Phase::kOnline) session_->OnWritten(backlog);
}

void ServerConnection::OnClosed() {
  OnSessionLost();
  phase_ = Phase::kClosing;
  shard_.RemoveConnection(this);  // destroys this
}

void ServerConnection::HandlePublish(Publish&& p) {
  if (!ResolveTopicAlias(p) || !AdmitPublish(p)) return;
  const uint8_t qos = Qos(p.qos);
  SessionState& st = session_->state();
  if (qos == 2) {
    if (st.View().inflight_in.contains(p.packet_id)) {  // a resend: already routed once
      if (!HoldsAck(p.packet_id))
        SendAckPacket(PacketType::kPubrec, p.packet_id);  // else it goes when released
      return;
    }
    // [MQTT-3.3.4-7]: only a v5 client was told our Receive Maximum (CONNACK). 3.1.1 has none:
    // paho's max_inflight_messages_set(1000) is a valid client, and closing it made it reconnect
    // and resend (clean session: QoS 2 duplicates) over and over. Its in-flight QoS 2 is bounded
    // by the packet-id space, as in 3.1.1 brokers.
    if (version_ == kMqtt5 && st.View().inflight_in.size() >= broker().config_.receive_maximum) {
      Kill(ReasonCode::kReceiveMaximumExceeded, "receive maximum exceeded");
      return;
    }
  }
  if (!MayAccess(p.topic, kAccessWrite)) {
    DropUnauthorizedPublish(p.packet_id, qos);
    return;
  }
  Shard::Add(shard_.counters.msgs_received, 1);
  Shard::Add(shard_.counters.bytes_received, p.payload.size());
  const uint16_t packet_id = p.packet_id;
  MessagePtr m = ToMessage(std::move(p), qos);
  uint8_t gates = 0;  // answers the ack waits for: the ingest gate, the persistence log
  bool gated = false;
  if (IngestGate* gate = broker().ingest_gate_.load(std::memory_order_acquire);
      gate != nullptr && !OfferToIngestGate(*gate, m, packet_id, &gated)) {
    return;
  }
  if (gated) ++gates;
  if (m->retain) broker().retained_.Put(m);  // empty payload clears [MQTT-3.3.1-6]
  Broker::RouteLog log;
  if (m->persist_id != 0) {
    log.retain_store = m->retain;
    if (qos == 2 && session_->PersistLog() != nullptr) {
      log.publisher = session_->key();
      log.incoming_packet_id = packet_id;
    }
    if (qos > 0 && broker().persist_->mode() == PersistenceMode::kEveryAck) {
      log.done = [shard = &shard_, conn = conn_id_, packet_id] {
        shard->PostDurableAck(conn, packet_id);
      };
    }
  }
  broker().Route(shard_.index(), m, m->persist_id != 0 ? &log : nullptr);
  if (log.waits) ++gates;
  if (shard_.TransitFull() && broker().config_.max_publisher_pause_ms != 0)
    shard_.WaitForTransit(this);
  // QoS 0 has no ack to withhold: a held publisher of QoS 0 is no longer read, and the kernel's
  // flow control slows it down.
  if (qos == 0 && paused_by_ > 0 && !reading_paused_) {
    reading_paused_ = true;
    link_.PauseReading(true);
  }
  if (qos == 1) {
    SendFlowAck(PacketType::kPuback, packet_id, gates);
  } else if (qos == 2) {
    st.Contents().inflight_in.insert(packet_id);
    SendFlowAck(PacketType::kPubrec, packet_id, gates);
  }
}

bool ServerConnection::OfferToIngestGate(IngestGate& gate, const MessagePtr& m, uint16_t packet_id,
                                         bool* gated) {
  IngestDone done;  // QoS 0: empty
  if (m->qos > 0) done = {&shard_, conn_id_, packet_id};
  const IngestVerdict v = gate.Offer(m, done);
  if (v.kind != IngestVerdict::kRefuse) {
    *gated = v.kind == IngestVerdict::kTaken && m->qos > 0;
    return true;
  }
  broker().stats_.msgs_dropped++;
  if (m->qos == 0) return false;
  if (version_ != kMqtt5) {
    Kill(v.reason, "refused by the ingest gate");  // 3.1.1: no reason code; the client resends
    return false;
  }
  SendFlowAck(m->qos == 1 ? PacketType::kPuback : PacketType::kPubrec, packet_id, 0, v.reason);
  return false;
}

void ServerConnection::OnIngestDone(uint16_t packet_id, ReasonCode rc) {
  if (phase_ == Phase::kClosing || !extras_) return;
  auto& held = extras_->held_acks;
  auto it = std::find_if(held.begin(), held.end(), [packet_id](const Extras::HeldAck& a) {
    return a.gates > 0 && a.packet_id == packet_id;
  });
  if (it == held.end()) return;
  if (rc != ReasonCode::kSuccess && version_ != kMqtt5) {
    Kill(rc, "refused by the ingest gate");  // 3.1.1: no reason code; the client resends
    return;
  }
  --it->gates;
  if (rc != ReasonCode::kSuccess) it->rc = rc;
  ReleaseHeldAcks();
}

bool ServerConnection::HoldsAck(uint16_t packet_id) const {
  if (!extras_) return false;
  return std::any_of(extras_->held_acks.begin(), extras_->held_acks.end(),
                     [packet_id](const Extras::HeldAck& a) {
                       return a.type == PacketType::kPubrec && a.packet_id == packet_id;
                     });
}

bool ServerConnection::ResolveTopicAlias(Publish& p) {
  if (version_ != kMqtt5 || !p.properties.topic_alias) return true;
  uint16_t alias = *p.properties.topic_alias;
  if (alias == 0 || alias > broker().config_.topic_alias_maximum) {
    Kill(ReasonCode::kTopicAliasInvalid, "topic alias out of range");  // [MQTT-3.3.2-9] [-10]
    return false;
  }
  auto& alias_in = extras().alias_in;
  if (!p.topic.empty()) {
    alias_in[alias] = p.topic;
    return true;
  }
  auto it = alias_in.find(alias);
  if (it == alias_in.end()) {
    Kill(ReasonCode::kProtocolError, "unknown topic alias");
    return false;
  }
  p.topic = it->second;
  return true;
}

bool ServerConnection::AdmitPublish(const Publish& p) {
  const BrokerConfig& cfg = broker().config_;
  if (p.topic.empty() || ValidateTopicName(p.topic) != ReasonCode::kSuccess) {
    Kill(ReasonCode::kTopicNameInvalid, "invalid topic name");
    return false;
  }
  if (!TopicWithinLimits(cfg, p.topic)) {
    broker().metrics_->rejected_limits.Increment();
    Kill(ReasonCode::kTopicNameInvalid, "topic exceeds the configured length or levels");
    return false;
  }
  if (Qos(p.qos) > cfg.max_qos) {  // [MQTT-3.2.2-11]
    Kill(ReasonCode::kQosNotSupported, "QoS not supported");
    return false;
  }
  if (p.retain && !cfg.retain_available) {  // [MQTT-3.2.2-14]
    Kill(ReasonCode::kRetainNotSupported, "retain not supported");
    return false;
  }
  return true;
}

// As Mosquitto: v5 says so in the PUBACK/PUBREC, 3.1.1 drops silently.
void ServerConnection::DropUnauthorizedPublish(uint16_t packet_id, uint8_t qos) {
  broker().stats_.msgs_dropped++;
  broker().metrics_->dropped_not_authorized.Increment();
  ReasonCode rc = version_ == kMqtt5 ? ReasonCode::kNotAuthorized : ReasonCode::kSuccess;
  if (qos == 1) {
    SendAckPacket(PacketType::kPuback, packet_id, rc);
  } else if (qos == 2) {
    if (version_ != kMqtt5) session_->state().Contents().inflight_in.insert(packet_id);  // PUBREL
    SendAckPacket(PacketType::kPubrec, packet_id, rc);
  }
}

MessagePtr ServerConnection::ToMessage(Publish&& p, uint8_t qos) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->qos = qos;
  m->retain = p.retain;
  if (version_ == kMqtt5) {
    Properties& from = p.properties;
    m->properties.payload_format_indicator = from.payload_format_indicator;
    m->properties.message_expiry_interval = from.message_expiry_interval;
    m->properties.content_type = std::move(from.content_type);
    m->properties.response_topic = std::move(from.response_topic);
    m->properties.correlation_data = std::move(from.correlation_data);
    m->properties.user_properties = std::move(from.user_properties);
  }
  m->received_at_ns = broker().clock_.MonotonicNanos();
  m->publisher = session_->key();
  m->publisher_core = shard_.index();
  m->publisher_conn = conn_id_;
  if (qos > 0 || m->retain) m->persist_id = broker().NextMessageId();
  return m;
}

void ServerConnection::SendFlowAck(PacketType type, uint16_t packet_id, uint8_t gates,
                                   ReasonCode rc) {
  if (gates == 0 && paused_by_ == 0 && !has_held_acks()) {
    SendAck(type, packet_id, rc);
    return;
  }
  std::vector<Extras::HeldAck>& held_acks = extras().held_acks;
  held_acks.push_back({type, packet_id, gates, rc});
  // A client that keeps publishing without acks beyond our Receive Maximum (or a 3.1.1 client
  // with a larger window) is not held back by withheld acks: stop reading it. A client within
  // the window is still read (its PUBACKs for its own subscriptions must get through).
  if (!reading_paused_ && held_acks.size() > broker().config_.receive_maximum) {
    reading_paused_ = true;
    link_.PauseReading(true);
  }
}

void ServerConnection::SendAck(PacketType type, uint16_t packet_id, ReasonCode rc) {
  if (type == PacketType::kPuback) {
    SendAckPacket(PacketType::kPuback, packet_id, rc);
    return;
  }
  // A PUBREC with an error ends the QoS 2 exchange: no PUBREL follows.
  if (static_cast<uint8_t>(rc) >= 0x80 &&
      session_->state().Contents().inflight_in.erase(packet_id) > 0) {
    if (Persister* p = session_->PersistLog()) p->Append(RecPubrel{session_->key(), packet_id});
  }
  SendAckPacket(PacketType::kPubrec, packet_id, rc);
}

void ServerConnection::AdjustPause(int delta) {
  AIOT_CHECK(delta > 0 || paused_by_ > 0, "backpressure release without a hold");
  paused_by_ += delta;
  ReleaseHeldAcks();
}

void ServerConnection::ReleaseHeldAcks() {
  if (paused_by_ > 0 || phase_ == Phase::kClosing) return;
  size_t held_left = 0;
  if (extras_) {
    std::vector<Extras::HeldAck>& held = extras_->held_acks;
    size_t n = 0;
    while (n < held.size() && held[n].gates == 0) ++n;  // acks keep the order of the PUBLISHes
    for (size_t i = 0; i < n; ++i) SendAck(held[i].type, held[i].packet_id, held[i].rc);
    held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(n));
    held_left = held.size();
  }
  if (reading_paused_ && held_left <= broker().config_.receive_maximum) {
    reading_paused_ = false;
    last_packet_ns_ = broker().clock_.MonotonicNanos();  // keep alive restarts now
    link_.PauseReading(false);
  }
}

void ServerConnection::HandleSubscribe(Subscribe&& sub) {
  const BrokerConfig& cfg = broker().config_;
  uint32_t sub_id = 0;
  if (!sub.properties.subscription_identifiers.empty()) {
    sub_id = sub.properties.subscription_identifiers[0];
    if (sub_id == 0) {  // [MQTT-3.8.2-?] Subscription Identifier 0 is a Protocol Error
      Kill(ReasonCode::kProtocolError, "subscription identifier 0");
      return;
    }
  }
  Suback ack;
  ack.packet_id = sub.packet_id;
  std::vector<std::pair<MessagePtr, uint8_t>> retained;
  std::vector<std::vector<uint32_t>> retained_ids;
  int64_t now = broker().clock_.MonotonicNanos();
  for (Subscription& s : sub.subscriptions) {
    if (ValidateTopicFilter(s.filter) != ReasonCode::kSuccess) {
      ack.reason_codes.push_back(version_ == kMqtt5 ? ReasonCode::kTopicFilterInvalid
                                                    : ReasonCode::kUnspecifiedError);
      continue;
    }
    bool shared = IsSharedSubscription(s.filter);
    if (shared && s.options.no_local) {  // [MQTT-3.8.3-4]
      Kill(ReasonCode::kProtocolError, "No Local on a shared subscription");
      return;
    }
    if (!TopicWithinLimits(cfg, s.filter)) {
      broker().metrics_->rejected_limits.Increment();
      ack.reason_codes.push_back(version_ == kMqtt5 ? ReasonCode::kQuotaExceeded
                                                    : ReasonCode::kUnspecifiedError);
      continue;
    }
    const AclIdentity* acl = session_->acl();
    if (acl != nullptr && !acl->policy->acl()->CheckSubscribe(acl->client_id, acl->username,
                                                              MatchingFilter(s.filter))) {
      ack.reason_codes.push_back(version_ == kMqtt5 ? ReasonCode::kNotAuthorized
                                                    : ReasonCode::kUnspecifiedError);
      continue;
    }
    SubscriptionOptions o;
    o.qos = std::min<uint8_t>(Qos(s.options.qos), cfg.max_qos);
    if (version_ == kMqtt5) {
      o.no_local = s.options.no_local;
      o.retain_as_published = s.options.retain_as_published;
      o.retain_handling = static_cast<uint8_t>(s.options.retain_handling);
      o.subscription_id = sub_id;
    }
    bool existed = broker().index_.Add(session_->key(), shard_.index(), s.filter, o);
    session_->state().Contents().subscriptions[s.filter] = o;
    if (Persister* p = session_->PersistLog())
      p->Append(RecSubscribe{session_->key(), s.filter, o});
    ack.reason_codes.push_back(static_cast<ReasonCode>(o.qos));
    // Retained messages [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]; never for shared
    // subscriptions [MQTT-3.8.4-?].
    if (shared || o.retain_handling == 2 || (o.retain_handling == 1 && existed)) continue;
    std::vector<MessagePtr> found;
    broker().retained_.Match(s.filter, now, &found);
    for (MessagePtr& m : found) {
      retained.emplace_back(std::move(m), o.qos);
      retained_ids.push_back(sub_id ? std::vector<uint32_t>{sub_id} : std::vector<uint32_t>{});
    }
  }
  Send(ack);
  for (size_t i = 0; i < retained.size(); ++i) {
    Delivery d;
    d.qos = std::min(retained[i].first->qos, retained[i].second);
    d.msg = std::move(retained[i].first);
    d.retain = true;  // [MQTT-3.3.1-8]
    d.subscription_ids = std::move(retained_ids[i]);
    if (Persister* p = session_->PersistLog(); p != nullptr && d.qos > 0 && d.msg->persist_id != 0)
      p->Append(
          RecEnqueue{d.msg, PersistTarget{session_->key(), d.qos, d.retain, d.subscription_ids}});
    session_->Enqueue(std::move(d));
  }
}

void ServerConnection::HandleUnsubscribe(Unsubscribe&& u) {
  Unsuback ack;
  ack.packet_id = u.packet_id;
  for (const std::string& f : u.filters) {
    SessionContents* sc = session_->state().contents.get();
    bool had = sc != nullptr && sc->subscriptions.erase(f) > 0;
    if (had) {
      broker().index_.Remove(session_->key(), f);
      if (Persister* p = session_->PersistLog()) p->Append(RecUnsubscribe{session_->key(), f});
    }
    ack.reason_codes.push_back(had ? ReasonCode::kSuccess : ReasonCode::kNoSubscriptionExisted);
  }
  Send(ack);
}

void ServerConnection::HandleDisconnect(Disconnect&& d) {
  if (version_ == kMqtt5 && d.properties.session_expiry_interval && session_ != nullptr) {
    if (session_->state().expiry_interval_s == 0 && *d.properties.session_expiry_interval != 0) {
      Kill(ReasonCode::kProtocolError,
           "session expiry set on DISCONNECT after 0 in CONNECT");  // [MQTT-3.14.2-2]
      return;
    }
    SessionState& st = session_->state();
    uint32_t expiry =
        std::min(*d.properties.session_expiry_interval, broker().config_.max_session_expiry);
    if (Persister* p = session_->PersistLog(); p != nullptr && expiry != st.expiry_interval_s)
      p->Append(RecSession{session_->key(), st.client_id, expiry, st.protocol_version});
    st.expiry_interval_s = expiry;
  }
  // Normal disconnection discards the will [MQTT-3.14.4-3]; 0x04 asks for it to be sent.
  send_will_ = d.reason_code == ReasonCode::kDisconnectWithWillMessage;
  phase_ = Phase::kClosing;
  link_.Close();
}

void ServerConnection::SendPublish(const Delivery& d, uint16_t packet_id, bool dup) {
  const Message& m = *d.msg;
  uint32_t limit = broker().config_.max_write_buffer;
  if (d.qos == 0 && limit != 0 && link_.Backlog() > limit) {  // a slow reader: shed QoS 0
    broker().stats_.msgs_dropped++;
    broker().metrics_->dropped_slow_consumer.Increment();
    return;
  }
  // Reused for every outgoing PUBLISH of this core: no allocation in steady state, and no
  // per-connection copy of a Publish (its Properties are large) for idle connections.
  thread_local Publish scratch;
  Publish& p = scratch;
  p.qos = static_cast<QoS>(d.qos);
  p.retain = d.retain;
  p.dup = dup;
  p.packet_id = packet_id;
  p.payload = m.payload;
  p.topic = m.topic;
  if (version_ == kMqtt5) {
    Properties& to = p.properties;
    const Properties& from = m.properties;
    to.payload_format_indicator = from.payload_format_indicator;
    to.message_expiry_interval = m.RemainingExpiry(broker().clock_.MonotonicNanos());
    to.content_type = from.content_type;
    to.response_topic = from.response_topic;
    to.correlation_data = from.correlation_data;
    to.user_properties = from.user_properties;
    to.subscription_identifiers = d.subscription_ids;
    to.topic_alias.reset();
    if (client_topic_alias_maximum_ > 0) {
      auto& alias_out = extras().alias_out;
      auto it = alias_out.find(m.topic);
      if (it != alias_out.end()) {
        to.topic_alias = it->second;
        p.topic.clear();
      } else if (alias_out.size() < client_topic_alias_maximum_) {
        uint16_t alias = static_cast<uint16_t>(alias_out.size() + 1);
        alias_out.emplace(m.topic, alias);
        to.topic_alias = alias;
      }
    }
    if (max_packet_size_ < kMaxPacketSize) {
      auto size = EncodedSize(p, version_);
      if (!size.ok() || *size > max_packet_size_) {  // [MQTT-3.1.2-24]
        broker().stats_.msgs_dropped++;
        broker().metrics_->dropped_too_large.Increment();
        return;
      }
    }
  }
  Shard::Add(shard_.counters.msgs_sent, 1);
  Shard::Add(shard_.counters.bytes_sent, m.payload.size());
  Send(p);
}

// ---- Broker ----------------------------------------------------------------------------------

Broker::Broker(const BrokerConfig& config, metrics::Registry& registry, const Clock& clock)
    : config_(config), clock_(clock), metrics_(std::make_unique<Metrics>(registry)) {
  started_ns_ = clock_.MonotonicNanos();
}

Broker::~Broker() = default;

void Broker::SetCores(std::vector<Executor*> cores) {
  AIOT_CHECK(shards_.empty() && !cores.empty(), "SetCores must be called once with >= 1 core");
  for (uint32_t i = 0; i < cores.size(); ++i)
    shards_.push_back(std::make_unique<Shard>(*this, i, cores[i]));
}

ServerConnection* Broker::Accept(uint32_t core, Link& link, bool anonymous_allowed) {
  AIOT_CHECK(core < shards_.size(), "core %u out of range", core);
  if (config_.max_connections != 0 && stats_.sockets >= config_.max_connections) {
    metrics_->rejected_max_connections.Increment();
    return nullptr;
  }
  return shards_[core]->AddConnection(link, anonymous_allowed);
}

void Broker::Tick(uint32_t core) {
  shards_[core]->Tick();
  if (core == 0) {
    retained_.Expire(clock_.MonotonicNanos());
    metrics_->connections.Set(static_cast<double>(stats_.connections.load()));
    metrics_->sessions.Set(static_cast<double>(stats_.sessions.load()));
    metrics_->subscriptions.Set(static_cast<double>(index_.size()));
    metrics_->retained.Set(static_cast<double>(retained_.size()));
    MessageTotals t = totals();
    metrics_->received.Increment(static_cast<double>(t.msgs_received - prom_rx_));
    metrics_->sent.Increment(static_cast<double>(t.msgs_sent - prom_tx_));
    prom_rx_ = t.msgs_received;
    prom_tx_ = t.msgs_sent;
  }
}

void Broker::Post(uint32_t core, std::function<void()> fn) { shards_[core]->Post(std::move(fn)); }

Status Broker::LoadAuth() {
  Authenticator external;
  {
    std::lock_guard lock(auth_mu_);
    external = external_auth_;
  }
  auto policy = AuthPolicy::Load(
      {.password_file = config_.password_file, .acl_file = config_.acl_file}, std::move(external));
  if (!policy.ok()) return policy.status().Prefix("authentication not (re)loaded");
  std::lock_guard lock(auth_mu_);
  auth_ = std::move(*policy);
  return Status::Ok();
}

void Broker::SetAuthenticator(Authenticator external) {
  std::lock_guard lock(auth_mu_);
  external_auth_ = std::move(external);
}

std::shared_ptr<const AuthPolicy> Broker::auth_policy() const {
  std::lock_guard lock(auth_mu_);
  return auth_;
}

void Broker::Shutdown(uint32_t core) {
  std::vector<ServerConnection*> all;
  for (auto& conn : shards_[core]->conns_) {
    if (conn != nullptr) all.push_back(conn.get());
  }
  for (ServerConnection* c : all) c->Kill(ReasonCode::kServerShuttingDown, "server shutting down");
}

void Broker::Forget(const std::string& client_id, SessionKey key) {
  std::lock_guard lock(registry_mu_);
  auto it = registry_.find(client_id);
  if (it != registry_.end() && it->second.key == key) registry_.erase(it);
}

void Broker::Route(uint32_t from_core, MessagePtr msg, RouteLog* log) {
  thread_local std::vector<Subscriber> subs;
  subs.clear();
  index_.Match(msg->topic, &subs);
  // With persistence, the deliveries to persistent sessions are logged before any is handed over
  // (so that their later records follow this one in the log).
  const bool persist = persist_ != nullptr && msg->persist_id != 0;
  if (!persist && subs.empty()) return;
  thread_local std::vector<std::tuple<uint32_t, SessionKey, Delivery>> out;
  out.clear();
  // One copy per session for its non-shared subscriptions: the highest QoS granted, every
  // subscription identifier [MQTT-3.3.4-3] [MQTT-3.3.4-4] [MQTT-3.3.4-5].
  std::sort(subs.begin(), subs.end(), [](const Subscriber& a, const Subscriber& b) {
    return a.shared != b.shared ? a.shared < b.shared : a.session < b.session;
  });
  auto deliver = [&](uint32_t core, SessionKey key, Delivery&& d) {
    out.emplace_back(core, key, std::move(d));
  };
  auto hand_over = [&](uint32_t core, SessionKey key, Delivery&& d) {
    if (from_core == kNoCore) {
      Shard* target = shards_[core].get();
      auto box = std::make_shared<Delivery>(std::move(d));
      target->Post([target, key, box] { target->DeliverLocal(key, std::move(*box)); });
    } else {
      shards_[from_core]->Deliver(core, key, std::move(d));
    }
  };
  for (size_t i = 0; i < subs.size();) {
    const Subscriber& first = subs[i];
    Delivery d;
    bool any = false;
    uint8_t qos = 0;
    bool retain = false;
    size_t j = i;
    for (; j < subs.size() && subs[j].session == first.session && subs[j].shared == first.shared;
         ++j) {
      const Subscriber& s = subs[j];
      if (s.options.no_local && s.session == msg->publisher) continue;  // [MQTT-3.8.3-3]
      any = true;
      qos = std::max(qos, s.options.qos);
      retain = retain || (s.options.retain_as_published && msg->retain);  // [MQTT-3.3.1-12/13]
      if (s.options.subscription_id != 0) d.subscription_ids.push_back(s.options.subscription_id);
      if (s.shared) {  // each shared subscription is delivered on its own
        ++j;
        break;
      }
    }
    if (any) {
      d.msg = msg;
      d.qos = std::min(qos, msg->qos);  // [MQTT-3.8.4-8]
      d.retain = retain;
      deliver(first.core, first.session, std::move(d));
    }
    i = j;
  }
  if (persist) LogRoute(msg, out, log);
  for (auto& [core, key, d] : out) hand_over(core, key, std::move(d));
  out.clear();
}

void Broker::LogRoute(const MessagePtr& msg,
                      const std::vector<std::tuple<uint32_t, SessionKey, Delivery>>& out,
                      RouteLog* log) {
  RecPublish rec;
  for (const auto& [core, key, d] : out) {
    if (d.qos > 0 && persist_->Persistent(key))
      rec.targets.push_back(PersistTarget{key, d.qos, d.retain, d.subscription_ids});
  }
  if (log != nullptr) {
    rec.retain_store = log->retain_store;
    rec.publisher = log->publisher;
    rec.incoming_packet_id = log->incoming_packet_id;
  }
  if (rec.targets.empty() && !rec.retain_store && rec.incoming_packet_id == 0) return;
  rec.msg = msg;
  std::function<void()> done;
  if (log != nullptr) {
    done = std::move(log->done);
    log->waits = static_cast<bool>(done);
  }
  persist_->Append(std::move(rec), std::move(done));
}

Status Broker::OpenPersistence() {
  const BrokerPersistenceConfig& pc = config_.persistence;
  if (pc.mode == PersistenceMode::kNone) return Status::Ok();
  auto opened = Persister::Open(
      {.dir = pc.dir, .mode = pc.mode, .interval_ms = pc.interval_ms, .recover = pc.recover},
      clock_);
  if (!opened.ok()) return opened.status().Prefix("broker persistence");
  persist_ = std::move(*opened);
  const PersistModel& model = persist_->loaded();
  next_msg_id_ = model.max_msg_id() + 1;
  if (next_key_ <= model.max_key()) next_key_ = model.max_key() + 1;
  for (const auto& [topic, msg] : model.retained()) retained_.Put(msg);
  uint32_t core = 0;
  for (const auto& [key, ps] : model.sessions()) {
    Shard* shard = shards_[core++ % shards_.size()].get();
    RestoreSession(shard, key, ps);
  }
  persist_->StartWriter();
  return Status::Ok();
}

void Broker::RestoreSession(Shard* shard, SessionKey key, const PersistedSession& ps) {
  auto s = std::make_unique<Session>(shard, key);
  SessionState& st = s->state();
  const int64_t now = clock_.MonotonicNanos();
  st.client_id = ps.client_id;
  st.expiry_interval_s = ps.expiry_interval_s;
  st.protocol_version = ps.protocol_version;
  // Offline: the expiry counts from when the session went offline [MQTT-3.1.2-23] (a deadline
  // past already ends it at the first tick); a session that was online when the broker stopped
  // (a crash) went offline now, and that is logged for the next restart.
  if (ps.expiry_interval_s == kSessionNeverExpires) {
    st.expires_at_ns = 0;
  } else if (ps.offline_since_unix_ns != 0) {
    const int64_t due_unix =
        ps.offline_since_unix_ns + static_cast<int64_t>(ps.expiry_interval_s) * kNanosPerSecond;
    st.expires_at_ns = std::max<int64_t>(now + (due_unix - clock_.NowNanos()), 1);
  } else {
    st.expires_at_ns = now + static_cast<int64_t>(ps.expiry_interval_s) * kNanosPerSecond;
    persist_->Append(RecOffline{key, clock_.NowNanos()});
  }
  SessionContents& sc = st.Contents();
  for (const auto& [filter, o] : ps.subscriptions) {
    index_.Add(key, shard->index(), filter, o);
    sc.subscriptions[filter] = o;
  }
  uint16_t max_id = 0;
  for (const auto& [seq, pd] : ps.deliveries) {
    Delivery d{
        .msg = pd.msg, .qos = pd.qos, .retain = pd.retain, .subscription_ids = pd.subscription_ids};
    if (pd.packet_id != 0 && !sc.inflight_out.contains(pd.packet_id)) {
      InflightOut& f = sc.inflight_out[pd.packet_id];
      f.stage = pd.pubrec ? InflightOut::Stage::kAwaitPubcomp : InflightOut::Stage::kAwaitPubrec;
      f.msg_id = pd.msg_id;
      f.delivery = std::move(d);
      max_id = std::max(max_id, pd.packet_id);
    } else if (pd.msg) {
      sc.queued_bytes += pd.msg->Bytes();
      sc.queue.push_back(std::move(d));
    }
  }
  st.next_packet_id = max_id == 65535 ? 1 : static_cast<uint16_t>(max_id + 1);
  sc.inflight_in.insert(ps.incoming.begin(), ps.incoming.end());
  if (ps.will) {
    sc.pending_will = WillState{.msg = ps.will, .delay_s = 0};
    sc.will_due_ns = now + (ps.will_due_unix_ns - clock_.NowNanos());
  }
  {
    std::lock_guard lock(registry_mu_);
    registry_[ps.client_id] = {key, shard->index()};
  }
  stats_.sessions++;
  shard->AddSession(std::move(s));
}

void Broker::PublishFromBroker(std::string topic, std::string payload, bool retain) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->retain = retain;
  m->received_at_ns = clock_.MonotonicNanos();
  if (retain) retained_.Put(m);
  Route(kNoCore, std::move(m));
}

MessageTotals Broker::totals() const {
  MessageTotals t;
  for (const auto& s : shards_) {
    t.msgs_received += s->counters.msgs_received.load(std::memory_order_relaxed);
    t.msgs_sent += s->counters.msgs_sent.load(std::memory_order_relaxed);
    t.bytes_received += s->counters.bytes_received.load(std::memory_order_relaxed);
    t.bytes_sent += s->counters.bytes_sent.load(std::memory_order_relaxed);
  }
  return t;
}

void Broker::PublishSys() {
  MessageTotals totals = this->totals();
  uint64_t connected = stats_.connections.load();
  uint64_t total = stats_.sessions.load();
  int64_t uptime = (clock_.MonotonicNanos() - started_ns_) / kNanosPerSecond;
  auto pub = [this](const char* t, std::string v) { PublishFromBroker(t, std::move(v), true); };
  pub("$SYS/broker/version", std::string("aiot ") + version::kVersion);
  pub("$SYS/broker/uptime", std::to_string(uptime) + " seconds");
  pub("$SYS/broker/clients/connected", std::to_string(connected));
  pub("$SYS/broker/clients/active", std::to_string(connected));
  pub("$SYS/broker/clients/total", std::to_string(total));
  pub("$SYS/broker/clients/disconnected",
      std::to_string(total >= connected ? total - connected : 0));
  uint64_t mx = clients_total_max_.load();
  if (connected > mx) clients_total_max_ = mx = connected;
  pub("$SYS/broker/clients/maximum", std::to_string(mx));
  pub("$SYS/broker/messages/received", std::to_string(totals.msgs_received));
  pub("$SYS/broker/messages/sent", std::to_string(totals.msgs_sent));
  pub("$SYS/broker/publish/messages/received", std::to_string(totals.msgs_received));
  pub("$SYS/broker/publish/messages/sent", std::to_string(totals.msgs_sent));
  pub("$SYS/broker/publish/messages/dropped", std::to_string(stats_.msgs_dropped.load()));
  pub("$SYS/broker/load/bytes/received", std::to_string(totals.bytes_received));
  pub("$SYS/broker/load/bytes/sent", std::to_string(totals.bytes_sent));
  pub("$SYS/broker/retained messages/count", std::to_string(retained_.size()));
  pub("$SYS/broker/subscriptions/count", std::to_string(index_.size()));
  // Rates over the last interval, like Mosquitto's load/messages/*/1min (here: per interval).
  uint64_t rx = totals.msgs_received, tx = totals.msgs_sent;
  double secs = std::max<uint32_t>(config_.sys_interval, 1);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", (rx - sys_last_rx_) / secs);
  pub("$SYS/broker/load/messages/received/1min", buf);
  std::snprintf(buf, sizeof buf, "%.2f", (tx - sys_last_tx_) / secs);
  pub("$SYS/broker/load/messages/sent/1min", buf);
  sys_last_rx_ = rx;
  sys_last_tx_ = tx;
}

}  // namespace aiot::mqtt::broker
