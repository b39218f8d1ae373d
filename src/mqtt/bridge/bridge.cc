#include "mqtt/bridge/bridge.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"
#include "mqtt/bridge/record.h"
#include "mqtt/broker/inproc_transport.h"

namespace aiot::mqtt::bridge {
namespace {

using namespace std::chrono_literals;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Bridge::Metrics {
  Metrics(metrics::Registry& r, const std::string& name)
      : connected(prometheus::BuildGauge()
                      .Name("aiot_mqtt_bridge_connected")
                      .Help("1 while the bridge is connected to its remote broker")
                      .Register(r)
                      .Add({{"bridge", name}})),
        messages(prometheus::BuildCounter()
                     .Name("aiot_mqtt_bridge_messages_total")
                     .Help("Messages carried: out (acknowledged by the remote), in (published "
                           "locally), buffered (out messages written to the buffer)")
                     .Register(r)),
        out(messages.Add({{"bridge", name}, {"direction", "out"}})),
        in(messages.Add({{"bridge", name}, {"direction", "in"}})),
        buffered(messages.Add({{"bridge", name}, {"direction", "buffered"}})),
        dropped(prometheus::BuildCounter()
                    .Name("aiot_mqtt_bridge_dropped_total")
                    .Help("Messages not carried, by reason: buffer_full, io_error, "
                          "remote_refused, local_refused, corrupt")
                    .Register(r)),
        buffer(prometheus::BuildGauge()
                   .Name("aiot_mqtt_bridge_buffer")
                   .Help("Store-and-forward buffer: bytes, messages (not acknowledged by the "
                         "remote), oldest_age_seconds, recovered_messages, cut_bytes")
                   .Register(r)),
        bytes(buffer.Add({{"bridge", name}, {"value", "bytes"}})),
        records(buffer.Add({{"bridge", name}, {"value", "messages"}})),
        age(buffer.Add({{"bridge", name}, {"value", "oldest_age_seconds"}})),
        recovered(buffer.Add({{"bridge", name}, {"value", "recovered_messages"}})),
        cut(buffer.Add({{"bridge", name}, {"value", "cut_bytes"}})),
        name(name) {}

  prometheus::Gauge& connected;
  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Counter& out;
  prometheus::Counter& in;
  prometheus::Counter& buffered;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Family<prometheus::Gauge>& buffer;
  prometheus::Gauge& bytes;
  prometheus::Gauge& records;
  prometheus::Gauge& age;
  prometheus::Gauge& recovered;
  prometheus::Gauge& cut;
  std::string name;
  std::atomic<uint64_t> n_out{0}, n_in{0}, n_buffered{0}, n_dropped{0};
};

Bridge::Bridge(const BridgeConfig& config, metrics::Registry& registry)
    : config_(config), metrics_(std::make_unique<Metrics>(registry, config.name)) {}

Bridge::~Bridge() { Stop(); }

Result<std::unique_ptr<Bridge>> Bridge::Create(const BridgeConfig& config, broker::Broker& broker,
                                               boost::asio::io_context& io,
                                               metrics::Registry& registry) {
  config::Checks checks;
  Validate(checks, config);
  if (!checks.ok()) {
    const auto& p = checks.problems().front();
    return Status(errc::invalid_argument,
                  fmt::format("bridge {}: {}: {}", config.name, p.key, p.what));
  }
  std::unique_ptr<Bridge> b(new Bridge(config, registry));
  for (const std::string& spec : config.topics) {
    auto t = ParseTopicSpec(spec);
    if (!t.ok()) return t.status();
    b->topics_.push_back(*t);
  }
  std::string password;
  if (!config.password_file.empty()) {
    auto line = ReadFirstLine(config.password_file);
    if (!line.ok()) {
      return Status(
          errc::invalid_argument,
          "bridge " + config.name + ": password_file: cannot read `" + config.password_file + "`");
    }
    password = std::move(*line);
  }
  disk::DiskBufferOptions bo;
  bo.dir = config.buffer_dir();
  bo.max_bytes = config.buffer.max_bytes;
  bo.segment_bytes = config.buffer.segment_bytes;
  bo.fsync = config.buffer.fsync;
  bo.fsync_interval_ms = config.buffer.fsync_interval_ms;
  auto buffer = disk::DiskBuffer::Open(bo);
  if (!buffer.ok()) {
    return Status(buffer.error(), "bridge " + config.name + ": buffer " + bo.dir + ": " +
                                      buffer.status().message());
  }
  b->buffer_ = std::move(*buffer);
  const disk::RecoveryReport& rec = b->buffer_->recovery();
  b->metrics_->recovered.Set(static_cast<double>(rec.records));
  b->metrics_->cut.Set(static_cast<double>(rec.truncated_bytes));
  auto log = log::Get("mqtt.bridge");
  if (rec.records > 0)
    log->info("bridge {}: {} buffered message(s) to send from {}", config.name, rec.records,
              bo.dir);
  for (const std::string& p : rec.problems) log->warn("bridge {}: buffer: {}", config.name, p);
  if (config.buffer.dir.empty()) {
    // Before broker.bridges, the default buffer dir was var/aiot/mqtt-bridge itself: segments left
    // there are not this bridge's buffer (var/aiot/mqtt-bridge/<name>). Said, never dropped.
    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(bo.dir).parent_path();
    for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
      if (e.path().extension() == ".seg") {
        log->warn(
            "bridge {}: {} holds buffer segments of the former default buffer dir; to send "
            "them, run this bridge once with buffer.dir: {}",
            config.name, parent.string(), parent.string());
        break;
      }
    }
  }

