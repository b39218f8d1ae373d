#include "mqtt/client/tcp_transport.h"

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <type_traits>

#include "base/log.h"
#include "mqtt/protocol/codec.h"

namespace aiot::mqtt {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

// The connection state, shared with in-flight asio operations so that the transport can be
// destroyed at any time. Used only on `executor`. `Stream` is a tcp::socket or a TLS stream.
template <class Stream>
class StreamConnection : public std::enable_shared_from_this<StreamConnection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  StreamConnection(const asio::any_io_executor& ex, const TransportOptions& options)
      : executor_(ex),
        options_(options),
        resolver_(ex),
        socket_(MakeStream(ex, options)),
        decoder_(
            {.max_packet_size = options.max_packet_size ? options.max_packet_size : kMaxPacketSize,
             .protocol_version = static_cast<uint8_t>(options.protocol_version)}) {}

  void Connect(TransportHandler* handler) {
    handler_ = handler;
    std::string scheme;
    if (!ParseUrl(options_.url, &scheme, &host_, &port_, kTls ? "8883" : "1883") ||
        (kTls ? !IsTlsUrl(options_.url) : (scheme != "tcp" && scheme != "mqtt"))) {
      Finish(std::make_error_code(std::errc::invalid_argument));
      return;
    }
    resolver_.async_resolve(host_, port_,
                            [self = this->shared_from_this()](boost::system::error_code ec,
                                                              tcp::resolver::results_type r) {
                              if (self->finished_) return;
                              if (ec) return self->Finish(ec);
                              asio::async_connect(
                                  self->socket_.lowest_layer(), r,
                                  [self](boost::system::error_code ec2, const tcp::endpoint&) {
                                    if (self->finished_) return;
                                    if (ec2) return self->Finish(ec2);
                                    boost::system::error_code ignored;
                                    self->socket_.lowest_layer().set_option(tcp::no_delay(true),
                                                                            ignored);
                                    self->Handshake();
                                  });
                            });
  }

  void Send(const Packet& packet) {
    if (finished_ || !connected_ || closing_) return;
    uint8_t version = options_.protocol_version;
    if (const auto* c = std::get_if<mqtt::Connect>(&packet)) version = c->protocol_version;
    auto n = Encode(packet, version, &out_);
    if (!n.ok()) {
      log::Get("mqtt.client")
          ->error("cannot encode {}: {}", PacketTypeName(TypeOf(packet)), n.status().message());
      return Finish(n.error());
    }
    if (!writing_active_) Write();
  }

  void Close() {
    if (finished_ || closing_) return;
    closing_ = true;
    if (!connected_ || !writing_active_) Finish({});
    // else: Finish after the pending write completes.
  }

  size_t QueuedBytes() const { return out_.size() + writing_.size(); }

  void Abandon() {
    handler_ = nullptr;
    finished_ = true;
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.lowest_layer().close(ignored);
  }

 private:
  static Stream MakeStream(const asio::any_io_executor& ex, const TransportOptions& options) {
    if constexpr (kTls) {
      return Stream(ex, *options.tls_context);
    } else {
      (void)options;
      return Stream(ex);
    }
  }

  // EOF, or (TLS) the server closing without close_notify after its last packet.
  static bool IsOrderlyEnd(const boost::system::error_code& ec) {
    return ec == asio::error::eof || (kTls && ec == asio::ssl::error::stream_truncated);
  }

  // TLS: SNI, the server name check and the handshake; plain TCP: connected at once.
  void Handshake() {
    if constexpr (kTls) {
      if (Status s = tls::PrepareClient(socket_.native_handle(), options_.tls, host_); !s.ok()) {
        log::Get("mqtt.client")->error("{}: {}", options_.url, s.message());
        return Finish(std::make_error_code(std::errc::invalid_argument));
      }
      socket_.async_handshake(asio::ssl::stream_base::client, [self = this->shared_from_this()](
                                                                  boost::system::error_code ec) {
        if (self->finished_) return;
        if (ec) {
          log::Get("mqtt.client")
              ->warn("TLS handshake with {} failed: {}", self->options_.url,
                     tls::HandshakeError(self->socket_.native_handle(), ec));
          return self->Finish(ec);
        }
        self->Connected();
      });
    } else {
      Connected();
    }
  }

  void Connected() {
    connected_ = true;
    if (handler_) handler_->OnTransportConnected();
    Read();
  }

