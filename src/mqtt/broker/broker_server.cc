#include "mqtt/broker/broker_server.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "base/errc.h"
#include "base/log.h"
#include "mqtt/broker/stream_link.h"
#include "mqtt/broker/tls.h"
#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Reads go into one buffer per core (thread), never into a per-connection one: an idle
// connection holds no read buffer, only the Decoder's partial packet if any.
constexpr size_t kReadSize = 16 * 1024;

// After the broker closes a connection: how long, and how many bytes, the link keeps reading (and
// discarding) what the peer still sends, so that the last packet is not lost to a reset.
constexpr std::chrono::milliseconds kDrainTime{2000};
constexpr size_t kDrainBytes = 16 << 20;

std::span<char> CoreReadBuffer() {
  thread_local std::unique_ptr<char[]> buf(new char[kReadSize]);
  return {buf.get(), kReadSize};
}

// Where a packet sent to an idle link is encoded before it is written (TcpLink::Send).
std::string& CoreWriteScratch() {
  thread_local std::string scratch;
  return scratch;
}

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("mqtt.broker");
  return logger;
}

class AsioExecutor final : public Executor {
 public:
  explicit AsioExecutor(asio::io_context& ctx) : ctx_(ctx) {}
  void Post(std::function<void()> fn) override { asio::post(ctx_, std::move(fn)); }

 private:
  asio::io_context& ctx_;
};

// One TCP connection: reads and decodes packets into its ServerConnection, encodes what the
// broker sends. Lives on the io_context that accepted it and is used only on its thread; kept
// alive by its pending handlers (an intrusive count: no shared_ptr control block or weak
// pointer per connection, and half the size in each handler).
class TcpLink final : public Link {
 public:
  using Ref = boost::intrusive_ptr<TcpLink>;

  explicit TcpLink(Socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  void Start(Broker& broker, uint32_t core, bool anonymous_allowed) {
    conn_ = broker.Accept(core, *this, anonymous_allowed);
    if (conn_ == nullptr) {
      boost::system::error_code ec;
      socket_.close(ec);
      return;
    }
    WaitReadable();
  }

  // The first packet after the link was idle is encoded into the core's scratch buffer and
  // written at once (as asio's speculative write would); packets sent before that write's
  // completion handler runs are collected and go out together in the next write. A connection
  // whose writes the socket takes at once keeps no write buffer.
  void Send(const Packet& packet, uint8_t version) override {
    SendEncoded(TypeOf(packet), [&](std::string* to) { return Encode(packet, version, to); });
  }
  void SendAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version) override {
    SendEncoded(type, [&](std::string* to) { return EncodeAck(type, packet_id, rc, version, to); });
  }

  template <class EncodeFn>
  void SendEncoded(PacketType type, EncodeFn encode) {
    if (finished_) return;
    std::string* to = writing_ ? &Buffers().out : &CoreWriteScratch();
    if (!writing_) to->clear();
    auto r = encode(to);
    if (!r.ok()) {
      Log()->warn("cannot encode {} for a client: {}", PacketTypeName(type), r.status().message());
      return;
    }
    if (writing_) return;
    WriteNow(*to);
    if (to->capacity() > 1 << 20) std::string().swap(*to);  // don't hold a burst's buffer forever
  }

  size_t Backlog() const override {
    if (!buffers_) return 0;
    return buffers_->out.size() + (writing_ ? buffers_->writing.size() : 0);
  }

  // Called by the core's 1 s tick: a connection with nothing to write holds no write buffers.
  void Trim() override {
    if (writing_ || (buffers_ && !buffers_->out.empty())) return;
    buffers_.reset();
  }

  // Called while handling a packet (of this or another connection), so resuming is posted: the
  // packets left in the decoder are handled from a fresh handler, never re-entrantly.
  void PauseReading(bool paused) override {
    read_paused_ = paused;
    if (paused) {
      // No read pending now, maybe no write either: this reference keeps the link alive.
      if (!finished_ && !holds_self_) {
        holds_self_ = true;
        intrusive_ptr_add_ref(this);
      }
      return;
    }
    if (resume_posted_ || waiting_ || finished_ || closing_) return;
    resume_posted_ = true;
    asio::post(socket_.get_executor(), [self = Ref(this)] {
      self->resume_posted_ = false;
      self->DropSelf();
      if (!self->read_paused_ && !self->waiting_ && !self->finished_) self->OnReadable({});
    });
  }