  // The remote side.
  MqttClientConfig rc;
  rc.url = config.url;
  rc.tls = config.tls;
  rc.client_id = config.effective_client_id();
  rc.username = config.username;
  rc.password = password;
  rc.protocol_version = config.protocol_version;
  rc.keep_alive_s = config.keep_alive_s;
  rc.clean_start = config.clean_start;
  rc.session_expiry_s = config.clean_start ? 0 : config.session_expiry_s;
  rc.reconnect_min_ms = config.reconnect_min_ms;
  rc.reconnect_max_ms = config.reconnect_max_ms;
  rc.max_inflight = config.max_inflight;
  rc.offline_queue_limit = config.max_inflight + 16;
  b->remote_ = Client::Create(io, rc);

  // The local side: in process, trusted.
  MqttClientConfig lc;
  lc.url = "inproc://";
  lc.client_id = "aiot-bridge-local-" + config.name;
  lc.clean_start = true;
  lc.max_inflight = 1000;
  lc.offline_queue_limit = 100000;
  b->local_ = Client::Create(io, lc, broker::MakeInprocFactory(broker));
  return b;
}

void Bridge::Start() {
  if (started_) return;
  started_ = true;
  auto log = log::Get("mqtt.bridge");
  Bridge* self = this;
  remote_->SetConnectionHandler([self, log](const ConnectionEvent& e) {
    const bool up = e.state == ConnectionState::kConnected;
    if (up != self->connected_.exchange(up)) {
      if (up) {
        log->info("bridge {}: connected to {}", self->config_.name, self->config_.url);
      } else {
        log->warn("bridge {}: disconnected from {}{}{}", self->config_.name, self->config_.url,
                  e.error ? ": " : "", e.error ? e.error.message() : "");
      }
    } else if (!up && e.error && e.state == ConnectionState::kDisconnected) {
      log->debug("bridge {}: {}: {}", self->config_.name, self->config_.url, e.error.message());
    }
    self->metrics_->connected.Set(up ? 1 : 0);
  });
  // The local subscriptions are in place when Start returns (waited for below).
  struct Pending {
    std::mutex mu;
    size_t left = 0;
    std::promise<void> all;
  };
  auto pending = std::make_shared<Pending>();
  for (const TopicSpec& t : topics_) pending->left += t.out() ? 1 : 0;
  if (pending->left == 0) pending->all.set_value();
  for (const TopicSpec& t : topics_) {
    const QoS qos = static_cast<QoS>(t.qos);
    if (t.out()) {
      local_->Subscribe(
          t.local_filter(),
          SubscribeOptions{.qos = qos, .no_local = true, .retain_as_published = true},
          [self, &t](const Message& m) { self->OnLocalMessage(t, m); },
          [pending, self, log, filter = t.local_filter()](ReasonCode rc) {
            if (IsError(rc))
              log->error("bridge {}: local subscription {} refused: {}", self->config_.name, filter,
                         static_cast<int>(rc));
            std::lock_guard lk(pending->mu);
            if (pending->left > 0 && --pending->left == 0) pending->all.set_value();
          });
    }
    if (t.in()) {
      SubscribeOptions o{.qos = qos,
                         .no_local = config_.protocol_version == 5,
                         .retain_as_published = config_.protocol_version == 5};
      remote_->Subscribe(t.remote_filter(), o,
                         [self, &t](const Message& m) { self->OnRemoteMessage(t, m); });
    }
  }
  {
    std::lock_guard lk(mu_);
    stop_ = false;
  }
  sender_ = std::thread([this] { SendLoop(); });
  local_->Start();
  remote_->Start();
  if (pending->all.get_future().wait_for(5s) != std::future_status::ready)
    log->warn("bridge {}: local subscriptions not acknowledged within 5 s", config_.name);
}

void Bridge::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  buffer_->Wake();
  if (sender_.joinable()) sender_.join();
  // Each Stop completes on the client's strand; wait for it (bounded: the io threads may already
  // be gone when a caller stops late).
  for (auto* c : {&local_, &remote_}) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    (*c)->Stop([done] { done->set_value(); });
    f.wait_for(5s);
  }
  (void)buffer_->Maintain(true);
  connected_ = false;
  metrics_->connected.Set(0);
  UpdateGauges();
}

