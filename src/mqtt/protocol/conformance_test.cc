// Conformance tests named after the normative statements of MQTT 5.0 (and 3.1.1 where noted) that
// the codec enforces. Each test quotes the statement id it checks.
#include <gtest/gtest.h>

#include "mqtt/protocol/codec.h"
#include "mqtt/protocol/topic.h"
#include "mqtt/protocol/utf8.h"

namespace aiot::mqtt {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// Decodes one whole packet (fixed header included) from raw bytes.
ReasonCode DecodeRaw(const std::string& packet, uint8_t version = kMqtt5) {
  Decoder d({.protocol_version = version});
  d.Feed(packet);
  auto r = d.Next();
  if (!r.ok()) return ToReasonCode(r.error());
  if (!r->has_value()) return ReasonCode::kImplementationSpecificError;  // incomplete
  return ReasonCode::kSuccess;
}

// A PUBLISH (QoS 0, v5, no properties) with the given raw topic bytes.
std::string PublishWithTopic(const std::string& topic, uint8_t version = kMqtt5) {
  std::string body = Bytes({0, static_cast<int>(topic.size())}) + topic;
  if (version == kMqtt5) body += Bytes({0});
  body += "payload";
  return Bytes({0x30, static_cast<int>(body.size())}) + body;
}

// A v5 CONNECT with the given flags byte and payload after the (empty) properties.
std::string ConnectWith(int flags, const std::string& payload, int level = 5) {
  std::string body = Bytes({0, 4}) + "MQTT" + Bytes({level, flags, 0, 60});
  if (level == 5) body += Bytes({0});
  body += payload;
  return Bytes({0x10, static_cast<int>(body.size())}) + body;
}

TEST(Conformance, MQTT_1_5_4_1_Utf8NoSurrogates) {
  // [MQTT-1.5.4-1] The character data in a UTF-8 Encoded String MUST be well-formed UTF-8 ... In
  // particular, the character data MUST NOT include encodings of code points between U+D800 and
  // U+DFFF.
  EXPECT_FALSE(IsValidMqttUtf8("\xED\xA0\x80"));  // U+D800
  EXPECT_FALSE(IsValidMqttUtf8("\xED\xBF\xBF"));  // U+DFFF
  EXPECT_TRUE(IsValidMqttUtf8("\xED\x9F\xBF"));   // U+D7FF
  EXPECT_EQ(DecodeRaw(PublishWithTopic("a\xED\xA0\x80")), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_1_5_4_1_Utf8WellFormed) {
  // [MQTT-1.5.4-1] ... MUST be well-formed UTF-8 as defined by the Unicode specification.
  EXPECT_FALSE(IsValidMqttUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidMqttUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidMqttUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidMqttUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidMqttUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(IsValidMqttUtf8("\xFF"));
  EXPECT_TRUE(IsValidMqttUtf8("fan/€/\xF0\x9F\x98\x80"));
  EXPECT_EQ(DecodeRaw(PublishWithTopic("\xC0\xAF")), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_1_5_4_2_Utf8NoNullCharacter) {
  // [MQTT-1.5.4-2] A UTF-8 Encoded String MUST NOT include an encoding of the null character
  // U+0000.
  EXPECT_FALSE(IsValidMqttUtf8(std::string("a\0b", 3)));
  EXPECT_EQ(DecodeRaw(PublishWithTopic(std::string("a\0b", 3))), ReasonCode::kMalformedPacket);
  // A client id with U+0000 is malformed too.
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02, Bytes({0, 1, 0}))), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_1_5_4_3_ByteOrderMarkIsKept) {
  // [MQTT-1.5.4-3] A UTF-8 encoded sequence 0xEF 0xBB 0xBF is always interpreted as U+FEFF
  // ("ZERO WIDTH NO-BREAK SPACE") wherever it appears in a string and MUST NOT be skipped over or
  // stripped off by a packet receiver.
  Decoder d({.protocol_version = kMqtt5});
  d.Feed(
      PublishWithTopic("\xEF\xBB\xBF"
                       "a"));
  auto r = d.Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(std::get<Publish>(**r).topic,
            "\xEF\xBB\xBF"
            "a");
}

TEST(Conformance, MQTT_1_5_5_1_VariableByteIntegerMinimalEncoding) {
  // [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes necessary to represent
  // the value.
  EXPECT_EQ(DecodeRaw(Bytes({0xC0, 0x80, 0x00})), ReasonCode::kMalformedPacket);  // 0 in 2 bytes
  EXPECT_EQ(DecodeRaw(Bytes({0xC0, 0x00})), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_2_1_3_1_ReservedFlagsMustMatch) {
  // [MQTT-2.1.3-1] Where a flag bit is marked as "Reserved", it is reserved for future use and
  // MUST be set to the value listed. If invalid flags are received it is a Malformed Packet.
  EXPECT_EQ(DecodeRaw(Bytes({0x41, 0x02, 0x00, 0x01})), ReasonCode::kMalformedPacket);  // PUBACK
  EXPECT_EQ(DecodeRaw(Bytes({0xC1, 0x00})), ReasonCode::kMalformedPacket);              // PINGREQ
  EXPECT_EQ(DecodeRaw(Bytes({0xE2, 0x00})), ReasonCode::kMalformedPacket);  // DISCONNECT
}

TEST(Conformance, MQTT_3_6_1_1_PubrelFlags) {
  // [MQTT-3.6.1-1] Bits 3,2,1 and 0 of the Fixed Header in the PUBREL packet are reserved and
  // MUST be set to 0,0,1 and 0 respectively.
  EXPECT_EQ(DecodeRaw(Bytes({0x60, 0x02, 0x00, 0x01})), ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(Bytes({0x62, 0x02, 0x00, 0x01})), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_8_1_1_SubscribeFlags) {
  // [MQTT-3.8.1-1] Bits 3,2,1 and 0 of the Fixed Header of the SUBSCRIBE packet are reserved and
  // MUST be set to 0,0,1 and 0 respectively.
  const std::string body = Bytes({0x00, 0x01, 0x00, 0x00, 0x01}) + "a" + Bytes({0x01});
  EXPECT_EQ(DecodeRaw(Bytes({0x80, static_cast<int>(body.size())}) + body),
            ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size())}) + body), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_10_1_1_UnsubscribeFlags) {
  // [MQTT-3.10.1-1] Bits 3,2,1 and 0 of the Fixed Header of the UNSUBSCRIBE packet are reserved
  // and MUST be set to 0,0,1 and 0 respectively.
  const std::string body = Bytes({0x00, 0x01, 0x00, 0x00, 0x01}) + "a";
  EXPECT_EQ(DecodeRaw(Bytes({0xA0, static_cast<int>(body.size())}) + body),
            ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(Bytes({0xA2, static_cast<int>(body.size())}) + body), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_2_2_1_3_PacketIdentifierNonZero) {
  // [MQTT-2.2.1-3] Each time a Client sends a new SUBSCRIBE, UNSUBSCRIBE, or PUBLISH (where QoS >
  // 0) Control Packet it MUST assign it a non-zero Packet Identifier that is currently unused.
  EXPECT_EQ(DecodeRaw(Bytes({0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x00, 0x00})),
            ReasonCode::kProtocolError);
  EXPECT_EQ(DecodeRaw(Bytes({0x40, 0x02, 0x00, 0x00})), ReasonCode::kProtocolError);
}

TEST(Conformance, MQTT_3_1_0_1_FirstPacketMustBeConnect) {
  // [MQTT-3.1.0-1] After a Network Connection is established by a Client to a Server, the first
  // packet sent from the Client to the Server MUST be a CONNECT packet.
  Decoder d;  // server side: version unknown
  d.Feed(Bytes({0xC0, 0x00}));
  auto r = d.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kProtocolError);
}

TEST(Conformance, MQTT_3_1_2_1_ProtocolName) {
  // [MQTT-3.1.2-1] The protocol name MUST be the UTF-8 String "MQTT". If the Server does not
  // want to accept the CONNECT, and wishes to reveal that it is an MQTT Server it MAY send a
  // CONNACK packet with Reason Code of 0x84 (Unsupported Protocol Version), and then it MUST
  // close the Network Connection.
  std::string c = ConnectWith(0x02, Bytes({0, 1, 'x'}));
  c[6] = 'X';  // "MQTX"
  EXPECT_EQ(DecodeRaw(c), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_1_2_2_UnsupportedProtocolVersion) {
  // [MQTT-3.1.2-2] The Server MAY respond to the CONNECT packet with a CONNACK packet with Reason
  // Code 0x84 (Unsupported Protocol Version) and then MUST close the Network Connection.
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02, Bytes({0, 1, 'x'}), 6)),
            ReasonCode::kUnsupportedProtocolVersion);
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02, Bytes({0, 1, 'x'}), 3)),
            ReasonCode::kUnsupportedProtocolVersion);
  EXPECT_EQ(ToV311ConnackCode(ReasonCode::kUnsupportedProtocolVersion), 1);
}

