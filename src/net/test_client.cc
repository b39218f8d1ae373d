#include "net/test_client.h"

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <chrono>

namespace aiot::net::testing {

namespace http = boost::beast::http;

namespace {

int Connect(uint16_t port, int rcvbuf, int* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *err = errno;
    ::close(fd);
    return -1;
  }
  *err = 0;
  return fd;
}

}  // namespace

TestClient::TestClient(uint16_t port, int rcvbuf) {
  int err = 0;
  fd_ = Connect(port, rcvbuf, &err);
}

TestClient::~TestClient() { Close(); }

void TestClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool TestClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<Reply> TestClient::Read(int timeout_ms, bool head_request) {
  if (fd_ < 0) return std::nullopt;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(1ull << 30);
  if (head_request) parser.skip(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  boost::beast::error_code ec;
  for (;;) {
    if (!pending_.empty()) {
      size_t used = parser.put(boost::asio::buffer(pending_), ec);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        return std::nullopt;
      }
      pending_.erase(0, used);
      if (parser.is_done()) break;
      if (used > 0 && !pending_.empty()) continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) continue;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) {
      // EOF: a response without length ends here.
      parser.put_eof(ec);
      if (!ec && parser.is_done()) break;
      return std::nullopt;
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return std::nullopt;
    }
    pending_.append(buf, static_cast<size_t>(n));
  }
  Reply reply;
  auto msg = parser.release();
  reply.status = static_cast<int>(msg.result_int());
  reply.keep_alive = msg.keep_alive();
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(f.value());
  }
  reply.body = std::move(msg.body());
  return reply;
}

std::optional<Reply> TestClient::Roundtrip(std::string_view request, int timeout_ms) {
  if (!Send(request)) return std::nullopt;
  bool head = request.substr(0, 5) == "HEAD ";
  return Read(timeout_ms, head);
}

bool TestClient::WaitClosed(int timeout_ms) {
  if (fd_ < 0) return true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) continue;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;
  }
}

void TestClient::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::optional<std::string> TestClient::ReadUntilClosed(int timeout_ms) {
  std::string out = std::move(pending_);
  pending_.clear();
  if (fd_ < 0) return out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) continue;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return out;  // reset counts as closed
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string GetRequest(std::string_view target, std::string_view extra_headers) {
  std::string r = "GET ";
  r.append(target).append(" HTTP/1.1\r\nHost: test\r\n").append(extra_headers).append("\r\n");
  return r;
}

std::string Request(std::string_view method, std::string_view target, std::string_view body,
                    std::string_view extra_headers) {
  std::string r(method);
  r.append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  r.append(extra_headers).append("\r\n").append(body);
  return r;
}

bool ConnectRefused(uint16_t port) {
  int err = 0;
  int fd = Connect(port, 0, &err);
  if (fd >= 0) {
    ::close(fd);
    return false;
  }
  return err == ECONNREFUSED;
}

}  // namespace aiot::net::testing