// On the local client's strand: append, then return (the client PUBACKs the local broker).
void Bridge::OnLocalMessage(const TopicSpec& t, const Message& m) {
  if (m.topic.size() < t.local_prefix.size()) return;  // cannot happen: the filter has the prefix
  const std::string remote_topic = t.remote_prefix + m.topic.substr(t.local_prefix.size());
  BufferedMessage bm;
  bm.topic = remote_topic;
  bm.payload = m.payload.view();
  bm.qos = static_cast<uint8_t>(m.qos);
  bm.retain = m.retain;
  if (remote_topic.size() > 65535) return Drop("invalid_topic");
  std::string data;
  data.reserve(4 + remote_topic.size() + bm.payload.size());
  EncodeRecord(bm, &data);
  auto seq = buffer_->Append(data, NowMs());
  if (!seq.ok()) {
    if (seq.error() == make_error_code(errc::resource_exhausted)) return Drop("buffer_full");
    if (seq.error() == make_error_code(errc::invalid_argument)) return Drop("too_large");
    log::Get("mqtt.bridge")->error("bridge {}: buffer: {}", config_.name, seq.status().message());
    return Drop("io_error");
  }
  metrics_->buffered.Increment();
  metrics_->n_buffered.fetch_add(1, std::memory_order_relaxed);
}

// On the remote client's strand.
void Bridge::OnRemoteMessage(const TopicSpec& t, const Message& m) {
  if (m.topic.size() < t.remote_prefix.size()) return;
  std::string local_topic = t.local_prefix + m.topic.substr(t.remote_prefix.size());
  PublishOptions o;
  o.qos = m.qos;
  o.retain = m.retain;
  Bridge* self = this;
  Status s =
      local_->Publish(std::move(local_topic), m.payload, std::move(o), [self](std::error_code ec) {
        if (ec && ec != make_error_code(errc::cancelled)) self->Drop("local_refused");
      });
  if (!s.ok()) return Drop("local_refused");
  metrics_->in.Increment();
  metrics_->n_in.fetch_add(1, std::memory_order_relaxed);
}