  void Read() {
    auto space = decoder_.Prepare(64 * 1024);
    socket_.async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = this->shared_from_this()](boost::system::error_code ec, size_t n) {
          if (self->finished_) return;
          if (ec) return self->Finish(IsOrderlyEnd(ec) ? std::error_code() : ec);
          self->decoder_.Commit(n);
          if (self->handler_) self->handler_->OnTransportBatchBegin();
          for (;;) {
            auto r = self->decoder_.Next();
            if (!r.ok()) {
              log::Get("mqtt.client")
                  ->warn("malformed packet from server: {}", r.status().ToString());
              if (self->handler_) self->handler_->OnTransportBatchEnd();
              return self->Finish(r.error());
            }
            if (!r->has_value()) break;
            if (!self->handler_) return;
            self->handler_->OnTransportPacket(std::move(**r));
            if (self->finished_) return;
          }
          if (self->handler_) self->handler_->OnTransportBatchEnd();
          self->Read();
        });
  }

  void Write() {
    writing_.swap(out_);
    writing_active_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
                        self->writing_active_ = false;
                        if (self->finished_) return;
                        if (ec) return self->Finish(ec);
                        self->writing_.clear();
                        if (!self->out_.empty()) return self->Write();
                        if (self->closing_) return self->Finish({});
                        if (self->handler_) self->handler_->OnTransportDrained();
                      });
  }

  // Ends the connection and delivers OnTransportClosed once, from a fresh handler (never from
  // inside Send/Close, so the client may destroy the transport in the callback).
  void Finish(std::error_code ec) {
    if (finished_) return;
    finished_ = true;
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    socket_.lowest_layer().close(ignored);
    asio::post(executor_, [self = this->shared_from_this(), ec] {
      if (auto* h = std::exchange(self->handler_, nullptr)) h->OnTransportClosed(ec);
    });
  }

  asio::any_io_executor executor_;
  TransportOptions options_;
  tcp::resolver resolver_;
  std::string host_;
  std::string port_;
  Stream socket_;
  Decoder decoder_;
  TransportHandler* handler_ = nullptr;
  std::string out_;      // encoded, waiting for the current write to finish
  std::string writing_;  // being written
  bool writing_active_ = false;
  bool connected_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

template <class Stream>
class StreamTransport final : public Transport {
 public:
  StreamTransport(const asio::any_io_executor& ex, const TransportOptions& options)
      : conn_(std::make_shared<StreamConnection<Stream>>(ex, options)) {}
  ~StreamTransport() override { conn_->Abandon(); }

  void Connect(TransportHandler* handler) override { conn_->Connect(handler); }
  void Send(Packet packet) override { conn_->Send(packet); }
  void Close() override { conn_->Close(); }
  size_t QueuedBytes() const override { return conn_->QueuedBytes(); }

 private:
  std::shared_ptr<StreamConnection<Stream>> conn_;
};

// An mqtts:// url without a TLS context (the client could not make one): fails at Connect.
class FailedTransport final : public Transport {
 public:
  explicit FailedTransport(const asio::any_io_executor& ex) : executor_(ex) {}
  void Connect(TransportHandler* handler) override {
    asio::post(executor_, [handler, alive = std::weak_ptr<int>(alive_)] {
      if (alive.lock())
        handler->OnTransportClosed(std::make_error_code(std::errc::invalid_argument));
    });
  }
  void Send(Packet) override {}
  void Close() override {}

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

std::unique_ptr<Transport> MakeTcpTransport(const boost::asio::any_io_executor& executor,
                                            const TransportOptions& options) {
  if (!IsTlsUrl(options.url))
    return std::make_unique<StreamTransport<tcp::socket>>(executor, options);
  if (!options.tls_context) return std::make_unique<FailedTransport>(executor);
  return std::make_unique<StreamTransport<TlsStream>>(executor, options);
}

bool IsTlsUrl(const std::string& url) {
  return url.starts_with("mqtts://") || url.starts_with("ssl://");
}

bool ParseUrl(const std::string& url, std::string* scheme, std::string* host, std::string* port,
              const std::string& default_port) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return false;
  *scheme = url.substr(0, sep);
  std::string rest = url.substr(sep + 3);
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  *port = default_port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return false;
    *host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') *port = rest.substr(close + 2);
    return true;
  }
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    *host = rest.substr(0, colon);
    *port = rest.substr(colon + 1);
  } else {
    *host = rest;
  }
  return true;
}

}  // namespace aiot::mqtt