  std::string ListenerAddress() const override {
    boost::system::error_code ec;
    tcp::endpoint ep = socket_.local_endpoint(ec);
    return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void Close() override {
    if (closing_) return;
    closing_ = true;
    if (!writing_) {
      asio::post(socket_.get_executor(), [self = Ref(this)] { self->Finish(/*drain=*/true); });
    }
  }

  // REQUIRES: on the link's io_context (every reference is taken and dropped there).
  friend void intrusive_ptr_add_ref(TcpLink* link) { ++link->refs_; }
  friend void intrusive_ptr_release(TcpLink* link) {
    if (--link->refs_ == 0) delete link;
  }

 private:
  // Allocated when a write could not be finished at once, or packets wait for a write in
  // progress; freed by Trim.
  // Also holds the drain timer once the link has closed gracefully (see Drain).
  struct WriteBuffers {
    std::string out;      // encoded, waiting for the current write to finish
    std::string writing;  // being written
    std::unique_ptr<asio::steady_timer> drain_timer;
    size_t drained = 0;  // bytes read and discarded while draining
  };

  // The reference PauseReading took, if any; released when the returned pointer goes.
  Ref DropSelf() {
    if (!holds_self_) return nullptr;
    holds_self_ = false;
    return Ref(this, /*add_ref=*/false);
  }

  // Waits until the socket is readable (no buffer held meanwhile), then reads what is there into
  // the core's buffer and feeds the decoder.
  void WaitReadable() {
    waiting_ = true;
    socket_.async_wait(tcp::socket::wait_read, [self = Ref(this)](boost::system::error_code ec) {
      self->waiting_ = false;
      self->OnReadable(ec);
    });
  }

  void OnReadable(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      Finish();
      return;
    }
    Decode();  // packets left in the decoder by a pause
    std::span<char> buf = CoreReadBuffer();
    // One read per handler, so that a busy publisher does not starve the other connections of
    // this core (its subscribers' writes among them).
    bool more = false;
    if (conn_ != nullptr && !closing_ && !read_paused_) {
      size_t n = socket_.read_some(asio::buffer(buf.data(), buf.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        n = 0;
      }
      if (ec) n = 0;
      if (n > 0) {
        if (!decoder_) {
          decoder_ = std::make_unique<Decoder>(DecoderOptions{
              .max_packet_size = conn_->config().max_packet_size, .protocol_version = version_});
        }
        decoder_->Feed(std::string_view(buf.data(), n));
        Decode();
      }
      more = n == buf.size();  // probably more to read: read again without asking epoll
    }
    if (finished_) return;
    if (ec) {
      Finish();
      return;
    }
    if (decoder_ && decoder_->buffered() == 0) {
      // Nothing partial: drop the decoder and its buffer (an idle connection keeps neither).
      version_ = decoder_->protocol_version();
      decoder_.reset();
    }
    if (closing_) {
      if (!writing_) Finish(/*drain=*/true);
      return;
    }
    if (read_paused_) return;
    if (more) {
      waiting_ = true;
      asio::post(socket_.get_executor(), [self = Ref(this)] {
        self->waiting_ = false;
        self->OnReadable({});
      });
    } else {
      WaitReadable();
    }
  }

  void Decode() {
    if (!decoder_) return;
    DecodePackets(*decoder_, [this] { return closing_ || read_paused_ ? nullptr : conn_; });
  }

  WriteBuffers& Buffers() {
    if (!buffers_) buffers_ = std::make_unique<WriteBuffers>();
    return *buffers_;
  }

  // REQUIRES: !writing_. Writes what the socket takes now; the rest is written asynchronously
  // from buffers_. Completion (OnWriteDone) always runs from a handler of its own, never inside
  // Send: it may close the connection.
  void WriteNow(std::string_view data) {
    writing_ = true;
    boost::system::error_code ec;
    size_t n = socket_.write_some(asio::buffer(data.data(), data.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      n = 0;
    }
    if (ec || n == data.size()) {
      if (buffers_) buffers_->writing.clear();
      asio::post(socket_.get_executor(), [self = Ref(this), ec] { self->OnWriteDone(ec); });
      return;
    }
    WriteBuffers& b = Buffers();
    b.writing.assign(data.substr(n));
    WriteAsync();
  }

  // REQUIRES: buffers_->writing holds what is to be written.
  void WriteAsync() {
    asio::async_write(
        socket_, asio::buffer(buffers_->writing),
        [self = Ref(this)](boost::system::error_code ec, size_t) { self->OnWriteDone(ec); });
  }

  void OnWriteDone(boost::system::error_code ec) {
    writing_ = false;
    if (ec) {
      Finish();
      return;
    }
    if (buffers_ && !buffers_->out.empty()) {
      writing_ = true;
      WriteBuffers& b = *buffers_;
      std::swap(b.out, b.writing);
      b.out.clear();
      WriteAsync();
    } else if (closing_) {
      Finish(/*drain=*/true);
      return;
    } else if (buffers_ && buffers_->writing.capacity() > 1 << 20) {
      std::string().swap(buffers_->writing);  // don't hold a burst's buffer forever
    }
    if (conn_ != nullptr && !closing_) conn_->OnWritten(Backlog());
  }

  // Ends the connection for the broker (ServerConnection::OnClosed). `drain`: the broker closed
  // it (Close, after its last packets were written) and the peer may still be writing; see Drain.
  void Finish(bool drain = false) {
    if (finished_) return;
    finished_ = true;
    Ref keep = DropSelf();  // released when Finish returns
    if (drain) {
      Drain();
    } else {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
    if (conn_ != nullptr) {
      ServerConnection* c = conn_;
      conn_ = nullptr;
      c->OnClosed();
    }
  }

  // A server-sent DISCONNECT (or CONNACK refusal) must reach a client that is still writing:
  // closing a socket with unread input makes the kernel send RST, and the client gets a broken
  // pipe or a reset instead of the reason code. So send FIN after the last packet (half-close),
  // then read and discard until the peer closes too, kDrainTime passes or kDrainBytes arrived.
  void Drain() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      socket_.close(ec);
      return;
    }
    WriteBuffers& b = Buffers();
    b.drain_timer = std::make_unique<asio::steady_timer>(socket_.get_executor(), kDrainTime);
    b.drain_timer->async_wait([self = Ref(this)](boost::system::error_code e) {
      boost::system::error_code ignored;
      if (!e) self->socket_.close(ignored);  // cancels the pending wait
    });
    DrainSome();
  }

  void DrainSome() {
    socket_.async_wait(tcp::socket::wait_read, [self = Ref(this)](boost::system::error_code ec) {
      if (ec) return;  // closed by the timer
      std::span<char> buf = CoreReadBuffer();
      size_t n = self->socket_.read_some(asio::buffer(buf.data(), buf.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
      WriteBuffers& b = self->Buffers();
      b.drained += n;
      if (ec || b.drained > kDrainBytes) {  // EOF: the peer has closed too
        boost::system::error_code ignored;
        self->socket_.close(ignored);
        b.drain_timer->cancel();
        return;
      }
      self->DrainSome();
    });
  }

  Socket socket_;
  ServerConnection* conn_ = nullptr;
  std::unique_ptr<Decoder> decoder_;  // only while bytes are buffered
  std::unique_ptr<WriteBuffers> buffers_;
  uint32_t refs_ = 0;
  uint8_t version_ = 0;  // the connection's protocol version, once known
  // Bit fields: one byte instead of seven keeps the link in a smaller malloc size class.
  bool writing_ : 1 = false;  // a write, or the completion of one done at once, is pending
  bool closing_ : 1 = false;
  bool finished_ : 1 = false;
  bool waiting_ : 1 = false;      // an async_wait is pending
  bool read_paused_ : 1 = false;  // backpressure: ServerConnection::AdjustPause
  bool resume_posted_ : 1 = false;
  bool holds_self_ : 1 = false;  // a reference of its own while reading is paused
};

Result<tcp::endpoint> ResolveListener(const ListenerSpec& l, const std::string& spec) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(l.host, ec);
  if (ec) {
    return Status(errc::invalid_argument,
                  "listener `" + spec + "`: `" + l.host + "` is not an IP address");
  }
  return tcp::endpoint(addr, l.port);
}

const char* KindName(ListenerSpec::Kind kind) {
  switch (kind) {
    case ListenerSpec::Kind::kTls:
      return "MQTT over TLS";
    case ListenerSpec::Kind::kWebSocket:
      return "MQTT over WebSocket";
    case ListenerSpec::Kind::kWebSocketTls:
      return "MQTT over WebSocket over TLS";
    case ListenerSpec::Kind::kTcp:
      break;
  }
  return "MQTT";
}

}  // namespace

struct BrokerServer::Impl {
  struct Acceptor {
    std::unique_ptr<tcp::acceptor> acceptor;
    uint32_t core = 0;
    bool anonymous_allowed = false;
    ListenerSpec::Kind kind = ListenerSpec::Kind::kTcp;
  };

