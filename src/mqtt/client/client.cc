#include "mqtt/client/client.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>

#include "base/check.h"
#include "base/errc.h"
#include "base/log.h"
#include "mqtt/client/tcp_transport.h"
#include "mqtt/protocol/codec.h"
#include "mqtt/protocol/topic.h"

namespace aiot::mqtt {

namespace asio = boost::asio;

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto logger = log::Get("mqtt.client");
  return logger;
}

}  // namespace

const char* ConnectionStateName(ConnectionState s) {
  switch (s) {
    case ConnectionState::kDisconnected:
      return "disconnected";
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kConnected:
      return "connected";
    case ConnectionState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::shared_ptr<Client> Client::Create(asio::io_context& io, MqttClientConfig config,
                                       TransportFactory transport_factory) {
  return Create(io.get_executor(), std::move(config), std::move(transport_factory));
}

std::shared_ptr<Client> Client::Create(const asio::any_io_executor& executor,
                                       MqttClientConfig config,
                                       TransportFactory transport_factory) {
  // The configuration passed Validate when it was loaded (client_config.h). Versions and QoS
  // outside the protocol cannot be sent at all; a url the TCP transport cannot use fails each
  // connection attempt with invalid_argument, reported to the connection handler.
  AIOT_CHECK(config.protocol_version == 4 || config.protocol_version == 5,
             "mqtt protocol_version %u (Validate refuses it)", config.protocol_version);
  AIOT_CHECK(config.will_qos <= 2, "mqtt will_qos %u (Validate refuses it)", config.will_qos);
  if (!transport_factory) transport_factory = MakeTcpTransport;
  return std::shared_ptr<Client>(
      new Client(executor, std::move(config), std::move(transport_factory)));
}

Client::Client(const asio::any_io_executor& executor, MqttClientConfig config,
               TransportFactory factory)
    : strand_(asio::make_strand(executor)),
      config_(std::move(config)),
      factory_(std::move(factory)),
      reconnect_timer_(strand_),
      connect_timer_(strand_),
      keepalive_timer_(strand_),
      rng_(std::random_device{}()) {
  client_id_ = config_.client_id;
  if (client_id_.empty()) {
    static constexpr char kHex[] = "0123456789abcdef";
    client_id_ = "aiot-";
    for (int i = 0; i < 12; ++i) client_id_.push_back(kHex[rng_() % 16]);
  }
  version_ = static_cast<uint8_t>(config_.protocol_version);
}

Client::~Client() = default;

void Client::SetMessageHandler(MessageHandler handler) { message_handler_ = std::move(handler); }
void Client::SetBatchFlushHandler(std::function<void()> flush) { batch_flush_ = std::move(flush); }
void Client::SetConnectionHandler(ConnectionHandler handler) {
  connection_handler_ = std::move(handler);
}

ClientStats Client::stats() const {
  return {stat_published_.load(), stat_completed_.load(), stat_failed_.load(),
          stat_received_.load(),  stat_connects_.load(),  stat_rejected_.load(),
          stat_aliased_.load()};
}

void Client::Start() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->phase_ != Phase::kIdle) return;
    self->Connect();
  });
}

void Client::Stop(std::function<void()> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
    if (self->phase_ == Phase::kStopped) {
      if (done) done();
      return;
    }
    if (done) self->stop_done_.push_back(std::move(done));
    if (self->phase_ == Phase::kStopping) return;
    const Phase was = self->phase_;
    self->SetPhase(Phase::kStopping);
    self->reconnect_timer_.cancel();
    self->connect_timer_.cancel();
    self->keepalive_timer_.cancel();
    if (self->transport_ &&
        (was == Phase::kConnecting || was == Phase::kAwaitConnack || was == Phase::kConnected)) {
      if (was == Phase::kConnected) self->Send(Disconnect{});
      self->transport_->Close();  // OnTransportClosed completes the stop
      return;
    }
    self->transport_.reset();
    self->CancelAll();
    self->SetPhase(Phase::kStopped);
    self->Emit(ConnectionState::kStopped, {});
    for (auto& d : std::exchange(self->stop_done_, {})) d();
  });
}

