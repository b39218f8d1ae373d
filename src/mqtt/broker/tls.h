#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "mqtt/broker/broker_config.h"

namespace aiot::mqtt::broker {

// The server-side TLS context of the broker's mqtts:// and wss:// listeners: certificate and key,
// the CA for client certificates (mutual TLS when required), the lowest TLS version. Fails with
// a message naming the file that could not be used.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const BrokerTlsConfig& c);

// The identity of a verified client certificate, as Mosquitto's use_identity_as_username: the
// subject's CN, else the first subject alternative name (DNS, e-mail or URI); "" when the peer
// sent no certificate or it names nothing.
std::string PeerIdentity(SSL* ssl);

// The TLS context new handshakes use, replaced as a whole on reload (SIGHUP): connections keep
// the context they were accepted with. Thread-safe.
class TlsContextSlot {
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

}  // namespace aiot::mqtt::broker
