#pragma once

// The client's view of a connection to a broker: a Transport carries decoded packets both ways.
// The client (client.h) owns one Transport per connection attempt; the TCP implementation
// (tcp_transport.h) encodes/decodes bytes on a socket, the in-process one hands structs to the
// embedded broker without a socket or serialization.
//
// ---- For the broker engineer: implementing the in-process transport ----------------------------
// Implement `Transport` in src/mqtt/broker/ (e.g. InprocTransport) and a factory that returns it:
//
//   TransportFactory MakeInprocFactory(Broker&, ...);  // handed to Client::Create
//
// Contract (the TCP transport follows the same rules):
//  1. Connect(handler): start the link. Later, ON THE CLIENT'S EXECUTOR (the `executor` passed to
//     the factory; use asio::post/dispatch onto it), call exactly one of
//       handler->OnTransportConnected()            the client then Send()s CONNECT
//       handler->OnTransportClosed(ec)             could not connect
//     After OnTransportConnected: any number of OnTransportPacket(packet) (broker -> client, in
//     order), then exactly one OnTransportClosed(ec). Nothing is called after OnTransportClosed.
//  2. Send(packet): client -> broker, in order. Called only on the client's executor, only after
//     OnTransportConnected and before OnTransportClosed (a Send after the link died is dropped).
//     The first packet is CONNECT (protocol_version 4 or 5); then the client follows the MQTT
//     rules of that version. Packets may be handed over as they are: Publish payloads are
//     SharedBytes, so no copy is needed.
//  3. Close(): the client wants the link gone (after it Send()s DISCONNECT, or to give up). Flush
//     what was sent if you can, then deliver OnTransportClosed (once) on the client's executor.
//     The broker side closing (DISCONNECT sent by the broker, session takeover, shutdown) also
//     ends with OnTransportClosed.
//  4. Lifetime: the client keeps `handler` valid and does not destroy the Transport until
//     OnTransportClosed has been delivered (or Connect was never called). Posted callbacks must
//     not outlive that: e.g. hold shared state in a shared_ptr and drop late events once closed.
//  5. Threading: every TransportHandler call runs on the client's executor, never concurrently
//     with another call into the same client. Send/Close are only called from that executor.
//     Your side runs on the broker's cores; cross with asio::post in both directions.
//  6. Errors in OnTransportClosed: {} for an orderly close, a std::error_code from asio for
//     network errors, or make_error_code(ReasonCode) (mqtt_category) for protocol failures.
//  7. Optional flow control: QueuedBytes() returns how many bytes/packets' worth are waiting to
//     be written (default 0 = never congested); if you return non-zero, call
//     handler->OnTransportDrained() when it drops back to 0. The client stops handing QoS 0
//     messages to a congested transport.
// ------------------------------------------------------------------------------------------------

#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "base/tls.h"
#include "mqtt/protocol/packet.h"

namespace aiot::mqtt {

// Receives what a Transport produces. All calls run on the client's executor.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  virtual void OnTransportConnected() = 0;
  virtual void OnTransportPacket(Packet&& packet) = 0;
  virtual void OnTransportClosed(std::error_code ec) = 0;
  // The transport's write queue emptied (see QueuedBytes()).
  virtual void OnTransportDrained() {}
  // Optional: around the packets decoded from one read (the TCP transport), so the client can
  // answer them together (Client::SetBatchFlushHandler). A transport that never calls them gets
  // every acknowledgement at once.
  virtual void OnTransportBatchBegin() {}
  virtual void OnTransportBatchEnd() {}
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Connect(TransportHandler* handler) = 0;
  virtual void Send(Packet packet) = 0;
  virtual void Close() = 0;
  // Bytes accepted by Send() but not yet written; 0 if the transport does not queue.
  virtual size_t QueuedBytes() const { return 0; }
};

// What a transport needs to know about the client's connection.
struct TransportOptions {
  std::string url;               // the client's url, e.g. "tcp://127.0.0.1:1883", "inproc://"
  uint8_t protocol_version = 5;  // 4 (3.1.1) or 5
  uint32_t max_packet_size = 0;  // largest packet the client accepts, 0 = protocol maximum
  uint32_t connect_timeout_ms = 10000;
  // mqtts:// only: the client's context (CA, client certificate, lowest version) and its settings
  // (the server name to check). No context for an mqtts:// url: the connection fails.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  tls::ClientConfig tls;
};

// Makes one Transport per connection attempt. `executor` is the client's (a strand): every
// TransportHandler call must run on it.
using TransportFactory = std::function<std::unique_ptr<Transport>(
    const boost::asio::any_io_executor& executor, const TransportOptions& options)>;

}  // namespace aiot::mqtt
