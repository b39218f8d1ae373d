#include "mqtt/protocol/codec.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <vector>

#include "mqtt/protocol/test_packets.h"

namespace aiot::mqtt {
namespace {

std::string EncodeOrDie(const Packet& p, uint8_t version) {
  std::string out;
  auto r = Encode(p, version, &out);
  EXPECT_TRUE(r.ok()) << PacketTypeName(TypeOf(p)) << ": " << r.error().message();
  return out;
}

// Feeds `bytes` in pieces of `chunk` bytes (0 = all at once) and collects the packets.
std::vector<Packet> DecodeAll(std::string_view bytes, uint8_t version, size_t chunk) {
  Decoder d({.protocol_version = version});
  std::vector<Packet> out;
  size_t pos = 0;
  do {
    const size_t n = chunk ? std::min(chunk, bytes.size() - pos) : bytes.size();
    d.Feed(bytes.substr(pos, n));
    pos += n;
    for (;;) {
      auto r = d.Next();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || !*r) break;
      out.push_back(std::move(**r));
    }
  } while (pos < bytes.size());
  EXPECT_EQ(d.buffered(), 0u);
  return out;
}

class RoundTrip : public ::testing::TestWithParam<uint8_t> {};

TEST_P(RoundTrip, EveryPacketTypeAndProperty) {
  const uint8_t v = GetParam();
  for (const auto& [name, packet] : testing::SamplePackets(v)) {
    SCOPED_TRACE(name);
    const std::string bytes = EncodeOrDie(packet, v);
    auto size = EncodedSize(packet, v);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, bytes.size());
    auto packets = DecodeAll(bytes, v, 0);
    ASSERT_EQ(packets.size(), 1u);
    EXPECT_EQ(packets[0], packet);
    // Re-encoding the decoded packet gives the same bytes.
    EXPECT_EQ(EncodeOrDie(packets[0], v), bytes);
  }
}