Status Client::Publish(std::string topic, SharedBytes payload, PublishOptions options,
                       PublishDone done) {
  if (ValidateTopicName(topic) != ReasonCode::kSuccess) return ReasonCode::kTopicNameInvalid;
  if (static_cast<uint8_t>(options.qos) > 2) return errc::invalid_argument;
  if (state_.load() == ConnectionState::kStopped) return errc::cancelled;
  Outgoing m;
  m.publish.topic = std::move(topic);
  m.publish.payload = std::move(payload);
  m.publish.qos = options.qos;
  m.publish.retain = options.retain;
  m.publish.properties = std::move(options.properties);
  m.done = std::move(done);
  bool post = false;
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.size() >= config_.offline_queue_limit) {
      stat_rejected_.fetch_add(1, std::memory_order_relaxed);
      return errc::resource_exhausted;
    }
    queue_.push_back(std::move(m));
    if (!drain_posted_) drain_posted_ = post = true;
  }
  stat_published_.fetch_add(1, std::memory_order_relaxed);
  if (post) asio::post(strand_, [self = shared_from_this()] { self->Drain(); });
  return Status::Ok();
}

void Client::Subscribe(std::string filter, SubscribeOptions options, MessageHandler handler,
                       SubscribeDone done) {
  asio::post(strand_, [self = shared_from_this(), filter = std::move(filter), options,
                       handler = std::move(handler), done = std::move(done)]() mutable {
    if (ValidateTopicFilter(filter) != ReasonCode::kSuccess) {
      if (done) done(ReasonCode::kTopicFilterInvalid);
      return;
    }
    auto& e = self->subscriptions_[filter];
    e.options = options;
    e.handler = std::move(handler);
    e.in_session = false;
    e.done = std::move(done);
    if (self->phase_ == Phase::kConnected) self->SubscribePending();
  });
}

void Client::Unsubscribe(std::string filter, SubscribeDone done) {
  asio::post(strand_, [self = shared_from_this(), filter = std::move(filter),
                       done = std::move(done)]() mutable {
    auto it = self->subscriptions_.find(filter);
    const bool known = it != self->subscriptions_.end();
    if (known) self->subscriptions_.erase(it);
    if (self->phase_ != Phase::kConnected) {
      if (done) done(known ? ReasonCode::kSuccess : ReasonCode::kNoSubscriptionExisted);
      return;
    }
    mqtt::Unsubscribe u;
    u.packet_id = self->NextPacketId();
    u.filters.push_back(filter);
    self->pending_unsubscribes_[u.packet_id] = {std::move(filter), std::move(done)};
    self->Send(std::move(u));
  });
}

// ---- Connection lifecycle (strand) -------------------------------------------------------------

void Client::SetPhase(Phase p) {
  phase_ = p;
  switch (p) {
    case Phase::kConnected:
      state_ = ConnectionState::kConnected;
      break;
    case Phase::kConnecting:
    case Phase::kAwaitConnack:
      state_ = ConnectionState::kConnecting;
      break;
    case Phase::kStopped:
      state_ = ConnectionState::kStopped;
      break;
    default:
      state_ = ConnectionState::kDisconnected;
      break;
  }
}

void Client::Emit(ConnectionState s, std::error_code ec, bool session_present) {
  if (connection_handler_) connection_handler_({s, ec, session_present});
}

void Client::Connect() {
  SetPhase(Phase::kConnecting);
  Emit(ConnectionState::kConnecting, {});
  TransportOptions options;
  options.url = config_.url;
  options.protocol_version = version_;
  options.max_packet_size = config_.max_packet_size;
  options.connect_timeout_ms = config_.connect_timeout_ms;
  if (IsTlsUrl(config_.url)) {
    if (!tls_context_) {
      auto ctx = tls::MakeClientContext(config_.tls);
      if (ctx.ok()) {
        tls_context_ = *ctx;
      } else {
        Log()->error("{}: {}", config_.url, ctx.status().message());
      }
    }
    options.tls_context = tls_context_;
    options.tls = config_.tls;
  }
  transport_ = factory_(strand_, options);
  connect_timer_.expires_after(std::chrono::milliseconds(config_.connect_timeout_ms));
  connect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (self->phase_ == Phase::kConnecting || self->phase_ == Phase::kAwaitConnack) {
      Log()->warn("connect to {} timed out", self->config_.url);
      if (self->transport_) self->transport_->Close();
    }
  });
  transport_->Connect(this);
}

