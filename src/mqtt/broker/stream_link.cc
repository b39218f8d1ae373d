#include "mqtt/broker/stream_link.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>

#include "base/log.h"
#include "mqtt/broker/tls.h"
#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::broker {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using error_code = boost::system::error_code;

namespace {

using TlsStream = ssl::stream<Socket>;
using WsStream = websocket::stream<Socket>;
using WssStream = websocket::stream<TlsStream>;

template <class S>
constexpr bool kIsWs = std::is_same_v<S, WsStream> || std::is_same_v<S, WssStream>;
template <class S>
constexpr bool kHasTls = std::is_same_v<S, TlsStream> || std::is_same_v<S, WssStream>;

// Per-connection read buffer (TLS records are up to 16 KiB).
constexpr size_t kStreamReadSize = 16 * 1024;
// How long a closing connection may take for its close handshake and drain (see TcpLink::Drain).
constexpr std::chrono::milliseconds kCloseTime{2000};

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("mqtt.broker");
  return logger;
}

// The subprotocol to answer an MQTT-over-WebSocket upgrade with: "mqtt" [MQTT-6.0.0-3], or the
// older "mqttv3.1" some clients offer; "" when the client offered neither.
std::string ChooseSubprotocol(std::string_view offered) {
  std::string best;
  while (!offered.empty()) {
    size_t comma = offered.find(',');
    std::string_view p = offered.substr(0, comma);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (p == "mqtt") return "mqtt";
    if (p == "mqttv3.1" && best.empty()) best = "mqttv3.1";
    offered = comma == std::string_view::npos ? std::string_view() : offered.substr(comma + 1);
  }
  return best;
}

// One connection over TLS and/or WebSocket: a Link that reads with async_read_some into its own
// buffer (unlike TcpLink, whose readiness wait needs none: a TLS engine or WebSocket framing
// buffers below us anyway), collects what the broker sends while a write is in progress, and
// closes with the protocol's close handshake (TLS close_notify, WebSocket close frame), bounded
// by kCloseTime. Kept alive by its pending handlers (intrusive count), used on its core only.
template <class S>
class StreamLink final : public Link {
 public:
  using Ref = boost::intrusive_ptr<StreamLink>;

  StreamLink(Socket socket, std::shared_ptr<ssl::context> tls, bool identity_as_username)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        identity_as_username_(identity_as_username) {}

  void Start(Broker& broker, uint32_t core, bool anonymous_allowed) {
    conn_ = broker.Accept(core, *this, anonymous_allowed);
    if (conn_ == nullptr) {
      CloseSocket();
      return;
    }
    Ref self(this);
    if constexpr (kHasTls<S>) {
      TlsLayer().async_handshake(ssl::stream_base::server, [self](error_code ec) {
        if (ec) return self->HandshakeFailed("TLS handshake", ec);
        if (self->identity_as_username_) {
          self->identity_ = PeerIdentity(self->TlsLayer().native_handle());
        }
        self->AfterTls();
      });
    } else {
      AfterTls();
    }
  }