TEST_P(RoundTrip, ArbitraryFragmentation) {
  const uint8_t v = GetParam();
  std::string stream;
  std::vector<Packet> expected;
  for (const auto& [name, packet] : testing::SamplePackets(v)) {
    if (TypeOf(packet) == PacketType::kConnect && v == kMqtt5 && name != "connect_full") continue;
    stream += EncodeOrDie(packet, v);
    expected.push_back(packet);
  }
  for (size_t chunk : {1, 2, 3, 7, 64, 1000}) {
    SCOPED_TRACE(chunk);
    EXPECT_EQ(DecodeAll(stream, v, chunk), expected);
  }
  // Random split points.
  std::mt19937 rng(42);
  for (int iter = 0; iter < 50; ++iter) {
    Decoder d({.protocol_version = v});
    std::vector<Packet> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      const size_t n = std::min<size_t>(rng() % 40 + 1, stream.size() - pos);
      auto space = d.Prepare(n);
      std::copy_n(stream.data() + pos, n, space.data());
      d.Commit(n);
      pos += n;
      for (;;) {
        auto r = d.Next();
        ASSERT_TRUE(r.ok());
        if (!*r) break;
        got.push_back(std::move(**r));
      }
    }
    EXPECT_EQ(got, expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, RoundTrip, ::testing::Values(kMqtt311, kMqtt5),
                         [](const auto& info) { return info.param == kMqtt5 ? "V5" : "V311"; });

TEST(Codec, KnownBytesV311Connect) {
  Connect c;
  c.protocol_version = kMqtt311;
  c.client_id = "ab";
  c.keep_alive = 60;
  const std::string expected(
      "\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02"
      "ab",
      16);
  EXPECT_EQ(EncodeOrDie(c, kMqtt311), expected);
}

TEST(Codec, KnownBytesV5PublishQos1) {
  Publish p;
  p.topic = "a";
  p.payload = "hi";
  p.qos = QoS::kAtLeastOnce;
  p.packet_id = 1;
  // 0x32, remaining 8: topic (3) + id (2) + props length (1) + payload (2).
  const std::string expected(
      "\x32\x08\x00\x01"
      "a\x00\x01\x00hi",
      10);
  EXPECT_EQ(EncodeOrDie(p, kMqtt5), expected);
}

TEST(Codec, PublishHeaderPlusSharedPayloadEqualsEncode) {
  Publish p;
  p.topic = "fan/messages";
  p.payload = std::string(1000, 'z');
  for (uint8_t v : {kMqtt311, kMqtt5}) {
    for (uint16_t id : {1, 2, 300}) {
      p.qos = QoS::kAtLeastOnce;
      p.packet_id = id;
      std::string header;
      auto n = EncodePublishHeader(p, v, &header);
      ASSERT_TRUE(n.ok());
      EXPECT_EQ(*n, header.size());
      EXPECT_EQ(header + std::string(p.payload.view()), EncodeOrDie(p, v));
    }
  }
}

TEST(Codec, ReusedBufferDoesNotReallocate) {
  Publish p;
  p.topic = "fan/messages";
  p.payload = std::string(64, 'p');
  p.qos = QoS::kAtLeastOnce;
  p.packet_id = 1;
  std::string buf;
  ASSERT_TRUE(Encode(p, kMqtt5, &buf).ok());
  const size_t cap = buf.capacity();
  const char* data = buf.data();
  for (int i = 0; i < 1000; ++i) {
    buf.clear();
    p.packet_id = static_cast<uint16_t>(i % 65535 + 1);
    ASSERT_TRUE(Encode(p, kMqtt5, &buf).ok());
  }
  EXPECT_EQ(buf.capacity(), cap);
  EXPECT_EQ(buf.data(), data);
}

TEST(Codec, SharedPayloadIsNotCopiedWhenPacketIsCopied) {
  Publish p;
  p.payload = std::string(100, 'a');
  Publish q = p;
  EXPECT_EQ(p.payload.shared().get(), q.payload.shared().get());
}

TEST(Codec, VariableByteIntegerBoundaries) {
  for (uint32_t v : {0u, 127u, 128u, 16383u, 16384u, 2097151u, 2097152u, 268435455u}) {
    std::string out;
    const size_t n = EncodeVariableByteInteger(v, &out);
    EXPECT_EQ(n, out.size());
    EXPECT_EQ(n, VariableByteIntegerSize(v));
  }
  std::string out;
  EncodeVariableByteInteger(268435455u, &out);
  EXPECT_EQ(out, "\xff\xff\xff\x7f");
}

TEST(Codec, RemainingLengthOfFiveBytesIsMalformed) {
  Decoder d({.protocol_version = kMqtt5});
  d.Feed(std::string("\x30\xff\xff\xff\xff\x01", 6));
  auto r = d.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kMalformedPacket);
  // The stream stays failed.
  EXPECT_FALSE(d.Next().ok());
}

TEST(Codec, MaximumPacketSizeCheckedBeforeBuffering) {
  Decoder d({.max_packet_size = 1024, .protocol_version = kMqtt5});
  // A PUBLISH announcing 100000 bytes: rejected as soon as the fixed header is complete.
  d.Feed(std::string("\x30\xa0\x8d\x06", 4));
  auto r = d.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kPacketTooLarge);
  EXPECT_LT(d.buffered(), 16u);

  // Exactly at the limit is fine.
  Decoder ok({.max_packet_size = 10, .protocol_version = kMqtt5});
  Publish p;
  p.topic = "a";
  p.payload = "1234";  // 2 + 3 + 1 + 4 = 10 bytes
  ok.Feed(EncodeOrDie(p, kMqtt5));
  auto r2 = ok.Next();
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(r2->has_value());
}

