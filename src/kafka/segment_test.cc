#include "kafka/segment.h"

#include <gtest/gtest.h>

namespace aiot::kafka {
namespace {

std::string Segment(int n) {
  std::string s(kSegmentMagic);
  for (int i = 0; i < n; ++i) EncodeFrame(10 + i, 1000 + i, "record-" + std::to_string(i), &s);
  return s;
}

TEST(KafkaSegment, Crc32cKnownValue) {
  // The CRC32C check value (RFC 3720 appendix B.4: "123456789" -> 0xE3069283).
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(KafkaSegment, RoundTrip) {
  const std::string s = Segment(3);
  ParsedSegment p = ParseSegment(s);
  EXPECT_EQ(p.end, SegmentEnd::kClean);
  EXPECT_EQ(p.valid_bytes, s.size());
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[2].seq, 12u);
  EXPECT_EQ(p.records[2].time_ms, 1002);
  EXPECT_EQ(p.records[2].data, "record-2");
}

TEST(KafkaSegment, TornTailIsCutAtTheLastGoodFrame) {
  const std::string whole = Segment(3);
  const size_t two = Segment(2).size();
  for (size_t cut = two + 1; cut < whole.size(); ++cut) {
    ParsedSegment p = ParseSegment(std::string_view(whole).substr(0, cut));
    EXPECT_EQ(p.end, SegmentEnd::kTruncated) << cut;
    EXPECT_EQ(p.valid_bytes, two) << cut;
    EXPECT_EQ(p.records.size(), 2u) << cut;
  }
}

TEST(KafkaSegment, FlippedByteFailsTheCrc) {
  std::string s = Segment(3);
  s[s.size() - 2] ^= 0x20;
  ParsedSegment p = ParseSegment(s);
  EXPECT_EQ(p.end, SegmentEnd::kBadCrc);
  EXPECT_EQ(p.records.size(), 2u);
}

TEST(KafkaSegment, BadMagicLengthAndSequence) {
  EXPECT_EQ(ParseSegment("NOTASEGMENT").end, SegmentEnd::kBadMagic);
  EXPECT_EQ(ParseSegment("AIOT").end, SegmentEnd::kTruncated);
  std::string huge(kSegmentMagic);
  huge += std::string("\xff\xff\xff\x7f\0\0\0\0", 8);
  EXPECT_EQ(ParseSegment(huge).end, SegmentEnd::kBadLength);
  std::string gap(kSegmentMagic);
  EncodeFrame(1, 0, "a", &gap);
  EncodeFrame(3, 0, "b", &gap);
  ParsedSegment p = ParseSegment(gap);
  EXPECT_EQ(p.end, SegmentEnd::kBadSeq);
  EXPECT_EQ(p.records.size(), 1u);
}

}  // namespace
}  // namespace aiot::kafka