void Client::OnTransportConnected() {
  if (phase_ != Phase::kConnecting) return;
  SetPhase(Phase::kAwaitConnack);
  mqtt::Connect c;
  c.protocol_version = version_;
  c.client_id = client_id_;
  c.clean_start = config_.clean_start;
  c.keep_alive = static_cast<uint16_t>(std::min<uint32_t>(config_.keep_alive_s, 65535));
  if (!config_.username.empty()) c.username = config_.username;
  if (!config_.password.empty()) c.password = config_.password;
  if (version_ == kMqtt5) {
    c.properties = config_.connect_properties;
    if (config_.session_expiry_s) c.properties.session_expiry_interval = config_.session_expiry_s;
    if (config_.receive_maximum && config_.receive_maximum < 65535) {
      c.properties.receive_maximum = static_cast<uint16_t>(config_.receive_maximum);
    }
    if (config_.topic_alias_maximum) {
      c.properties.topic_alias_maximum =
          static_cast<uint16_t>(std::min<uint32_t>(config_.topic_alias_maximum, 65535));
    }
    if (config_.max_packet_size) c.properties.maximum_packet_size = config_.max_packet_size;
  }
  if (!config_.will_topic.empty()) {
    Will w;
    w.topic = config_.will_topic;
    w.payload = config_.will_payload;
    w.qos = static_cast<QoS>(config_.will_qos);
    w.retain = config_.will_retain;
    if (version_ == kMqtt5) {
      w.properties = config_.will_properties;
      if (config_.will_delay_s) w.properties.will_delay_interval = config_.will_delay_s;
    }
    c.will = std::move(w);
  }
  Send(std::move(c));
}

void Client::OnTransportBatchBegin() { in_batch_ = true; }

void Client::OnTransportBatchEnd() {
  in_batch_ = false;
  FlushBatch();
}

void Client::FlushBatch() {
  if (batch_unflushed_ && batch_flush_) batch_flush_();
  batch_unflushed_ = false;
  for (Packet& ack : held_acks_) Send(std::move(ack));
  held_acks_.clear();
}

void Client::OnTransportClosed(std::error_code ec) {
  FlushBatch();  // what the handlers took is flushed; the acks go nowhere (the link is gone)
  in_batch_ = false;
  connect_timer_.cancel();
  keepalive_timer_.cancel();
  transport_.reset();
  topic_aliases_in_.clear();
  aliases_out_.clear();  // aliases live as long as the network connection
  alias_out_max_ = 0;
  ping_outstanding_ = false;
  if (phase_ == Phase::kStopping || phase_ == Phase::kStopped) {
    CancelAll();
    SetPhase(Phase::kStopped);
    Emit(ConnectionState::kStopped, ec);
    for (auto& d : std::exchange(stop_done_, {})) d();
    return;
  }
  const bool was_connected = phase_ == Phase::kConnected;
  if (was_connected) {
    Log()->info("connection to {} lost: {}", config_.url, ec ? ec.message() : "closed");
  } else {
    Log()->debug("connect to {} failed: {}", config_.url, ec ? ec.message() : "closed");
  }
  SetPhase(Phase::kBackoff);
  Emit(ConnectionState::kDisconnected, ec);
  ScheduleReconnect();
}

