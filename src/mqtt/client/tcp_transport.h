#pragma once

#include <memory>

#include "mqtt/client/transport.h"

namespace aiot::mqtt {

// Transport over a TCP connection, plain ("tcp://host:port", "mqtt://host:port"; port 1883 by
// default) or TLS ("mqtts://host:port", also "ssl://"; port 8883 by default; needs
// options.tls_context): encodes packets with the codec, decodes what arrives with a streaming
// Decoder. A TLS handshake that fails (e.g. a server certificate not signed by the CA, or not
// naming the host) is logged with OpenSSL's reason and ends the attempt with its error. All socket
// completions run on the executor given to the factory (the client's strand); Send/Close must be
// called there. Destroying the transport abandons the connection: no TransportHandler call happens
// after that.
std::unique_ptr<Transport> MakeTcpTransport(const boost::asio::any_io_executor& executor,
                                            const TransportOptions& options);

// The url's scheme is mqtts or ssl (TLS).
bool IsTlsUrl(const std::string& url);

// Splits "scheme://host:port" (host may be "[v6addr]"); port defaults to `default_port`.
// Returns false when the url has no "://".
bool ParseUrl(const std::string& url, std::string* scheme, std::string* host, std::string* port,
              const std::string& default_port = "1883");

}  // namespace aiot::mqtt
