// libFuzzer target for the MQTT codec. Input: one control byte, then a byte stream.
//   control bit 0: protocol version (0 = 3.1.1, 1 = 5.0); bit 1: version unknown (server side,
//   learned from CONNECT); bits 2-7: fragment size - 1 for feeding the decoder.
// Every packet that decodes must re-encode, and the re-encoded bytes must decode to an equal
// packet (a crash, a sanitizer report or a mismatch is a bug).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/protocol/codec.h"

namespace {

using aiot::mqtt::Connect;
using aiot::mqtt::Decoder;
using aiot::mqtt::Packet;

void CheckRoundTrip(const Packet& packet, uint8_t version) {
  if (const auto* c = std::get_if<Connect>(&packet)) version = c->protocol_version;
  std::string bytes;
  auto n = aiot::mqtt::Encode(packet, version, &bytes);
  if (!n.ok()) {
    std::fprintf(stderr, "decoded %s does not re-encode: %s\n",
                 aiot::mqtt::PacketTypeName(aiot::mqtt::TypeOf(packet)),
                 n.status().message().c_str());
    std::abort();
  }
  Decoder again({.protocol_version = version});
  again.Feed(bytes);
  auto r = again.Next();
  if (!r.ok() || !r->has_value() || !(**r == packet) || again.buffered() != 0) {
    std::fprintf(stderr, "round trip mismatch for %s\n",
                 aiot::mqtt::PacketTypeName(aiot::mqtt::TypeOf(packet)));
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const uint8_t version = (control & 1) ? aiot::mqtt::kMqtt5 : aiot::mqtt::kMqtt311;
  const size_t chunk = static_cast<size_t>(control >> 2) + 1;
  Decoder decoder({.max_packet_size = 1 << 16,
                   .protocol_version = static_cast<uint8_t>((control & 2) ? 0 : version)});
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!input.empty()) {
    const size_t n = std::min(chunk, input.size());
    decoder.Feed(input.substr(0, n));
    input.remove_prefix(n);
    for (;;) {
      auto r = decoder.Next();
      if (!r.ok()) return 0;
      if (!r->has_value()) break;
      CheckRoundTrip(**r, decoder.protocol_version());
    }
  }
  return 0;
}
