#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mqtt/protocol/packet.h"

// The MQTT 3.1.1 / 5.0 wire codec: sans-I/O, no exceptions, no asio.
//
// Errors are std::error_codes of mqtt_category() whose value is the v5 reason code a server
// would put in its DISCONNECT: kMalformedPacket, kProtocolError, kPacketTooLarge,
// kTopicNameInvalid, kUnsupportedProtocolVersion. For 3.1.1 the peer just closes the connection.
//
// Thread-safety: free functions are reentrant; a Decoder is used by one thread at a time.
namespace aiot::mqtt {

// Largest Remaining Length a 4-byte Variable Byte Integer holds.
inline constexpr uint32_t kMaxRemainingLength = 268'435'455;
// Largest whole packet (fixed header 5 bytes + remaining length).
inline constexpr uint32_t kMaxPacketSize = kMaxRemainingLength + 5;

// ---- Encoding --------------------------------------------------------------------------------

// Appends the packet's bytes to `*out` (which is not cleared, so one buffer can collect several
// packets and be reused: no allocation once it has grown). Returns the number of bytes appended.
// Fails with kProtocolError when the packet is not valid for `version` (e.g. a property the
// packet may not carry, QoS > 0 without a packet id, AUTH in 3.1.1) or kPacketTooLarge; on
// failure `*out` is left as it was.
Result<size_t> Encode(const Packet& packet, uint8_t version, std::string* out);

// Size in bytes Encode() would append; the same errors.
Result<size_t> EncodedSize(const Packet& packet, uint8_t version);

// Scatter-gather PUBLISH: appends the fixed header, topic, packet id and properties, i.e. all of
// the packet except the payload, which the caller writes right after (e.g. as a second
// asio::const_buffer that points into the shared payload). Lets a broker encode one small
// header per subscriber (own packet id, QoS, DUP, topic alias, subscription ids) around one
// shared payload. Returns the header size; the packet size is that plus publish.payload.size().
Result<size_t> EncodePublishHeader(const Publish& publish, uint8_t version, std::string* out);

// PUBACK / PUBREC / PUBREL / PUBCOMP without properties (`type` one of those four): appends the
// same bytes as Encode(PublishResponse<type>{packet_id, rc}, version), without building the
// packet (a Packet variant holds a Properties of several hundred bytes). The same errors.
Result<size_t> EncodeAck(PacketType type, uint16_t packet_id, ReasonCode rc, uint8_t version,
                         std::string* out);

// Appends a Variable Byte Integer (value <= kMaxRemainingLength). Returns bytes written (1-4).
size_t EncodeVariableByteInteger(uint32_t value, std::string* out);
size_t VariableByteIntegerSize(uint32_t value);

// ---- Decoding --------------------------------------------------------------------------------

// Decodes one packet from its first byte (type and flags) and its body (the Remaining Length
// bytes). `version` is kMqtt311 or kMqtt5; for CONNECT it is ignored (the packet says). On
// error the code is the reason code and the message says what was wrong ("invalid QoS 3").
Result<Packet> DecodePacket(uint8_t first_byte, std::string_view body, uint8_t version);
// As DecodePacket, into `*out` (whatever it held is replaced; unspecified after an error): a
// caller that keeps one Packet decodes into it without moving the packet out of a Result.
Status DecodePacketInto(uint8_t first_byte, std::string_view body, uint8_t version, Packet* out);

struct DecoderOptions {
  // Largest accepted packet including the fixed header (v5 "Maximum Packet Size"). Checked as
  // soon as the fixed header is complete, before the packet is buffered.
  uint32_t max_packet_size = kMaxPacketSize;
  // kMqtt311 or kMqtt5; 0 = not known yet: the first CONNECT decoded sets it (server side).
  uint8_t protocol_version = 0;
};

// Streaming decoder: feed bytes as they arrive in any fragmentation, take complete packets out.
//
//   decoder.Feed(bytes);
//   for (;;) {
//     auto r = decoder.Next();
//     if (!r) { /* close: ToReasonCode(r.error()) */ }
//     if (!*r) break;  // needs more bytes
//     Handle(std::move(**r));
//   }
//
// After an error the stream is unusable: Next() keeps returning the same error.
class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});

  // Copies `bytes` into the internal buffer.
  void Feed(std::string_view bytes);
  // Zero-copy alternative for a socket read: a writable area of at least `n` bytes at the end
  // of the buffer; then Commit() the number of bytes actually read into it.
  std::span<char> Prepare(size_t n);
  void Commit(size_t n);

  // The next complete packet; nullopt when more bytes are needed; an error (reason code and a
  // message saying what was wrong) when the stream is malformed, a packet exceeds
  // max_packet_size, or a packet other than CONNECT arrives before the protocol version is known.
  Result<std::optional<Packet>> Next();
  // As Next, decoded in place into `*out`: true when a packet was decoded into it, false when
  // more bytes are needed (`*out` untouched). Saves moving the packet (a PUBLISH with its
  // Properties is several hundred bytes) out through Result and optional.
  Result<bool> NextInto(Packet* out);

  uint8_t protocol_version() const { return options_.protocol_version; }
  void set_protocol_version(uint8_t v) { options_.protocol_version = v; }
  void set_max_packet_size(uint32_t n) { options_.max_packet_size = n; }
  // Bytes received but not yet returned as packets.
  size_t buffered() const { return end_ - start_; }

 private:
  DecoderOptions options_;
  std::string buffer_;
  size_t start_ = 0;  // first unconsumed byte in buffer_
  size_t end_ = 0;    // end of committed bytes in buffer_ (buffer_ may hold Prepare()d space)
  // Sets error_ (the stream is unusable from now on) and returns it.
  Status Fail(ReasonCode rc, const char* detail);

  Status error_;
};

}  // namespace aiot::mqtt