TEST(Codec, IncompleteHeaderWaitsForMoreBytes) {
  Decoder d({.protocol_version = kMqtt5});
  d.Feed(std::string("\x30", 1));
  auto r = d.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  d.Feed(std::string("\x80", 1));
  r = d.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(Codec, ServerDecoderLearnsVersionFromConnect) {
  Connect c;
  c.protocol_version = kMqtt311;
  c.client_id = "x";
  Disconnect d;
  std::string bytes = EncodeOrDie(c, kMqtt311) + EncodeOrDie(d, kMqtt311);
  Decoder dec;  // version unknown
  dec.Feed(bytes);
  auto r = dec.Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(dec.protocol_version(), kMqtt311);
  r = dec.Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(std::holds_alternative<Disconnect>(**r));
}

TEST(Codec, V311ConnackReturnCodesMapToReasonCodes) {
  for (uint8_t code = 0; code <= 5; ++code) {
    Decoder d({.protocol_version = kMqtt311});
    d.Feed(std::string{'\x20', '\x02', '\x00', static_cast<char>(code)});
    auto r = d.Next();
    ASSERT_TRUE(r.ok() && r->has_value());
    const auto& ack = std::get<Connack>(**r);
    EXPECT_EQ(ToV311ConnackCode(ack.reason_code), code);
  }
  EXPECT_EQ(FromV311ConnackCode(5), ReasonCode::kNotAuthorized);
}

TEST(Codec, EncodeRejectsPropertyNotAllowedInPacket) {
  Connect c;
  c.properties.topic_alias = 1;  // PUBLISH only
  std::string out = "keep";
  auto r = Encode(c, kMqtt5, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kProtocolError);
  EXPECT_EQ(out, "keep");
  // The same packet in 3.1.1 has no properties on the wire.
  c.protocol_version = kMqtt311;
  EXPECT_TRUE(Encode(c, kMqtt311, &out).ok());
}

TEST(Codec, EncodeRejectsInconsistentPublish) {
  Publish p;
  p.topic = "t";
  p.qos = QoS::kAtLeastOnce;  // no packet id
  std::string out;
  EXPECT_FALSE(Encode(p, kMqtt5, &out).ok());
  p.packet_id = 1;
  EXPECT_TRUE(Encode(p, kMqtt5, &out).ok());
  p.qos = QoS::kAtMostOnce;
  EXPECT_FALSE(Encode(p, kMqtt5, &out).ok());  // packet id on QoS 0
  Auth a;
  EXPECT_FALSE(Encode(a, kMqtt311, &out).ok());  // AUTH is v5 only
}

TEST(Codec, DecodeErrorCarriesDetail) {
  auto r = DecodePacket(0x36, std::string("\x00\x01t\x00\x01", 5), kMqtt5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kMalformedPacket);
  EXPECT_NE(r.status().message().find("QoS 3"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(r.error().message(), "Malformed Packet");
}

TEST(Codec, DecoderErrorCarriesDetailAndStays) {
  Decoder d({.protocol_version = kMqtt5});
  d.Feed(std::string("\x30\x80\x00", 3));  // remaining length 0 encoded in two bytes
  for (int i = 0; i < 2; ++i) {            // the stream is unusable: the same error again
    auto r = d.Next();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kMalformedPacket);
    EXPECT_EQ(r.status().message(), "remaining length not minimally encoded [MQTT-1.5.5-1]");
  }
}

TEST(ReasonCodes, NamesAndCategory) {
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kPacketTooLarge), "Packet too large");
  EXPECT_TRUE(IsKnownReasonCode(0xA2));
  EXPECT_FALSE(IsKnownReasonCode(0x03));
  std::error_code ec = ReasonCode::kQuotaExceeded;
  EXPECT_EQ(ec.category().name(), std::string("mqtt"));
  EXPECT_EQ(ToReasonCode(ec), ReasonCode::kQuotaExceeded);
  EXPECT_TRUE(IsError(ReasonCode::kUnspecifiedError));
  EXPECT_FALSE(IsError(ReasonCode::kGrantedQos2));
}

TEST(Properties, NamesForEveryId) {
  int named = 0;
  for (int id = 0; id < 128; ++id) {
    if (PropertyName(static_cast<PropertyId>(id))) ++named;
  }
  EXPECT_EQ(named, 27);
}