TEST(Conformance, MQTT_3_1_2_3_ConnectReservedFlag) {
  // [MQTT-3.1.2-3] The Server MUST validate that the reserved flag in the CONNECT packet is set to
  // 0.
  EXPECT_EQ(DecodeRaw(ConnectWith(0x03, Bytes({0, 1, 'x'}))), ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02, Bytes({0, 1, 'x'}))), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_1_2_11_WillQosZeroWithoutWillFlag) {
  // [MQTT-3.1.2-11] If the Will Flag is set to 0, then the Will QoS MUST be set to 0 (0x00).
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x08, Bytes({0, 1, 'x'}))), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_1_2_12_WillQosNotThree) {
  // [MQTT-3.1.2-12] If the Will Flag is set to 1, the value of Will QoS can be 0, 1, or 2. A
  // value of 3 (0x03) is a Malformed Packet.
  const std::string will = Bytes({0, 1, 'x', 0, 0, 1, 't', 0, 0});
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x04 | 0x18, will)), ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x04 | 0x10, will)), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_1_2_13_WillRetainZeroWithoutWillFlag) {
  // [MQTT-3.1.2-13] If the Will Flag is set to 0, then Will Retain MUST be set to 0.
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x20, Bytes({0, 1, 'x'}))), ReasonCode::kMalformedPacket);
}

