#include "mqtt/bridge/record.h"

#include <gtest/gtest.h>

#include <string>

namespace aiot::mqtt::bridge {
namespace {

TEST(BridgeRecord, RoundTrips) {
  for (uint8_t qos : {0, 1, 2}) {
    for (bool retain : {false, true}) {
      std::string bytes;
      EncodeRecord({.topic = "plant/a/b",
                    .payload = std::string("\0x\xff", 3),
                    .qos = qos,
                    .retain = retain},
                   &bytes);
      auto m = DecodeRecord(bytes);
      ASSERT_TRUE(m.ok()) << m.status().message();
      EXPECT_EQ(m->topic, "plant/a/b");
      EXPECT_EQ(m->payload, std::string("\0x\xff", 3));
      EXPECT_EQ(m->qos, qos);
      EXPECT_EQ(m->retain, retain);
    }
  }
}

TEST(BridgeRecord, RefusesMalformedRecords) {
  std::string good;
  EncodeRecord({.topic = "t", .payload = "p", .qos = 1}, &good);
  ASSERT_TRUE(DecodeRecord(good).ok());
  EXPECT_FALSE(DecodeRecord("").ok());
  EXPECT_FALSE(DecodeRecord(good.substr(0, 3)).ok());
  std::string v = good;
  v[0] = 2;  // unknown version
  EXPECT_FALSE(DecodeRecord(v).ok());
  std::string q = good;
  q[1] = 3;  // QoS 3
  EXPECT_FALSE(DecodeRecord(q).ok());
  std::string f = good;
  f[1] = 0x11;  // unknown flag
  EXPECT_FALSE(DecodeRecord(f).ok());
  std::string l = good;
  l[2] = 9;  // topic longer than the record
  EXPECT_FALSE(DecodeRecord(l).ok());
  std::string w;
  EncodeRecord({.topic = "a/+", .payload = "", .qos = 0}, &w);  // a wildcard is no topic name
  EXPECT_FALSE(DecodeRecord(w).ok());
  std::string e;
  EncodeRecord({.topic = "", .payload = "x", .qos = 0}, &e);
  EXPECT_FALSE(DecodeRecord(e).ok());
}

}  // namespace
}  // namespace aiot::mqtt::bridge
