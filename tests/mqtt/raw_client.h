#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>

#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::test {

// TLS for a RawClient: the CA the server's certificate must chain to (verified, not its name).
struct RawTls {
  std::string ca;
};

// A blocking MQTT client that speaks raw packets (the aiot codec for framing), for conformance
// tests that must send exactly what they choose, malformed bytes included. With `tls` the same
// bytes go over TLS (OpenSSL; the socket is non-blocking under it so that a TLS record without
// application data, e.g. a TLS 1.3 session ticket, never blocks a Receive past its timeout).
class RawClient {
 public:
  RawClient(uint16_t port, uint8_t version, const RawTls* tls = nullptr) : version_(version) {
    decoder_.set_protocol_version(version);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tls != nullptr && connected_) connected_ = StartTls(*tls);
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // False when the socket refused part of it (errno says why: EPIPE, ECONNRESET, ...).
  bool SendBytes(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ssl_ != nullptr
                      ? TlsWrite(bytes.data() + off, bytes.size() - off)
                      : ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // False when `p` cannot be encoded or the socket refused it.
  bool Send(const Packet& p) {
    std::string out;
    if (!Encode(p, version_, &out).ok()) return false;
    return SendBytes(out);
  }

  // The next packet, or nullopt on timeout, close or a decode error.
  std::optional<Packet> Receive(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto r = decoder_.Next();
      if (!r.ok()) return std::nullopt;
      if (r->has_value()) return std::move(**r);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      }
      char buf[16384];
      ssize_t n = 0;
      if (ssl_ != nullptr) {
        n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0 && SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_READ) continue;
      } else {
        n = ::recv(fd_, buf, sizeof buf, 0);
      }
      if (n <= 0) {
        ERR_clear_error();
        closed_ = true;
        return std::nullopt;
      }
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

  // Receives until a packet of type T arrives (skipping others); nullopt on timeout/close.
  template <typename T>
  std::optional<T> Expect(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto p = Receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (!p) return std::nullopt;
      if (auto* t = std::get_if<T>(&*p)) return std::move(*t);
    }
    return std::nullopt;
  }

  // True once the server has closed the connection (reads EOF) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() < deadline) {
      Receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    }
    return closed_;
  }

  // CONNECT and wait for CONNACK.
  std::optional<Connack> Connect(Connect c) {
    c.protocol_version = version_;
    if (!Send(c)) return std::nullopt;
    return Expect<Connack>();
  }
  std::optional<Connack> Connect(const std::string& client_id, bool clean_start = true,
                                 uint32_t session_expiry = 0) {
    mqtt::Connect c;
    c.client_id = client_id;
    c.clean_start = clean_start;
    if (version_ == kMqtt5 && session_expiry) c.properties.session_expiry_interval = session_expiry;
    return Connect(std::move(c));
  }
  std::optional<Suback> Subscribe(uint16_t id, const std::string& filter, uint8_t qos,
                                  uint32_t sub_id = 0, SubscribeOptions extra = {}) {
    mqtt::Subscribe s;
    s.packet_id = id;
    Subscription sub;
    sub.filter = filter;
    sub.options = extra;
    sub.options.qos = static_cast<QoS>(qos);
    s.subscriptions.push_back(sub);
    if (sub_id) s.properties.subscription_identifiers.push_back(sub_id);
    Send(s);
    return Expect<Suback>();
  }
  void Publish(const std::string& topic, const std::string& payload, uint8_t qos = 0,
               uint16_t id = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = static_cast<QoS>(qos);
    p.packet_id = id;
    p.retain = retain;
    Send(p);
  }

 private:
  // Verifies the server against `tls.ca`; false when the handshake fails.
  bool StartTls(const RawTls& tls) {
    std::signal(SIGPIPE, SIG_IGN);  // SSL_write uses write(2), which has no MSG_NOSIGNAL
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr || SSL_CTX_load_verify_locations(ctx_, tls.ca.c_str(), nullptr) != 1) {
      return false;
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      ERR_clear_error();
      return false;
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }
  // SSL_write on the non-blocking socket, waiting while it would block (at most 20 s).
  ssize_t TlsWrite(const char* data, size_t size) {
    for (int waits = 0; waits < 200; ++waits) {
      int n = SSL_write(ssl_, data, static_cast<int>(size));
      if (n > 0) return n;
      int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) break;
      pollfd pfd{fd_, static_cast<short>(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
      ::poll(&pfd, 1, 100);
    }
    ERR_clear_error();
    return -1;
  }

  uint8_t version_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  Decoder decoder_;
};

}  // namespace aiot::mqtt::test
