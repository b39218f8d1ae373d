#pragma once

// TLS settings and contexts shared by every TLS endpoint of aiot (target `aiot_base_tls`, OpenSSL
// and Boost.Asio's ssl::context): the server side of the broker's mqtts:// / wss:// listeners and
// of the HTTP API (`broker.tls`, `http.tls`: one settings shape, one parser), and the client side
// of aiot's MQTT client (`mqtts://`) and HTTP client (`https://`).
#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/config.h"
#include "base/result.h"

namespace aiot::tls {

enum class Version : uint8_t { kTls12, kTls13 };
inline constexpr config::Named<Version> kVersionNames[] = {{Version::kTls12, "1.2"},
                                                           {Version::kTls13, "1.3"}};

// A TLS server: certificate and key, the CA client certificates must chain to, mutual TLS, the
// lowest version. As Mosquitto's listener options certfile, keyfile, cafile, require_certificate,
// tls_version.
struct ServerConfig {
  // PEM certificate (chain) and private key of the server.
  std::string cert;
  std::string key;
  // PEM CA certificate(s) that client certificates must chain to.
  std::string ca;
  // Mutual TLS: refuse clients without a certificate signed by `ca` (or expired).
  bool require_client_cert = false;
  // Lowest TLS version accepted (1.2 also accepts 1.3).
  Version min_version = Version::kTls12;
};

void Describe(config::Visitor& v, ServerConfig& c);
// Files named must exist and be readable; cert and key go together; mutual TLS needs `ca`.
void Validate(config::Checks& checks, const ServerConfig& c);

// The server context; fails with a message naming the setting and file that could not be used
// ("tls.key /x.pem: ..."). Needs cert and key.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const ServerConfig& c);

// A TLS client (aiot's MQTT client for mqtts://, its HTTP client for https://).
struct ClientConfig {
  // PEM CA certificate(s) the server's certificate must chain to; empty = the system's store.
  std::string ca;
  // Client certificate and key (PEM) for servers that require mutual TLS; empty = none.
  std::string cert;
  std::string key;
  // Name the server certificate must carry (and sent as SNI); empty = the host of the url.
  std::string server_name;
  // Check the server certificate's name (SAN DNS/IP, else CN) against server_name or the host.
  bool verify_server_name = true;
  // Lowest TLS version offered.
  Version min_version = Version::kTls12;
};

void Describe(config::Visitor& v, ClientConfig& c);
void Validate(config::Checks& checks, const ClientConfig& c);

// The client context: the server certificate is always verified against `ca` (or the system's
// store); the name check is per connection (PrepareClient).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const ClientConfig& c);

// Before the handshake of a client connection to `host`: SNI (for a DNS name) and, if
// verify_server_name, the name the certificate must carry (server_name, else `host`; an IP
// address is matched against the certificate's IP SANs).
Status PrepareClient(SSL* ssl, const ClientConfig& c, const std::string& host);

// Why a handshake failed, for logs and errors: for a certificate the peer did not accept or we
// did not, OpenSSL's verify result ("certificate verify failed: unable to get local issuer
// certificate", "...: hostname mismatch"), else the error's own message.
std::string HandshakeError(SSL* ssl, const boost::system::error_code& ec);

// The context new handshakes use, replaced as a whole on reload (SIGHUP): connections keep the
// context they were accepted with. Thread-safe.
class ContextSlot {
 public:
  std::shared_ptr<boost::asio::ssl::context> Get() const {
    std::lock_guard lock(mu_);
    return ctx_;
  }
  void Set(std::shared_ptr<boost::asio::ssl::context> ctx) {
    std::lock_guard lock(mu_);
    ctx_ = std::move(ctx);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace aiot::tls