  void Send(const Packet& packet, uint8_t version) override {
    if (finished_) return;
    Sent(TypeOf(packet), Encode(packet, version, &out_));
  }
  void SendAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version) override {
    if (finished_) return;
    Sent(type, EncodeAck(type, packet_id, rc, version, &out_));
  }
  void Sent(PacketType type, const Result<size_t>& r) {
    if (!r.ok()) {
      Log()->warn("cannot encode {} for a client: {}", PacketTypeName(type), r.status().message());
      return;
    }
    if (!writing_ && ready_) WriteOut();
  }

  size_t Backlog() const override { return out_.size() + (writing_ ? writing_buf_.size() : 0); }

  void Trim() override {
    if (!writing_ && writing_buf_.capacity() > kStreamReadSize) std::string().swap(writing_buf_);
    if (out_.empty() && out_.capacity() > kStreamReadSize) std::string().swap(out_);
  }

  void PauseReading(bool paused) override {
    read_paused_ = paused;
    if (paused) {
      if (!finished_ && !holds_self_) {  // no read pending: this reference keeps the link
        holds_self_ = true;
        intrusive_ptr_add_ref(this);
      }
      return;
    }
    asio::post(Executor(), [self = Ref(this)] {
      if (self->holds_self_) {
        self->holds_self_ = false;
        intrusive_ptr_release(self.get());
      }
      if (self->read_paused_ || self->finished_) return;
      self->Decode();  // packets left in the decoder by the pause
      self->AfterInput();
    });
  }

  std::string ListenerAddress() const override {
    error_code ec;
    auto ep = beast::get_lowest_layer(stream_).local_endpoint(ec);
    return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  std::optional<std::string> CertificateUsername() const override { return identity_; }

  void Close() override {
    if (closing_) return;
    closing_ = true;
    if (!ready_) {
      CloseSocket();  // the pending handshake fails and finishes the link
      return;
    }
    if (!writing_) asio::post(Executor(), [self = Ref(this)] { self->Finish(true); });
  }

  friend void intrusive_ptr_add_ref(StreamLink* link) { ++link->refs_; }
  friend void intrusive_ptr_release(StreamLink* link) {
    if (--link->refs_ == 0) delete link;
  }

 private:
  static S MakeStream(Socket socket, ssl::context* tls) {
    if constexpr (kHasTls<S>) {
      return S(std::move(socket), *tls);
    } else {
      return S(std::move(socket));
    }
  }

  auto Executor() { return beast::get_lowest_layer(stream_).get_executor(); }

  TlsStream& TlsLayer() {
    if constexpr (std::is_same_v<S, WssStream>) {
      return stream_.next_layer();
    } else if constexpr (std::is_same_v<S, TlsStream>) {
      return stream_;
    }
  }

  void CloseSocket() {
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

  void HandshakeFailed(const char* what, error_code ec) {
    error_code gone;  // the peer may have closed already
    auto ep = beast::get_lowest_layer(stream_).remote_endpoint(gone);
    Log()->info("{} from {} failed: {}", what, gone ? "a client" : ep.address().to_string(),
                ec.message());
    Finish(false);
  }

  void AfterTls() {
    if constexpr (kIsWs<S>) {
      Upgrade();
    } else {
      Ready();
    }
  }

  // The HTTP upgrade to WebSocket, with the "mqtt" subprotocol.
  void Upgrade() {
    struct Handshake {
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
    };
    auto hs = std::make_shared<Handshake>();
    http::async_read(stream_.next_layer(), hs->buffer, hs->request,
                     [self = Ref(this), hs](error_code ec, size_t) {
                       if (ec) return self->HandshakeFailed("WebSocket upgrade", ec);
                       if (!websocket::is_upgrade(hs->request)) {
                         return self->HandshakeFailed("WebSocket upgrade",
                                                      websocket::error::no_connection_upgrade);
                       }
                       self->Accept(hs->request);
                     });
  }

  void Accept(const http::request<http::string_body>& req) {
    std::string proto = ChooseSubprotocol(req[http::field::sec_websocket_protocol]);
    stream_.set_option(websocket::stream_base::decorator([proto](websocket::response_type& res) {
      res.set(http::field::server, "aiot");
      if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
    }));
    stream_.binary(true);
    stream_.auto_fragment(false);
    stream_.read_message_max(0);  // the decoder enforces the Maximum Packet Size
    stream_.async_accept(req, [self = Ref(this)](error_code ec) {
      if (ec) return self->HandshakeFailed("WebSocket upgrade", ec);
      self->Ready();
    });
  }

  void Ready() {
    ready_ = true;
    if (finished_) return;
    if (closing_) {
      Finish(false);
      return;
    }
    if (!out_.empty()) WriteOut();
    Read();
  }

  void Read() {
    if (reading_ || read_paused_ || closing_ || finished_) return;
    reading_ = true;
    if (!rbuf_) rbuf_ = std::make_unique<char[]>(kStreamReadSize);
    stream_.async_read_some(asio::buffer(rbuf_.get(), kStreamReadSize),
                            [self = Ref(this)](error_code ec, size_t n) {
                              self->reading_ = false;
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(error_code ec, size_t n) {
    if (finished_ || closing_) return;  // a closing link no longer reads packets
    if (ec) {
      Finish(false);
      return;
    }
    if (!decoder_) {
      decoder_ = std::make_unique<Decoder>(DecoderOptions{
          .max_packet_size = conn_->config().max_packet_size, .protocol_version = version_});
    }
    decoder_->Feed(std::string_view(rbuf_.get(), n));
    Decode();
    AfterInput();
  }

  void AfterInput() {
    if (finished_) return;
    if (decoder_ && decoder_->buffered() == 0) {
      version_ = decoder_->protocol_version();
      decoder_.reset();
    }
    if (closing_) {
      if (!writing_) Finish(true);
      return;
    }
    Read();
  }

  void Decode() {
    if (!decoder_) return;
    DecodePackets(*decoder_, [this] { return closing_ || read_paused_ ? nullptr : conn_; });
  }

  // REQUIRES: !writing_, ready_.
  void WriteOut() {
    writing_ = true;
    std::swap(out_, writing_buf_);
    out_.clear();
    auto done = [self = Ref(this)](error_code ec, size_t) { self->OnWriteDone(ec); };
    if constexpr (kIsWs<S>) {
      stream_.async_write(asio::buffer(writing_buf_), std::move(done));
    } else {
      asio::async_write(stream_, asio::buffer(writing_buf_), std::move(done));
    }
  }

  void OnWriteDone(error_code ec) {
    writing_ = false;
    if (finished_) return;
    if (ec) {
      Finish(false);
      return;
    }
    if (!out_.empty()) {
      WriteOut();
    } else if (closing_) {
      Finish(true);
      return;
    }
    if (conn_ != nullptr && !closing_) conn_->OnWritten(Backlog());
  }

  // Ends the connection for the broker. `graceful`: the broker closed it after its last packets;
  // the close handshake then runs on its own, bounded by kCloseTime.
  void Finish(bool graceful) {
    if (finished_) return;
    finished_ = true;
    Ref keep(this);
    if (holds_self_) {
      holds_self_ = false;
      intrusive_ptr_release(this);
    }
    if (graceful && ready_) {
      CloseGracefully();
    } else {
      CloseSocket();
    }
    if (conn_ != nullptr) {
      ServerConnection* c = conn_;
      conn_ = nullptr;
      c->OnClosed();
    }
  }

  void CloseGracefully() {
    close_timer_ = std::make_unique<asio::steady_timer>(Executor(), kCloseTime);
    close_timer_->async_wait([self = Ref(this)](error_code ec) {
      if (!ec) self->CloseSocket();
    });
    if constexpr (kIsWs<S>) {
      // A close frame, then (server role) Beast's teardown: TLS close_notify for wss, FIN, and
      // reading until the client closes too. A pending read receives the client's close frame.
      stream_.async_close(websocket::close_code::normal, [self = Ref(this)](error_code) {
        self->CloseSocket();
        self->close_timer_->cancel();
      });
    } else {
      // close_notify after the last packet, then drain (the SSL engine reads one at a time: the
      // pending read is cancelled first).
      beast::get_lowest_layer(stream_).cancel();
      asio::post(Executor(), [self = Ref(this)] {
        self->stream_.async_shutdown([self](error_code) { self->DrainRaw(); });
      });
    }
  }

  // After close_notify: half-close and read (discarding) until the client closes or the timer.
  void DrainRaw() {
    error_code ec;
    auto& socket = beast::get_lowest_layer(stream_);
    socket.shutdown(asio::socket_base::shutdown_send, ec);
    if (!rbuf_) rbuf_ = std::make_unique<char[]>(kStreamReadSize);
    socket.async_read_some(asio::buffer(rbuf_.get(), kStreamReadSize),
                           [self = Ref(this)](error_code e, size_t) {
                             if (!e) return self->DrainRaw();
                             self->CloseSocket();
                             self->close_timer_->cancel();
                           });
  }

  std::shared_ptr<ssl::context> tls_;  // null for ws://; before stream_, which uses it
  S stream_;
  ServerConnection* conn_ = nullptr;
  std::unique_ptr<Decoder> decoder_;  // only while bytes are buffered
  std::unique_ptr<char[]> rbuf_;
  std::string out_;          // encoded, waiting for the current write to finish
  std::string writing_buf_;  // being written
  std::unique_ptr<asio::steady_timer> close_timer_;
  std::optional<std::string> identity_;  // use_identity_as_username: the certificate's
  uint32_t refs_ = 0;
  uint8_t version_ = 0;
  bool identity_as_username_;
  bool ready_ = false;  // handshakes done
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool read_paused_ = false;
  bool holds_self_ = false;
};

template <class S>
void Start(Socket socket, std::shared_ptr<ssl::context> tls, bool identity_as_username,
           Broker& broker, uint32_t core, bool anonymous_allowed) {
  boost::intrusive_ptr<StreamLink<S>> link(
      new StreamLink<S>(std::move(socket), std::move(tls), identity_as_username));
  link->Start(broker, core, anonymous_allowed);
}

}  // namespace

void StartStreamLink(ListenerSpec::Kind kind, Socket socket, std::shared_ptr<ssl::context> tls,
                     bool identity_as_username, Broker& broker, uint32_t core,
                     bool anonymous_allowed) {
  switch (kind) {
    case ListenerSpec::Kind::kTls:
      return Start<TlsStream>(std::move(socket), std::move(tls), identity_as_username, broker, core,
                              anonymous_allowed);
    case ListenerSpec::Kind::kWebSocket:
      return Start<WsStream>(std::move(socket), nullptr, false, broker, core, anonymous_allowed);
    case ListenerSpec::Kind::kWebSocketTls:
      return Start<WssStream>(std::move(socket), std::move(tls), identity_as_username, broker, core,
                              anonymous_allowed);
    case ListenerSpec::Kind::kTcp:
      break;  // TcpLink (broker_server.cc)
  }
}

}  // namespace aiot::mqtt::broker
