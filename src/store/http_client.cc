#include "store/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/errc.h"

namespace aiot::store {

namespace http = boost::beast::http;

Result<HttpClient> HttpClient::Create(std::string_view base_url, int timeout_ms) {
  constexpr std::string_view kScheme = "http://";
  if (base_url.substr(0, kScheme.size()) != kScheme) return errc::invalid_argument;
  std::string_view rest = base_url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  HttpClient c;
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos ||
      (rest.find(']') != std::string_view::npos && colon < rest.find(']'))) {
    c.host_ = rest;
    c.port_ = "80";
  } else {
    c.host_ = rest.substr(0, colon);
    c.port_ = rest.substr(colon + 1);
  }
  if (c.host_.size() > 2 && c.host_.front() == '[') c.host_ = c.host_.substr(1, c.host_.size() - 2);
  if (c.host_.empty() || c.port_.empty()) return errc::invalid_argument;
  c.timeout_ms_ = timeout_ms;
  return c;
}

HttpClient::HttpClient(HttpClient&& o) noexcept
    : host_(std::move(o.host_)), port_(std::move(o.port_)), timeout_ms_(o.timeout_ms_), fd_(o.fd_) {
  o.fd_ = -1;
}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status HttpClient::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res) != 0) return errc::unavailable;
  Status st = errc::unavailable;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_ms_);
      if (rc == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
      } else {
        st = rc == 0 ? Status(errc::timeout) : Status(errc::unavailable);
        rc = -1;
      }
    }
    if (rc == 0) {
      fd_ = fd;
      st = Status();
      break;
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  return st;
}

Status HttpClient::SendAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) return errc::timeout;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return errc::io_error;
  }
  return {};
}

Result<HttpReply> HttpClient::Request(
    std::string_view method, std::string_view target, std::string_view body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head;
  head.reserve(256);
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  head.append(host_).append(":").append(port_).append("\r\n");
  for (const auto& [k, v] : headers) head.append(k).append(": ").append(v).append("\r\n");
  head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");

  // A kept-alive connection may have been closed by the server: retry once on a fresh one, but
  // only when nothing at all came back (the request cannot have been processed twice then... for
  // /write a duplicate is harmless anyway: same points, same timestamps).
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = fd_ >= 0;
    if (!reused) {
      if (Status st = Connect(); !st) return st.error();
    }
    Status st = SendAll(head);
    if (st) st = SendAll(body);
    if (!st) {
      Close();
      if (reused) continue;
      return st.error();
    }
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64ull << 20);
    std::string pending;
    char buf[16384];
    bool got_any = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
    Status failure;
    while (!parser.is_done()) {
      if (!pending.empty()) {
        boost::beast::error_code ec;
        size_t used = parser.put(boost::asio::buffer(pending), ec);
        if (ec && ec != http::error::need_more) {
          failure = errc::parse_error;
          break;
        }
        pending.erase(0, used);
        if (parser.is_done()) break;
        if (used > 0 && !ec) continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        failure = errc::timeout;
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left));
      if (rc == 0) {
        failure = errc::timeout;
        break;
      }
      if (rc < 0) {
        if (errno == EINTR) continue;
        failure = errc::io_error;
        break;
      }
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        got_any = true;
        pending.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      // EOF or reset.
      boost::beast::error_code ec;
      parser.put_eof(ec);
      if (!ec && parser.is_done()) break;
      failure = errc::io_error;
      break;
    }
    if (failure.ok() && parser.is_done()) {
      auto msg = parser.release();
      HttpReply reply;
      reply.status = static_cast<int>(msg.result_int());
      reply.body = std::move(msg.body());
      if (!msg.keep_alive()) Close();
      return reply;
    }
    Close();
    if (reused && !got_any && failure.error() != make_error_code(errc::timeout)) continue;
    return failure.ok() ? make_error_code(errc::io_error) : failure.error();
  }
  return errc::io_error;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace aiot::store
