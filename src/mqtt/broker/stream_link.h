#pragma once

#include <utility>  // Before asio: Boost 1.74 with g++ 12.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>

#include "mqtt/broker/broker.h"
#include "mqtt/broker/broker_config.h"
#include "mqtt/protocol/codec.h"

namespace aiot::mqtt::broker {

// The socket type of a broker connection: bound to the io_context's own executor rather than
// any_io_executor, which is 40 bytes larger in the socket and in every pending operation.
using Socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Serves a connection accepted on an mqtts://, ws:// or wss:// listener (plain TCP has its own,
// leaner link in broker_server.cc): the TLS handshake (with `tls`, kept for the connection's
// life), the WebSocket upgrade (subprotocol "mqtt"), then MQTT packets in both directions as a
// Link of `broker` on `core`. With `identity_as_username` the client certificate's identity is
// the client's user name. The broker's CONNECT timeout also bounds the handshakes.
void StartStreamLink(ListenerSpec::Kind kind, Socket socket,
                     std::shared_ptr<boost::asio::ssl::context> tls, bool identity_as_username,
                     Broker& broker, uint32_t core, bool anonymous_allowed);

// The read side both link kinds share: hands the packets buffered in `decoder` one at a time to
// the connection `reading()` returns, until the decoder needs more bytes, a packet is malformed
// (reported to the connection as a protocol error), or `reading()` returns null (the link closed,
// is closing or paused its reads). Handling a packet may change that, so `reading()` is asked again
// before every packet. Once the connection knows its protocol version (after CONNECT), so does the
// decoder.
template <class Reading>
void DecodePackets(Decoder& decoder, Reading reading) {
  Packet packet;  // decoded in place (Decoder::NextInto), handed to the connection by reference
  while (ServerConnection* conn = reading()) {
    auto r = decoder.NextInto(&packet);
    if (!r.ok()) {
      conn->OnProtocolError(ToReasonCode(r.error()), r.status().message().c_str());
      break;
    }
    if (!*r) break;
    conn->OnPacket(std::move(packet));
    if (decoder.protocol_version() != 0) continue;
    if (ServerConnection* after = reading(); after != nullptr && after->version() != 0)
      decoder.set_protocol_version(after->version());
  }
}

}  // namespace aiot::mqtt::broker