TEST(Conformance, V311_MQTT_3_1_2_22_PasswordRequiresUserName) {
  // MQTT 3.1.1 [MQTT-3.1.2-22] If the User Name Flag is set to 0, the Password Flag MUST be set
  // to 0. (MQTT 5.0 allows a password without a user name.)
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x40, Bytes({0, 1, 'x', 0, 1, 'p'}), 4), kMqtt311),
            ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(ConnectWith(0x02 | 0x40, Bytes({0, 1, 'x', 0, 1, 'p'}), 5)),
            ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_2_2_1_ConnackReservedBits) {
  // [MQTT-3.2.2-1] Byte 1 is the "Connect Acknowledge Flags". Bits 7-1 are reserved and MUST be
  // set to 0.
  EXPECT_EQ(DecodeRaw(Bytes({0x20, 0x03, 0x02, 0x00, 0x00})), ReasonCode::kMalformedPacket);
  EXPECT_EQ(DecodeRaw(Bytes({0x20, 0x03, 0x01, 0x00, 0x00})), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_3_1_2_DupZeroForQos0) {
  // [MQTT-3.3.1-2] The DUP flag MUST be set to 0 for all QoS 0 messages.
  EXPECT_EQ(DecodeRaw(Bytes({0x38, 0x04, 0x00, 0x01, 'a', 0x00})), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_3_1_4_PublishQosNotThree) {
  // [MQTT-3.3.1-4] A PUBLISH Packet MUST NOT have both QoS bits set to 1. If a Server or Client
  // receives a PUBLISH packet which has both QoS bits set to 1 it is a Malformed Packet.
  EXPECT_EQ(DecodeRaw(Bytes({0x36, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00})),
            ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_3_2_2_TopicNameWithoutWildcards) {
  // [MQTT-3.3.2-2] The Topic Name in the PUBLISH packet MUST NOT contain wildcard characters.
  EXPECT_EQ(DecodeRaw(PublishWithTopic("a/+")), ReasonCode::kTopicNameInvalid);
  EXPECT_EQ(DecodeRaw(PublishWithTopic("a/#")), ReasonCode::kTopicNameInvalid);
  EXPECT_EQ(ValidateTopicName("a/+/b"), ReasonCode::kTopicNameInvalid);
  EXPECT_EQ(ValidateTopicName("a/b"), ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_3_2_8_TopicAliasNotZero) {
  // [MQTT-3.3.2-8] A sender MUST NOT send a PUBLISH packet containing a Topic Alias which has the
  // value 0.
  EXPECT_EQ(DecodeRaw(Bytes({0x30, 0x08, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x00, 'x'})),
            ReasonCode::kProtocolError);
  Publish p;
  p.topic = "a";
  p.properties.topic_alias = 0;
  std::string out;
  EXPECT_FALSE(Encode(p, kMqtt5, &out).ok());
}

TEST(Conformance, EmptyTopicNeedsTopicAlias) {
  // 3.3.2.1: It is a Protocol Error if the Topic Name is zero length and there is no Topic Alias.
  EXPECT_EQ(DecodeRaw(PublishWithTopic("")), ReasonCode::kProtocolError);
  EXPECT_EQ(DecodeRaw(Bytes({0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'x'})),
            ReasonCode::kSuccess);
  // 3.1.1 has no topic aliases: [MQTT-4.7.3-1] Topic Names MUST be at least one character long.
  EXPECT_EQ(DecodeRaw(PublishWithTopic("", kMqtt311), kMqtt311), ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_8_3_2_SubscribeNeedsTopicFilter) {
  // [MQTT-3.8.3-2] The Payload MUST contain at least one Topic Filter and Subscription Options
  // pair. A SUBSCRIBE packet with no Payload is a Protocol Error.
  EXPECT_EQ(DecodeRaw(Bytes({0x82, 0x03, 0x00, 0x01, 0x00})), ReasonCode::kProtocolError);
}

TEST(Conformance, MQTT_3_8_3_4_NoLocalOnSharedSubscription) {
  // [MQTT-3.8.3-4] It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription.
  const std::string filter = "$share/g/a";
  std::string body = Bytes({0x00, 0x01, 0x00, 0x00, static_cast<int>(filter.size())}) + filter;
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size() + 1)}) + body + Bytes({0x05})),
            ReasonCode::kProtocolError);
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size() + 1)}) + body + Bytes({0x01})),
            ReasonCode::kSuccess);
}