  std::vector<asio::io_context*> contexts;
  std::vector<std::unique_ptr<AsioExecutor>> executors;
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::vector<uint16_t> ports;
  Broker* broker = nullptr;
  TlsContextSlot tls;  // of the TLS listeners; replaced by ReloadTls
  bool has_tls_listener = false;
  std::atomic<bool> stopped{false};
  int64_t last_sys_ns = 0;

  void Accept(Acceptor* a) {
    a->acceptor->async_accept(*contexts[a->core],
                              [this, a](boost::system::error_code ec, Socket socket) {
                                if (stopped) return;
                                if (!ec) {
                                  boost::system::error_code ignored;
                                  socket.set_option(tcp::no_delay(true), ignored);
                                  StartLink(*a, std::move(socket));
                                } else if (ec == asio::error::operation_aborted) {
                                  return;
                                }
                                Accept(a);
                              });
  }

  void StartLink(const Acceptor& a, Socket socket) {
    if (a.kind == ListenerSpec::Kind::kTcp) {
      TcpLink::Ref link(new TcpLink(std::move(socket)));
      link->Start(*broker, a.core, a.anonymous_allowed);
      return;
    }
    StartStreamLink(a.kind, std::move(socket), tls.Get(),
                    broker->config().tls.use_identity_as_username, *broker, a.core,
                    a.anonymous_allowed);
  }

