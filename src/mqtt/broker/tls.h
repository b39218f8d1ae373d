#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "base/result.h"
#include "base/tls.h"
#include "mqtt/broker/broker_config.h"

namespace aiot::mqtt::broker {

// The server-side TLS context of the broker's mqtts:// and wss:// listeners
// (tls::MakeServerContext): certificate and key, the CA for client certificates (mutual TLS when
// required), the lowest TLS version. Fails with a message naming the file that could not be used.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const BrokerTlsConfig& c);

// The identity of a verified client certificate, as Mosquitto's use_identity_as_username: the
// subject's CN, else the first subject alternative name (DNS, e-mail or URI); "" when the peer
// sent no certificate or it names nothing.
std::string PeerIdentity(SSL* ssl);

// The TLS context new handshakes use, replaced as a whole on reload (SIGHUP).
using TlsContextSlot = tls::ContextSlot;

}  // namespace aiot::mqtt::broker