TEST(Conformance, MQTT_3_8_3_5_SubscriptionOptionsReservedBits) {
  // [MQTT-3.8.3-5] The Server MUST treat a SUBSCRIBE packet as malformed if any of Reserved bits
  // in the Payload are non-zero.
  const std::string body = Bytes({0x00, 0x01, 0x00, 0x00, 0x01}) + "a";
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size() + 1)}) + body + Bytes({0x41})),
            ReasonCode::kMalformedPacket);
  // Retain Handling 3 is a Protocol Error (3.8.3.1).
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size() + 1)}) + body + Bytes({0x31})),
            ReasonCode::kProtocolError);
  // 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits are reserved.
  const std::string body4 = Bytes({0x00, 0x01, 0x00, 0x01}) + "a";
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body4.size() + 1)}) + body4 + Bytes({0x04}),
                      kMqtt311),
            ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_3_10_3_2_UnsubscribeNeedsTopicFilter) {
  // [MQTT-3.10.3-2] The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic Filter.
  EXPECT_EQ(DecodeRaw(Bytes({0xA2, 0x03, 0x00, 0x01, 0x00})), ReasonCode::kProtocolError);
}

TEST(Conformance, PropertyNotAllowedIsProtocolError) {
  // 2.2.2.2: a property not listed for the packet type. Topic Alias (0x23) in a CONNECT:
  const std::string props = Bytes({0x03, 0x23, 0x00, 0x01});
  std::string body = Bytes({0, 4}) + "MQTT" + Bytes({5, 0x02, 0, 60}) + props + Bytes({0, 1, 'x'});
  EXPECT_EQ(DecodeRaw(Bytes({0x10, static_cast<int>(body.size())}) + body),
            ReasonCode::kProtocolError);
}

