#include "base/disk_segment.h"

#include <array>
#include <cstring>

namespace aiot::disk {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) {
    b[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
  }
  out->append(b, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

void EncodeFrame(uint64_t seq, int64_t time_ms, std::string_view data, std::string* out) {
  const size_t start = out->size();
  Put<uint32_t>(out, static_cast<uint32_t>(kFrameFixedBytes + data.size()));
  Put<uint32_t>(out, 0);  // CRC, below
  Put<uint64_t>(out, seq);
  Put<uint64_t>(out, static_cast<uint64_t>(time_ms));
  out->append(data);
  const uint32_t crc = Crc32c(std::string_view(*out).substr(start + kFrameHeaderBytes));
  for (size_t i = 0; i < 4; ++i) (*out)[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

const char* SegmentEndName(SegmentEnd e) {
  switch (e) {
    case SegmentEnd::kClean:
      return "clean";
    case SegmentEnd::kTruncated:
      return "truncated";
    case SegmentEnd::kBadLength:
      return "bad_length";
    case SegmentEnd::kBadCrc:
      return "bad_crc";
    case SegmentEnd::kBadSeq:
      return "bad_seq";
    case SegmentEnd::kBadMagic:
      return "bad_magic";
  }
  return "unknown";
}

ParsedSegment ParseSegment(std::string_view bytes, uint32_t max_frame) {
  ParsedSegment out;
  if (bytes.size() < kSegmentMagic.size()) {
    out.end = bytes.empty() || kSegmentMagic.starts_with(bytes) ? SegmentEnd::kTruncated
                                                                : SegmentEnd::kBadMagic;
    return out;
  }
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
    out.end = SegmentEnd::kBadMagic;
    return out;
  }
  size_t pos = kSegmentMagic.size();
  out.valid_bytes = pos;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < kFrameHeaderBytes) {
      out.end = SegmentEnd::kTruncated;
      return out;
    }
    const uint32_t len = Get<uint32_t>(bytes.data() + pos);
    const uint32_t crc = Get<uint32_t>(bytes.data() + pos + 4);
    if (len < kFrameFixedBytes || len > max_frame) {
      out.end = SegmentEnd::kBadLength;
      return out;
    }
    if (bytes.size() - pos - kFrameHeaderBytes < len) {
      out.end = SegmentEnd::kTruncated;
      return out;
    }
    const std::string_view body = bytes.substr(pos + kFrameHeaderBytes, len);
    if (Crc32c(body) != crc) {
      out.end = SegmentEnd::kBadCrc;
      return out;
    }
    SegmentRecord r;
    r.seq = Get<uint64_t>(body.data());
    r.time_ms = Get<int64_t>(body.data() + 8);
    r.data = body.substr(kFrameFixedBytes);
    if (!out.records.empty() && r.seq != out.records.back().seq + 1) {
      out.end = SegmentEnd::kBadSeq;
      return out;
    }
    out.records.push_back(r);
    pos += kFrameHeaderBytes + len;
    out.valid_bytes = pos;
  }
  return out;
}

}  // namespace aiot::disk
