#pragma once

#include <memory>

#include "mqtt/client/transport.h"

namespace aiot::mqtt {

// Transport over a plain TCP connection ("tcp://host:port", "mqtt://host:port"): encodes packets
// with the codec, decodes what arrives with a streaming Decoder. All socket completions run on
// the executor given to the factory (the client's strand); Send/Close must be called there.
// Destroying the transport abandons the connection: no TransportHandler call happens after that.
std::unique_ptr<Transport> MakeTcpTransport(const boost::asio::any_io_executor& executor,
                                            const TransportOptions& options);

// Splits "scheme://host:port" (host may be "[v6addr]"); port defaults to `default_port`.
// Returns false when the url has no "://".
bool ParseUrl(const std::string& url, std::string* scheme, std::string* host, std::string* port,
              const std::string& default_port = "1883");

}  // namespace aiot::mqtt