// empty() checks the fields one by one: each field set makes it false, as `== Properties{}` did.
TEST(Properties, EmptyMatchesDefault) {
  EXPECT_TRUE(Properties{}.empty());
  std::vector<std::function<void(Properties&)>> set = {
      [](Properties& p) { p.payload_format_indicator = 0; },
      [](Properties& p) { p.message_expiry_interval = 1; },
      [](Properties& p) { p.content_type = ""; },
      [](Properties& p) { p.response_topic = "r"; },
      [](Properties& p) { p.correlation_data = "c"; },
      [](Properties& p) { p.subscription_identifiers.push_back(1); },
      [](Properties& p) { p.session_expiry_interval = 0; },
      [](Properties& p) { p.assigned_client_identifier = "a"; },
      [](Properties& p) { p.server_keep_alive = 0; },
      [](Properties& p) { p.authentication_method = "m"; },
      [](Properties& p) { p.authentication_data = "d"; },
      [](Properties& p) { p.request_problem_information = 0; },
      [](Properties& p) { p.will_delay_interval = 0; },
      [](Properties& p) { p.request_response_information = 0; },
      [](Properties& p) { p.response_information = "i"; },
      [](Properties& p) { p.server_reference = "s"; },
      [](Properties& p) { p.reason_string = "why"; },
      [](Properties& p) { p.receive_maximum = 1; },
      [](Properties& p) { p.topic_alias_maximum = 0; },
      [](Properties& p) { p.topic_alias = 1; },
      [](Properties& p) { p.maximum_qos = 0; },
      [](Properties& p) { p.retain_available = 0; },
      [](Properties& p) { p.user_properties.emplace_back("k", "v"); },
      [](Properties& p) { p.maximum_packet_size = 9; },
      [](Properties& p) { p.wildcard_subscription_available = 0; },
      [](Properties& p) { p.subscription_identifier_available = 0; },
      [](Properties& p) { p.shared_subscription_available = 0; },
  };
  for (size_t i = 0; i < set.size(); ++i) {
    Properties p;
    set[i](p);
    EXPECT_FALSE(p.empty()) << "field " << i;
    EXPECT_FALSE(p == Properties{}) << "field " << i;
  }
}

// EncodeAck: the bytes Encode writes for the same PublishResponse, both versions, every type.
template <class T>
void ExpectAckLikeEncode(uint16_t id, ReasonCode rc, uint8_t v) {
  T a;
  a.packet_id = id;
  a.reason_code = rc;
  std::string fast = "x";  // appends
  auto r = EncodeAck(T::kPacketType, id, rc, v, &fast);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fast, "x" + EncodeOrDie(a, v));
  EXPECT_EQ(*r, fast.size() - 1);
}

TEST(Codec, EncodeAckWritesWhatEncodeWrites) {
  for (uint8_t v : {kMqtt311, kMqtt5}) {
    for (uint16_t id : {uint16_t{1}, uint16_t{0x1234}, uint16_t{0xFFFF}}) {
      for (ReasonCode rc :
           {ReasonCode::kSuccess, ReasonCode::kQuotaExceeded,
            ReasonCode::kImplementationSpecificError, ReasonCode::kPacketIdentifierNotFound}) {
        SCOPED_TRACE(::testing::Message() << "v" << int{v} << " id " << id << " rc " << int(rc));
        ExpectAckLikeEncode<Puback>(id, rc, v);
        ExpectAckLikeEncode<Pubrec>(id, rc, v);
        ExpectAckLikeEncode<Pubrel>(id, rc, v);
        ExpectAckLikeEncode<Pubcomp>(id, rc, v);
      }
    }
  }
  std::string out;
  EXPECT_FALSE(EncodeAck(PacketType::kPuback, 0, ReasonCode::kSuccess, kMqtt5, &out).ok());
  EXPECT_FALSE(EncodeAck(PacketType::kPublish, 1, ReasonCode::kSuccess, kMqtt5, &out).ok());
  EXPECT_FALSE(EncodeAck(PacketType::kPuback, 1, ReasonCode::kSuccess, 3, &out).ok());
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace aiot::mqtt