TEST(Conformance, PropertyIncludedTwiceIsProtocolError) {
  // 3.1.2.11.2: It is a Protocol Error to include the Session Expiry Interval more than once.
  const std::string props = Bytes({0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2});
  std::string body = Bytes({0, 4}) + "MQTT" + Bytes({5, 0x02, 0, 60}) + props + Bytes({0, 1, 'x'});
  EXPECT_EQ(DecodeRaw(Bytes({0x10, static_cast<int>(body.size())}) + body),
            ReasonCode::kProtocolError);
  // User Property may appear more than once.
  const std::string users = Bytes({0x0E, 0x26, 0, 1, 'k', 0, 1, 'v', 0x26, 0, 1, 'k', 0, 1, 'v'});
  body = Bytes({0, 4}) + "MQTT" + Bytes({5, 0x02, 0, 60}) + users + Bytes({0, 1, 'x'});
  EXPECT_EQ(DecodeRaw(Bytes({0x10, static_cast<int>(body.size())}) + body), ReasonCode::kSuccess);
}

TEST(Conformance, ReceiveMaximumZeroIsProtocolError) {
  // 3.1.2.11.3: It is a Protocol Error ... for the Receive Maximum value to be 0.
  const std::string props = Bytes({0x03, 0x21, 0x00, 0x00});
  std::string body = Bytes({0, 4}) + "MQTT" + Bytes({5, 0x02, 0, 60}) + props + Bytes({0, 1, 'x'});
  EXPECT_EQ(DecodeRaw(Bytes({0x10, static_cast<int>(body.size())}) + body),
            ReasonCode::kProtocolError);
}

TEST(Conformance, SubscriptionIdentifierZeroIsProtocolError) {
  // 3.8.2.1.2: It is a Protocol Error if the Subscription Identifier has a value of 0.
  std::string body = Bytes({0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01}) + "a" + Bytes({0x00});
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size())}) + body),
            ReasonCode::kProtocolError);
}

TEST(Conformance, MaximumPacketSizeExceededIsPacketTooLarge) {
  // 3.1.2.11.4 / 4.13: a packet larger than the Maximum Packet Size the receiver announced is
  // answered with DISCONNECT Reason Code 0x95 (Packet too large).
  Decoder d({.max_packet_size = 5, .protocol_version = kMqtt5});
  d.Feed(PublishWithTopic("abc"));
  auto r = d.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ToReasonCode(r.error()), ReasonCode::kPacketTooLarge);
}