void Client::ScheduleReconnect() {
  const uint32_t shift = std::min<uint32_t>(attempt_, 20);
  const uint64_t base =
      std::min<uint64_t>(uint64_t{config_.reconnect_min_ms} << shift, config_.reconnect_max_ms);
  // Jitter: 50-100% of the exponential delay, so a fleet does not reconnect in lockstep.
  const uint64_t delay = base / 2 + (base / 2 ? rng_() % (base / 2 + 1) : 0);
  ++attempt_;
  reconnect_timer_.expires_after(std::chrono::milliseconds(delay));
  reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::kBackoff) return;
    self->Connect();
  });
}

void Client::Fail(ReasonCode rc, const char* why) {
  Log()->warn("protocol error from server {}: {}", config_.url, why);
  if (!transport_) return;
  if (version_ == kMqtt5 && phase_ == Phase::kConnected) {
    Disconnect d;
    d.reason_code = rc;
    Send(std::move(d));
  }
  transport_->Close();
}

void Client::OnTransportPacket(Packet&& packet) {
  ping_outstanding_ = false;  // any packet shows the server is alive
  if (phase_ == Phase::kAwaitConnack) {
    if (auto* ack = std::get_if<Connack>(&packet)) return HandleConnack(std::move(*ack));
    return Fail(ReasonCode::kProtocolError, "first packet is not CONNACK");
  }
  if (phase_ != Phase::kConnected) return;
  switch (TypeOf(packet)) {
    case PacketType::kPublish:
      return HandlePublish(std::move(std::get<mqtt::Publish>(packet)));
    case PacketType::kPuback: {
      const auto& a = std::get<Puback>(packet);
      return HandleAck(PacketType::kPuback, a.packet_id, a.reason_code);
    }
    case PacketType::kPubrec: {
      const auto& a = std::get<Pubrec>(packet);
      return HandleAck(PacketType::kPubrec, a.packet_id, a.reason_code);
    }
    case PacketType::kPubcomp: {
      const auto& a = std::get<Pubcomp>(packet);
      return HandleAck(PacketType::kPubcomp, a.packet_id, a.reason_code);
    }
    case PacketType::kPubrel: {
      const auto& r = std::get<Pubrel>(packet);
      qos2_received_.erase(r.packet_id);
      Pubcomp c;
      c.packet_id = r.packet_id;
      return Send(std::move(c));
    }
    case PacketType::kSuback:
      return HandleSuback(std::move(std::get<Suback>(packet)));
    case PacketType::kUnsuback:
      return HandleUnsuback(std::move(std::get<Unsuback>(packet)));
    case PacketType::kPingresp:
      return;
    case PacketType::kDisconnect: {
      const auto& d = std::get<Disconnect>(packet);
      Log()->info("server {} disconnected: {}{}{}", config_.url, ReasonCodeName(d.reason_code),
                  d.properties.reason_string ? ": " : "", d.properties.reason_string.value_or(""));
      if (transport_) transport_->Close();
      return;
    }
    default:
      return Fail(ReasonCode::kProtocolError, "unexpected packet type from server");
  }
}

