#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

// A small blocking HTTP/1.1 client over POSIX sockets for the net tests: it sends exactly the bytes
// it is given (so tests can send malformed requests) and parses responses with Beast's parser.
// Every wait is bounded.
namespace aiot::net::testing {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = true;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; connected() tells whether it worked.
  explicit TestClient(uint16_t port, int rcvbuf = 0);
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(std::string_view bytes);
  // The next response; nullopt on close, error or timeout. `head_request`: no body expected.
  std::optional<Reply> Read(int timeout_ms = 20000, bool head_request = false);
  // Sends and reads one response.
  std::optional<Reply> Roundtrip(std::string_view request, int timeout_ms = 20000);
  // True when the server closes the connection (EOF or reset) within the timeout; any bytes
  // that arrive first are discarded.
  bool WaitClosed(int timeout_ms = 20000);
  void Close();
  // Half-closes (no more bytes from us), like a client that sent a truncated request.
  void ShutdownWrite();
  // Everything the server sends until it closes; nullopt on timeout.
  std::optional<std::string> ReadUntilClosed(int timeout_ms = 20000);

 private:
  int fd_ = -1;
  std::string pending_;
};

// "GET <target> HTTP/1.1" with Host and any extra header lines ("Name: value\r\n...").
std::string GetRequest(std::string_view target, std::string_view extra_headers = {});
std::string Request(std::string_view method, std::string_view target, std::string_view body,
                    std::string_view extra_headers = {});

// True when connecting to 127.0.0.1:port is refused.
bool ConnectRefused(uint16_t port);

}  // namespace aiot::net::testing