  void Tick(uint32_t core) {
    timers[core]->expires_after(std::chrono::seconds(1));
    timers[core]->async_wait([this, core](boost::system::error_code ec) {
      if (ec || stopped) return;
      broker->Tick(core);
      uint32_t interval = broker->config().sys_interval;
      if (core == 0 && interval > 0) {
        int64_t now = broker->clock().MonotonicNanos();
        if (now - last_sys_ns >= static_cast<int64_t>(interval) * 1'000'000'000) {
          last_sys_ns = now;
          broker->PublishSys();
        }
      }
      Tick(core);
    });
  }
};

BrokerServer::BrokerServer(const BrokerConfig& config, metrics::Registry& registry,
                           std::vector<asio::io_context*> contexts)
    : broker_(std::make_unique<Broker>(config, registry)), impl_(std::make_unique<Impl>()) {
  impl_->contexts = std::move(contexts);
  impl_->broker = broker_.get();
  std::vector<Executor*> cores;
  for (asio::io_context* ctx : impl_->contexts) {
    impl_->executors.push_back(std::make_unique<AsioExecutor>(*ctx));
    cores.push_back(impl_->executors.back().get());
  }
  broker_->SetCores(cores);
}

BrokerServer::~BrokerServer() {
  impl_->stopped = true;
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ignored;
    a->acceptor->close(ignored);
  }
}