void Client::HandleConnack(Connack&& ack) {
  connect_timer_.cancel();
  if (ack.reason_code != ReasonCode::kSuccess) {
    Log()->warn("{} refused the connection: {}", config_.url, ReasonCodeName(ack.reason_code));
    Emit(ConnectionState::kDisconnected, make_error_code(ack.reason_code));
    if (transport_) transport_->Close();
    return;
  }
  attempt_ = 0;
  const Properties& p = ack.properties;
  send_quota_ = std::min<uint32_t>(config_.max_inflight ? config_.max_inflight : 1,
                                   p.receive_maximum.value_or(65535));
  server_max_qos_ = p.maximum_qos.value_or(2);
  server_retain_available_ = p.retain_available.value_or(1) != 0;
  server_max_packet_size_ = p.maximum_packet_size.value_or(0);
  keep_alive_s_ = p.server_keep_alive.value_or(
      static_cast<uint16_t>(std::min<uint32_t>(config_.keep_alive_s, 65535)));
  if (p.assigned_client_identifier) client_id_ = *p.assigned_client_identifier;
  aliases_out_.clear();
  alias_out_max_ = version_ == kMqtt5
                       ? static_cast<uint16_t>(std::min<uint32_t>(
                             config_.topic_alias_maximum_out, p.topic_alias_maximum.value_or(0)))
                       : 0;
  SetPhase(Phase::kConnected);
  stat_connects_.fetch_add(1, std::memory_order_relaxed);
  if (!ack.session_present) {
    qos2_received_.clear();
    for (auto& [filter, e] : subscriptions_) e.in_session = false;
  }
  SubscribePending();
  // Resend what is in flight, in the original order [MQTT-4.4.0-1].
  std::vector<Outgoing*> order;
  for (auto& [id, m] : inflight_) order.push_back(&m);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  std::vector<uint16_t> done_ids;
  for (Outgoing* m : order) {
    if (m->pubrec_received) {
      if (!ack.session_present) {
        // The server had the message (PUBREC) and lost the session: it was delivered once.
        done_ids.push_back(m->publish.packet_id);
        continue;
      }
      Pubrel rel;
      rel.packet_id = m->publish.packet_id;
      Send(std::move(rel));
    } else {
      mqtt::Publish copy = m->publish;
      copy.dup = true;
      SendPublish(copy);
    }
  }
  for (uint16_t id : done_ids) {
    auto it = inflight_.find(id);
    FinishMessage(it->second, {});
    inflight_.erase(it);
  }
  Emit(ConnectionState::kConnected, {}, ack.session_present);
  StartKeepAlive();
  Drain();
}

void Client::SubscribePending() {
  mqtt::Subscribe s;
  PendingRequest req;
  for (auto& [filter, e] : subscriptions_) {
    if (e.in_session) continue;
    Subscription sub{filter, e.options};
    if (version_ != kMqtt5) sub.options = SubscribeOptions{.qos = e.options.qos};
    s.subscriptions.push_back(std::move(sub));
    req.filters.push_back(filter);
    e.in_session = true;  // requested; a failure SUBACK clears it
  }
  if (s.subscriptions.empty()) return;
  s.packet_id = NextPacketId();
  pending_subscribes_[s.packet_id] = std::move(req);
  Send(std::move(s));
}

void Client::HandleSuback(Suback&& s) {
  auto it = pending_subscribes_.find(s.packet_id);
  if (it == pending_subscribes_.end()) return;
  PendingRequest req = std::move(it->second);
  pending_subscribes_.erase(it);
  for (size_t i = 0; i < req.filters.size(); ++i) {
    const ReasonCode rc =
        i < s.reason_codes.size() ? s.reason_codes[i] : ReasonCode::kUnspecifiedError;
    auto e = subscriptions_.find(req.filters[i]);
    if (e == subscriptions_.end()) continue;
    SubscribeDone done = std::exchange(e->second.done, nullptr);
    if (IsError(rc)) {
      Log()->warn("subscription to {} refused: {}", req.filters[i], ReasonCodeName(rc));
      subscriptions_.erase(e);
    }
    if (done) done(rc);
  }
}

void Client::HandleUnsuback(Unsuback&& u) {
  auto it = pending_unsubscribes_.find(u.packet_id);
  if (it == pending_unsubscribes_.end()) return;
  auto [filter, done] = std::move(it->second);
  pending_unsubscribes_.erase(it);
  if (done) done(u.reason_codes.empty() ? ReasonCode::kSuccess : u.reason_codes[0]);
}