TEST(Conformance, MQTT_4_7_1_1_MultiLevelWildcardLast) {
  // [MQTT-4.7.1-1] The multi-level wildcard character MUST be specified either on its own or
  // following a topic level separator. In either case it MUST be the last character specified in
  // the Topic Filter.
  EXPECT_EQ(ValidateTopicFilter("#"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("a/#"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("a/#/b"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("a#"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("a/b#"), ReasonCode::kTopicFilterInvalid);
}

TEST(Conformance, MQTT_4_7_1_2_SingleLevelWildcardWholeLevel) {
  // [MQTT-4.7.1-2] The single-level wildcard can be used at any level in the Topic Filter,
  // including first and last levels. Where it is used, it MUST occupy an entire level of the
  // filter.
  EXPECT_EQ(ValidateTopicFilter("+"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("+/a/+"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("a/+/#"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("a+"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("a/b+/c"), ReasonCode::kTopicFilterInvalid);
}

TEST(Conformance, MQTT_4_7_2_1_DollarTopicsNotMatchedByLeadingWildcard) {
  // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a wildcard character (#
  // or +) with Topic Names beginning with a $ character.
  EXPECT_FALSE(TopicMatches("#", "$SYS/broker/uptime"));
  EXPECT_FALSE(TopicMatches("+/broker/uptime", "$SYS/broker/uptime"));
  EXPECT_TRUE(TopicMatches("$SYS/#", "$SYS/broker/uptime"));
  EXPECT_TRUE(TopicMatches("$SYS/+/uptime", "$SYS/broker/uptime"));
  EXPECT_TRUE(TopicMatches("a/#", "a/$b"));
}

TEST(Conformance, MQTT_4_7_3_1_TopicsAtLeastOneCharacter) {
  // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
  EXPECT_EQ(ValidateTopicName(""), ReasonCode::kTopicNameInvalid);
  EXPECT_EQ(ValidateTopicFilter(""), ReasonCode::kTopicFilterInvalid);
  const std::string body = Bytes({0x00, 0x01, 0x00, 0x00, 0x00, 0x01});
  EXPECT_EQ(DecodeRaw(Bytes({0x82, static_cast<int>(body.size())}) + body),
            ReasonCode::kMalformedPacket);
}

TEST(Conformance, MQTT_4_7_3_3_TopicLengthLimit) {
  // [MQTT-4.7.3-3] Topic Names and Topic Filters are UTF-8 Encoded Strings; they MUST NOT encode
  // to more than 65,535 bytes.
  EXPECT_EQ(ValidateTopicName(std::string(65535, 'a')), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicName(std::string(65536, 'a')), ReasonCode::kTopicNameInvalid);
  EXPECT_EQ(ValidateTopicFilter(std::string(65536, 'a')), ReasonCode::kTopicFilterInvalid);
}

TEST(Conformance, MQTT_4_8_2_1_SharedSubscriptionShareName) {
  // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST start with $share/ and MUST contain a
  // ShareName that is at least one character long.
  EXPECT_EQ(ValidateTopicFilter("$share/group/fan/#"), ReasonCode::kSuccess);
  EXPECT_EQ(ValidateTopicFilter("$share//fan/#"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("$share/group"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("$share/group/"), ReasonCode::kTopicFilterInvalid);
  auto s = ParseSharedSubscription("$share/group/fan/+/x");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->share_name, "group");
  EXPECT_EQ(s->filter, "fan/+/x");
  EXPECT_EQ(MatchingFilter("$share/group/fan/+/x"), "fan/+/x");
  EXPECT_EQ(MatchingFilter("fan/+/x"), "fan/+/x");
}

TEST(Conformance, MQTT_4_8_2_2_ShareNameCharacters) {
  // [MQTT-4.8.2-2] The ShareName MUST NOT contain the characters "/", "+" or "#", but MUST be
  // followed by a "/" character. This "/" character MUST be followed by a Topic Filter.
  EXPECT_EQ(ValidateTopicFilter("$share/gr+oup/a"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("$share/gr#/a"), ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(ValidateTopicFilter("$share/g/a/#/b"), ReasonCode::kTopicFilterInvalid);
  EXPECT_FALSE(ParseSharedSubscription("$share/+/a"));
}

}  // namespace
}  // namespace aiot::mqtt
