#pragma once

// A Kafka record as the bridge keeps it in the disk buffer, and its byte encoding (bounds-checked
// on decode: the buffer's files are hostile input).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kafka/client.h"

namespace aiot::kafka {

struct BridgeRecord {
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;
  bool operator==(const BridgeRecord&) const = default;
};

// version byte 1 | i64 timestamp | u8 has key | str topic | str key | str value | u32 header
// count | (str name, str value)*; str = u32 length + bytes; little-endian.
std::string EncodeRecord(const BridgeRecord& r);
// The same bytes from views, appended to `*out`: EncodeRecord without a BridgeRecord.
void EncodeRecordTo(std::string_view topic, std::optional<std::string_view> key,
                    std::string_view value, int64_t timestamp_ms,
                    std::span<const HeaderView> headers, std::string* out);
// errc::corrupted with what is wrong.
Result<BridgeRecord> DecodeRecord(std::string_view bytes);

// A buffered record decoded in place (the producer thread's per-record path: no copies, no
// allocation once `headers` has grown): views into the encoded bytes, which must outlive it.
struct RecordView {
  std::string_view topic;
  std::optional<std::string_view> key;
  std::string_view value;
  int64_t timestamp_ms = 0;
};
// DecodeRecord's checks and errors; `*headers` is cleared and filled with views.
Status DecodeRecordView(std::string_view bytes, RecordView* out, std::vector<HeaderView>* headers);

}  // namespace aiot::kafka