void Client::HandlePublish(mqtt::Publish&& p) {
  if (p.properties.topic_alias) {
    const uint16_t alias = *p.properties.topic_alias;
    if (alias > config_.topic_alias_maximum) {
      return Fail(ReasonCode::kTopicAliasInvalid, "topic alias above our Topic Alias Maximum");
    }
    if (p.topic.empty()) {
      auto it = topic_aliases_in_.find(alias);
      if (it == topic_aliases_in_.end()) {
        return Fail(ReasonCode::kProtocolError, "unknown topic alias");
      }
      p.topic = it->second;
    } else {
      topic_aliases_in_[alias] = p.topic;
    }
  }
  bool deliver = true;
  if (p.qos == QoS::kExactlyOnce) deliver = qos2_received_.insert(p.packet_id).second;
  if (deliver) {
    stat_received_.fetch_add(1, std::memory_order_relaxed);
    bool handled = false;
    for (auto& [filter, e] : subscriptions_) {
      if (e.handler && TopicMatches(MatchingFilter(filter), p.topic)) {
        e.handler(p);
        handled = true;
      }
    }
    if (!handled && message_handler_) message_handler_(p);
    batch_unflushed_ = static_cast<bool>(batch_flush_);
  }
  if (p.qos == QoS::kAtMostOnce) {
    if (!in_batch_) FlushBatch();
    return;
  }
  Packet ack;
  if (p.qos == QoS::kAtLeastOnce) {
    Puback a;
    a.packet_id = p.packet_id;
    ack = std::move(a);
  } else {
    Pubrec r;
    r.packet_id = p.packet_id;
    ack = std::move(r);
  }
  if (batch_flush_) {
    held_acks_.push_back(std::move(ack));
    if (!in_batch_) FlushBatch();
    return;
  }
  Send(std::move(ack));
}

void Client::HandleAck(PacketType type, uint16_t id, ReasonCode rc) {
  auto it = inflight_.find(id);
  if (it == inflight_.end()) {
    if (type == PacketType::kPubrec) {  // e.g. a duplicate: answer so the server can finish
      Pubrel rel;
      rel.packet_id = id;
      rel.reason_code = ReasonCode::kPacketIdentifierNotFound;
      Send(std::move(rel));
    }
    return;
  }
  Outgoing& m = it->second;
  const bool qos1 = m.publish.qos == QoS::kAtLeastOnce;
  if (type == PacketType::kPuback && !qos1)
    return Fail(ReasonCode::kProtocolError, "PUBACK for QoS 2");
  if (type != PacketType::kPuback && qos1)
    return Fail(ReasonCode::kProtocolError, "PUBREC/PUBCOMP for QoS 1");
  if (type == PacketType::kPubrec && !IsError(rc)) {
    m.pubrec_received = true;
    Pubrel rel;
    rel.packet_id = id;
    Send(std::move(rel));
    return;
  }
  FinishMessage(m, IsError(rc) ? make_error_code(rc) : std::error_code());
  inflight_.erase(it);
  Drain();
}

void Client::FinishMessage(Outgoing& m, std::error_code ec) {
  (ec ? stat_failed_ : stat_completed_).fetch_add(1, std::memory_order_relaxed);
  if (m.done) m.done(ec);
}

void Client::CancelAll() {
  const std::error_code cancelled = errc::cancelled;
  for (auto& [id, m] : inflight_) FinishMessage(m, cancelled);
  inflight_.clear();
  std::deque<Outgoing> queued;
  {
    std::lock_guard lock(queue_mu_);
    queued.swap(queue_);
  }
  for (auto& m : queued) FinishMessage(m, cancelled);
  for (auto& [filter, e] : subscriptions_) {
    if (e.done) std::exchange(e.done, nullptr)(ReasonCode::kUnspecifiedError);
  }
  for (auto& [id, u] : pending_unsubscribes_) {
    if (u.second) u.second(ReasonCode::kUnspecifiedError);
  }
  pending_unsubscribes_.clear();
  pending_subscribes_.clear();
}

void Client::OnTransportDrained() { Drain(); }

