#pragma once

// The on-disk format of DiskBuffer (disk_buffer.h) (sans-I/O: bytes in, records out). A segment
// file is the 8-byte magic "AIOTSEG1" followed by frames:
//
//   u32 length (of what follows the CRC) | u32 CRC32C (Castagnoli) of it | u64 seq |
//   i64 append time (ms since the epoch) | data (length - 16 bytes)
//
// little-endian. Sequence numbers increase by one from frame to frame. Any file is hostile: the
// reader stops at the first frame that is truncated, too long, fails its CRC or breaks the
// sequence, and reports where (the "valid prefix"), so the caller can truncate a torn tail.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/crc32c.h"

namespace aiot::disk {

inline constexpr std::string_view kSegmentMagic = "AIOTSEG1";
inline constexpr size_t kFrameHeaderBytes = 8;  // length + CRC
inline constexpr size_t kFrameFixedBytes = 16;  // seq + time
// The largest frame a reader accepts (the buffer refuses larger records).
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;

// CRC32C (Castagnoli): base/crc32c.h.
using ::aiot::Crc32c;

// Appends one frame for `data` to `out`.
void EncodeFrame(uint64_t seq, int64_t time_ms, std::string_view data, std::string* out);
inline size_t FrameSize(size_t data_bytes) {
  return kFrameHeaderBytes + kFrameFixedBytes + data_bytes;
}

struct SegmentRecord {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string_view data;  // points into the parsed bytes
};

enum class SegmentEnd {
  kClean,      // every byte was a valid frame
  kTruncated,  // the last frame is incomplete (a torn write)
  kBadLength,  // a length above max_frame or below the fixed part
  kBadCrc,     // a frame's CRC does not match
  kBadSeq,     // a frame's sequence number is not the previous one + 1
  kBadMagic,   // the file does not start with the magic
};
const char* SegmentEndName(SegmentEnd e);

struct ParsedSegment {
  std::vector<SegmentRecord> records;
  SegmentEnd end = SegmentEnd::kClean;
  // Bytes of the file that are valid (magic + whole good frames); the rest is to be truncated.
  size_t valid_bytes = 0;
};

// Parses a whole segment file's bytes. `max_frame` bounds a frame's length field.
ParsedSegment ParseSegment(std::string_view bytes, uint32_t max_frame = kMaxFrameBytes);

}  // namespace aiot::disk
