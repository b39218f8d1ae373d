#pragma once

// One message of a bridge's store-and-forward buffer: the data of a segment frame
// (base/disk_segment.h gives the frame its length, CRC32C, sequence number and time). Sans-I/O.
//
//   u8 version (1) | u8 flags (bits 0-1 QoS, bit 2 retain, others 0) | u16 topic length (LE) |
//   topic (the remote topic, UTF-8) | payload (the rest)
//
// Buffer files are hostile input: DecodeRecord refuses anything else with a reason.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aiot::mqtt::bridge {

struct BufferedMessage {
  std::string_view topic;  // point into the decoded bytes
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
};

// Appends the record of `m` to `out`. REQUIRES: topic at most 65535 bytes, qos <= 2.
void EncodeRecord(const BufferedMessage& m, std::string* out);
// invalid_argument (with the reason) unless `bytes` is one well-formed record with a valid topic
// name.
Result<BufferedMessage> DecodeRecord(std::string_view bytes);

}  // namespace aiot::mqtt::bridge