void Client::Drain() {
  {
    std::lock_guard lock(queue_mu_);
    drain_posted_ = false;
  }
  if (phase_ != Phase::kConnected || !transport_) return;
  for (;;) {
    if (transport_->QueuedBytes() > config_.max_write_buffer) return;  // OnTransportDrained
    Outgoing m;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) return;
      if (queue_.front().publish.qos != QoS::kAtMostOnce && inflight_.size() >= send_quota_) {
        return;  // Receive Maximum: wait for an acknowledgement
      }
      m = std::move(queue_.front());
      queue_.pop_front();
    }
    ReasonCode refuse = ReasonCode::kSuccess;
    if (static_cast<uint8_t>(m.publish.qos) > server_max_qos_)
      refuse = ReasonCode::kQosNotSupported;
    if (m.publish.retain && !server_retain_available_) refuse = ReasonCode::kRetainNotSupported;
    if (m.publish.qos != QoS::kAtMostOnce) m.publish.packet_id = NextPacketId();
    if (refuse == ReasonCode::kSuccess && server_max_packet_size_) {
      auto size = EncodedSize(m.publish, version_);
      if (!size.ok() || *size > server_max_packet_size_) refuse = ReasonCode::kPacketTooLarge;
    }
    if (refuse != ReasonCode::kSuccess) {
      FinishMessage(m, make_error_code(refuse));
      continue;
    }
    if (m.publish.qos == QoS::kAtMostOnce) {
      SendPublish(m.publish);
      FinishMessage(m, {});
      if (!transport_) return;
      continue;
    }
    m.seq = next_seq_++;
    const uint16_t id = m.publish.packet_id;
    auto [it, inserted] = inflight_.emplace(id, std::move(m));
    SendPublish(it->second.publish);
    if (!transport_) return;
  }
}

uint16_t Client::NextPacketId() {
  for (int i = 0; i < 65536; ++i) {
    const uint16_t id = next_packet_id_;
    next_packet_id_ = static_cast<uint16_t>(next_packet_id_ == 65535 ? 1 : next_packet_id_ + 1);
    if (!inflight_.count(id) && !pending_subscribes_.count(id) &&
        !pending_unsubscribes_.count(id)) {
      return id;
    }
  }
  AIOT_CHECK(false, "no free packet identifier (in flight: %zu)", inflight_.size());
  return 0;
}

void Client::Send(Packet packet) {
  if (!transport_) return;
  last_sent_ns_ = NowNs();
  transport_->Send(std::move(packet));
}

void Client::SendPublish(const mqtt::Publish& p) {
  if (alias_out_max_ == 0 || p.topic.empty()) {
    Send(p);
    return;
  }
  mqtt::Publish out = p;
  const uint64_t now = ++alias_clock_;
  auto it = aliases_out_.find(p.topic);
  if (it != aliases_out_.end()) {  // bound on this connection: the alias alone
    it->second.last_used = now;
    out.properties.topic_alias = it->second.alias;
    out.topic.clear();
    stat_aliased_.fetch_add(1, std::memory_order_relaxed);
  } else {  // bind (or rebind the least recently used) alias: topic + alias
    uint16_t alias = static_cast<uint16_t>(aliases_out_.size() + 1);
    if (aliases_out_.size() >= alias_out_max_) {
      auto victim = std::min_element(
          aliases_out_.begin(), aliases_out_.end(),
          [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
      alias = victim->second.alias;
      aliases_out_.erase(victim);
    }
    aliases_out_.emplace(p.topic, AliasOut{alias, now});
    out.properties.topic_alias = alias;
  }
  Send(std::move(out));
}

void Client::StartKeepAlive() {
  if (keep_alive_s_ == 0) return;
  // Check at a fraction of the interval: send PINGREQ when nothing was sent for half of it, give
  // up when a PINGREQ got no answer within the whole interval.
  keepalive_timer_.expires_after(std::chrono::milliseconds(keep_alive_s_ * 1000 / 4));
  keepalive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::kConnected) return;
    self->OnKeepAliveTimer();
  });
}

void Client::OnKeepAliveTimer() {
  const int64_t now = NowNs();
  const int64_t interval = int64_t{keep_alive_s_} * 1'000'000'000;
  if (ping_outstanding_ && now - ping_sent_ns_ > interval) {
    Log()->warn("no answer from {} within keep alive; reconnecting", config_.url);
    if (transport_) transport_->Close();
    return;
  }
  if (!ping_outstanding_ && now - last_sent_ns_ >= interval / 2) {
    ping_outstanding_ = true;
    ping_sent_ns_ = now;
    Send(Pingreq{});
  }
  StartKeepAlive();
}

}  // namespace aiot::mqtt