void Bridge::Drop(const char* reason) {
  metrics_->dropped.Add({{"bridge", metrics_->name}, {"reason", reason}}).Increment();
  metrics_->n_dropped.fetch_add(1, std::memory_order_relaxed);
}

// The sender thread: the buffer, in order, to the remote, at most max_inflight at once.
void Bridge::SendLoop() {
  auto last_gauges = std::chrono::steady_clock::now();
  for (;;) {
    size_t room = 0;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, 200ms, [&] { return stop_ || inflight_ < config_.max_inflight; });
      if (stop_) break;
      room = config_.max_inflight - std::min(inflight_, config_.max_inflight);
    }
    if (room > 0) {
      std::vector<disk::BufferEntry> entries = buffer_->Take(room, 200ms);
      for (disk::BufferEntry& e : entries) {
        auto m = DecodeRecord(e.data);
        if (!m.ok()) {
          buffer_->Ack(e.seq);
          Drop("corrupt");
          continue;
        }
        {
          std::lock_guard lk(mu_);
          ++inflight_;
        }
        PublishOptions o;
        o.qos = static_cast<QoS>(m->qos);
        o.retain = m->retain;
        const uint64_t seq = e.seq;
        Status s =
            remote_->Publish(std::string(m->topic), SharedBytes(std::string(m->payload)),
                             std::move(o), [this, seq](std::error_code ec) { OnSent(seq, ec); });
        if (!s.ok()) OnSent(seq, s.error());
      }
    }
    (void)buffer_->Maintain();
    if (auto now = std::chrono::steady_clock::now(); now - last_gauges >= 500ms) {
      UpdateGauges();
      last_gauges = now;
    }
  }
}

// The remote's answer for buffer record `seq` (on the remote client's strand, or the sender).
void Bridge::OnSent(uint64_t seq, std::error_code ec) {
  if (!ec) {
    buffer_->Ack(seq);
    metrics_->out.Increment();
    metrics_->n_out.fetch_add(1, std::memory_order_relaxed);
  } else if (ec.category() == mqtt_category()) {
    // The remote refused it (v5 reason code, or an invalid topic): it would be refused again.
    buffer_->Ack(seq);
    Drop("remote_refused");
  }
  // Otherwise cancelled (stopping) or the client's queue was full: not acknowledged, so the
  // record is sent again at the next start.
  {
    std::lock_guard lk(mu_);
    if (inflight_ > 0) --inflight_;
  }
  cv_.notify_all();
}

void Bridge::UpdateGauges() {
  const disk::BufferStats s = buffer_->stats();
  metrics_->bytes.Set(static_cast<double>(s.bytes));
  metrics_->records.Set(static_cast<double>(s.records));
  metrics_->age.Set(s.oldest_ms > 0 ? std::max<double>(0, (NowMs() - s.oldest_ms) / 1000.0) : 0);
}

BridgeStats Bridge::stats() const {
  BridgeStats s;
  s.connected = connected_.load();
  s.out_buffered = metrics_->n_buffered.load();
  s.out_sent = metrics_->n_out.load();
  s.in_received = metrics_->n_in.load();
  s.dropped = metrics_->n_dropped.load();
  s.buffer = buffer_->stats();
  return s;
}

Result<std::vector<std::unique_ptr<Bridge>>> CreateBridges(
    const std::vector<BridgeConfig>& configs, broker::Broker& broker,
    const std::function<boost::asio::io_context&()>& next_io, metrics::Registry& registry) {
  std::vector<std::unique_ptr<Bridge>> out;
  for (const BridgeConfig& c : configs) {
    auto b = Bridge::Create(c, broker, next_io(), registry);
    if (!b.ok()) return b.status();
    out.push_back(std::move(*b));
  }
  return out;
}

}  // namespace aiot::mqtt::bridge
