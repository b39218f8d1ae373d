#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::test {

// A blocking MQTT client that speaks raw packets (the aiot codec for framing), for conformance
// tests that must send exactly what they choose, malformed bytes included.
class RawClient {
 public:
  RawClient(uint16_t port, uint8_t version) : version_(version) {
    decoder_.set_protocol_version(version);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // False when the socket refused part of it (errno says why: EPIPE, ECONNRESET, ...).
  bool SendBytes(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
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
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
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
  uint8_t version_;
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  Decoder decoder_;
};

}  // namespace aiot::mqtt::test
