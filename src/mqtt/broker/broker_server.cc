#include "mqtt/broker/broker_server.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <future>

#include "base/errc.h"
#include "base/log.h"
#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kReadSize = 16 * 1024;

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
// broker sends. Lives on the io_context that accepted it; kept alive by its pending handlers.
class TcpLink final : public Link, public std::enable_shared_from_this<TcpLink> {
 public:
  TcpLink(tcp::socket socket, Broker& broker, uint32_t core, bool anonymous_allowed)
      : socket_(std::move(socket)),
        broker_(broker),
        core_(core),
        anonymous_allowed_(anonymous_allowed),
        decoder_(DecoderOptions{.max_packet_size = broker.config().max_packet_size,
                                .protocol_version = 0}) {}

  void Start() {
    conn_ = broker_.Accept(core_, *this, anonymous_allowed_);
    if (conn_ == nullptr) {
      boost::system::error_code ec;
      socket_.close(ec);
      return;
    }
    ReadMore();
  }

  void Send(const Packet& packet, uint8_t version) override {
    if (finished_) return;
    auto r = Encode(packet, version, &out_);
    if (!r.ok()) {
      Log()->warn("cannot encode {} for a client: {}", PacketTypeName(TypeOf(packet)),
                  r.error().message());
      return;
    }
    if (!writing_) StartWrite();
  }

  size_t Backlog() const override { return out_.size() + (writing_ ? wbuf_.size() : 0); }

  std::string ListenerAddress() const override {
    boost::system::error_code ec;
    tcp::endpoint ep = socket_.local_endpoint(ec);
    return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void Close() override {
    if (closing_) return;
    closing_ = true;
    if (!writing_) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Finish(); });
    }
  }

 private:
  void ReadMore() {
    std::span<char> buf = decoder_.Prepare(kReadSize);
    socket_.async_read_some(asio::buffer(buf.data(), buf.size()),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (ec || finished_) {
      decoder_.Commit(0);
      Finish();
      return;
    }
    decoder_.Commit(n);
    while (conn_ != nullptr && !closing_) {
      auto r = decoder_.Next();
      if (!r.ok()) {
        conn_->OnProtocolError(ToReasonCode(r.error()), decoder_.error_detail());
        break;
      }
      if (!r->has_value()) break;
      conn_->OnPacket(std::move(**r));
      if (conn_ != nullptr && decoder_.protocol_version() == 0 && conn_->version() != 0)
        decoder_.set_protocol_version(conn_->version());
    }
    if (finished_) return;
    if (closing_) {
      if (!writing_) Finish();
      return;
    }
    ReadMore();
  }

  void StartWrite() {
    writing_ = true;
    std::swap(out_, wbuf_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(wbuf_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) {
                          self->Finish();
                          return;
                        }
                        if (!self->out_.empty()) {
                          self->StartWrite();
                        } else if (self->closing_) {
                          self->Finish();
                        } else if (self->wbuf_.capacity() > 1 << 20) {
                          std::string().swap(self->wbuf_);  // don't hold a burst's buffer forever
                        }
                      });
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (conn_ != nullptr) {
      ServerConnection* c = conn_;
      conn_ = nullptr;
      c->OnClosed();
    }
  }

  tcp::socket socket_;
  Broker& broker_;
  uint32_t core_;
  bool anonymous_allowed_;
  Decoder decoder_;
  ServerConnection* conn_ = nullptr;
  std::string out_;   // encoded, waiting for the current write to finish
  std::string wbuf_;  // being written
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

Result<tcp::endpoint> ParseListener(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos) return errc::invalid_argument;
  std::string host = spec.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty() || host == "*") host = "0.0.0.0";
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return errc::invalid_argument;
  int port = 0;
  try {
    port = std::stoi(spec.substr(colon + 1));
  } catch (...) {
    return errc::invalid_argument;
  }
  if (port < 0 || port > 65535) return errc::invalid_argument;
  return tcp::endpoint(addr, static_cast<uint16_t>(port));
}

}  // namespace

struct BrokerServer::Impl {
  struct Acceptor {
    std::unique_ptr<tcp::acceptor> acceptor;
    uint32_t core = 0;
    bool anonymous_allowed = false;
  };

  std::vector<asio::io_context*> contexts;
  std::vector<std::unique_ptr<AsioExecutor>> executors;
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::vector<uint16_t> ports;
  Broker* broker = nullptr;
  std::atomic<bool> stopped{false};
  int64_t last_sys_ns = 0;

  void Accept(Acceptor* a) {
    a->acceptor->async_accept([this, a](boost::system::error_code ec, tcp::socket socket) {
      if (stopped) return;
      if (!ec) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto link =
            std::make_shared<TcpLink>(std::move(socket), *broker, a->core, a->anonymous_allowed);
        link->Start();
      } else if (ec == asio::error::operation_aborted) {
        return;
      }
      Accept(a);
    });
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
  for (const std::string& spec : cfg.listeners) {
    auto ep = ParseListener(spec);
    if (!ep.ok()) {
      Log()->error("listener `{}`: expected address:port, e.g. 127.0.0.1:1883", spec);
      return ep.error();
    }
    tcp::endpoint endpoint = *ep;
    bool anonymous = cfg.allow_anonymous == "true" ||
                     (cfg.allow_anonymous == "local_only" && endpoint.address().is_loopback());
    for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
      auto a = std::make_unique<Impl::Acceptor>();
      a->core = core;
      a->anonymous_allowed = anonymous;
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
      if (ec) {
        Log()->error("cannot listen on {}: {}", spec, ec.message());
        return errc::unavailable;
      }
      if (core == 0) {
        endpoint.port(a->acceptor->local_endpoint().port());  // port 0: the others share it
        impl_->ports.push_back(endpoint.port());
      }
      impl_->acceptors.push_back(std::move(a));
    }
    Log()->info("MQTT broker listening on {}:{} ({} cores{})", endpoint.address().to_string(),
                endpoint.port(), impl_->contexts.size(), anonymous ? ", anonymous allowed" : "");
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
  std::vector<std::future<void>> done;
  for (uint32_t core = 0; core < impl_->contexts.size(); ++core) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::post(*impl_->contexts[core], [this, core, p] {
      for (auto& a : impl_->acceptors) {
        if (a->core != core) continue;
        boost::system::error_code ignored;
        a->acceptor->close(ignored);
      }
      if (core < impl_->timers.size()) impl_->timers[core]->cancel();
      broker_->Shutdown(core);
      p->set_value();
    });
  }
  for (auto& f : done) {
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      Log()->warn("broker core did not stop within 10 s");
  }
}

std::vector<uint16_t> BrokerServer::ports() const { return impl_->ports; }

}  // namespace aiot::mqtt::broker