Status BrokerServer::Start() {
  const BrokerConfig& cfg = broker_->config();
  if (Status s = broker_->LoadAuth(); !s.ok()) return s;  // password_file, acl_file
  // Persistence before the listeners: sessions and retained messages are back before any client.
  if (Status s = broker_->OpenPersistence(); !s.ok()) return s;
  if (const Persister* p = broker_->persister()) {
    const LoadReport& r = p->report();
    Log()->info(
        "broker persistence ({}): {} sessions, {} queued/in-flight messages, {} retained "
        "restored from {} records in {} ms",
        config::NameOf(kPersistenceModeNames, cfg.persistence.mode), p->loaded().sessions().size(),
        p->loaded().deliveries(), p->loaded().retained().size(), r.records, r.load_ms);
    for (const std::string& problem : r.problems) Log()->warn("broker persistence: {}", problem);
  }
  for (const std::string& spec : cfg.listeners) {
    auto l = ParseListenerSpec(spec);
    if (!l.ok()) return l.status();
    if (l->tls() && !impl_->has_tls_listener) {
      impl_->has_tls_listener = true;
      if (Status s = ReloadTls(); !s.ok()) return s;
    }
    auto ep = ResolveListener(*l, spec);
    if (!ep.ok()) return ep.status();
    tcp::endpoint endpoint = *ep;
    bool anonymous = cfg.allow_anonymous == "true" ||
                     (cfg.allow_anonymous == "local_only" && endpoint.address().is_loopback());
    for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
      auto a = std::make_unique<Impl::Acceptor>();
      a->core = core;
      a->anonymous_allowed = anonymous;
      a->kind = l->kind;
      a->acceptor = std::make_unique<tcp::acceptor>(*impl_->contexts[core]);
      boost::system::error_code ec;
      a->acceptor->open(endpoint.protocol(), ec);
      if (!ec) a->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) {
        int one = 1;
        if (::setsockopt(a->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                         sizeof one) != 0)
          ec = boost::system::error_code(errno, boost::system::system_category());
      }
      if (!ec) a->acceptor->bind(endpoint, ec);
      if (!ec) a->acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return Status(errc::unavailable, "cannot listen on " + spec + ": " + ec.message());
      if (core == 0) {
        endpoint.port(a->acceptor->local_endpoint().port());  // port 0: the others share it
        impl_->ports.push_back(endpoint.port());
      }
      impl_->acceptors.push_back(std::move(a));
    }
    Log()->info("{} broker listening on {}:{} ({} cores{})", KindName(l->kind),
                endpoint.address().to_string(), endpoint.port(), impl_->contexts.size(),
                anonymous ? ", anonymous allowed" : "");
  }
  for (auto& a : impl_->acceptors) {
    Impl::Acceptor* raw = a.get();
    asio::post(*impl_->contexts[raw->core], [this, raw] { impl_->Accept(raw); });
  }
  for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
    impl_->timers.push_back(std::make_unique<asio::steady_timer>(*impl_->contexts[core]));
  }
  for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
    asio::post(*impl_->contexts[core], [this, core] { impl_->Tick(core); });
  }
  if (cfg.sys_interval > 0) {
    asio::post(*impl_->contexts[0], [this] {
      impl_->last_sys_ns = broker_->clock().MonotonicNanos();
      broker_->PublishSys();
    });
  }
  return Status::Ok();
}

void BrokerServer::Stop() {
  if (impl_->stopped.exchange(true)) return;
  // Runs `fn(core)` on every core and waits for all of them.
  auto on_every_core = [this](const std::function<void(uint32_t)>& fn) {
    std::vector<std::future<void>> done;
    for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      asio::post(*impl_->contexts[core], [fn, core, p] {
        fn(core);
        p->set_value();
      });
    }
    for (auto& f : done) {
      if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
        Log()->warn("broker core did not stop within 10 s");
    }
  };
  on_every_core([this](uint32_t core) {
    for (auto& a : impl_->acceptors) {
      if (a->core != core) continue;
      boost::system::error_code ignored;
      a->acceptor->close(ignored);
    }
    if (core < impl_->timers.size()) impl_->timers[core]->cancel();
    broker_->Shutdown(core);
  });
  // Shutdown only starts closing: each link finishes (ServerConnection::OnClosed, which touches
  // the broker) in a handler of its own, after a write in progress. Returning before they ran let
  // the caller destroy the broker under them while the cores still run (a use after free seen
  // under load). Wait until every connection is gone, then let what is already queued (aborted
  // accepts and timers, cross-core deliveries) run, so the server may be destroyed on return.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (broker_->stats().sockets.load() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      Log()->warn("{} broker connections still open 10 s after shutdown",
                  broker_->stats().sockets.load());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int round = 0; round < 2; ++round) on_every_core([](uint32_t) {});
}

std::vector<uint16_t> BrokerServer::ports() const { return impl_->ports; }

Status BrokerServer::ReloadTls() {
  if (!impl_->has_tls_listener) return Status::Ok();
  auto ctx = MakeServerTlsContext(broker_->config().tls);
  if (!ctx.ok()) return ctx.status();
  impl_->tls.Set(std::move(*ctx));
  return Status::Ok();
}

}  // namespace aiot::mqtt::broker
