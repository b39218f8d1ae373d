// libFuzzer target: any bytes as a segment file (the buffer's files are hostile input after a
// crash or tampering). The reader must never crash, never read out of bounds, and what it accepts
// must be exactly what re-encoding the accepted records gives back; each accepted record is then
// decoded as a buffered Kafka record, which either decodes and re-encodes to the same bytes or is
// refused, by DecodeRecord and by the in-place DecodeRecordView alike.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/record.h"
#include "kafka/segment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiot::kafka;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ParsedSegment p = ParseSegment(bytes, 1 << 20);
  if (p.valid_bytes > bytes.size()) std::abort();
  if (!p.records.empty() || p.valid_bytes > 0) {
    std::string again(kSegmentMagic);
    for (const SegmentRecord& r : p.records) EncodeFrame(r.seq, r.time_ms, r.data, &again);
    if (again != bytes.substr(0, p.valid_bytes)) std::abort();
  }
  std::vector<HeaderView> headers;
  for (const SegmentRecord& r : p.records) {
    auto rec = DecodeRecord(r.data);
    if (rec.ok() && EncodeRecord(*rec) != r.data) std::abort();
    // The in-place decoder (the producer thread's) accepts exactly the same records, and what it
    // gives re-encodes to the same bytes.
    RecordView v;
    const bool view_ok = DecodeRecordView(r.data, &v, &headers).ok();
    if (view_ok != rec.ok()) std::abort();
    if (view_ok) {
      std::string again;
      EncodeRecordTo(v.topic, v.key, v.value, v.timestamp_ms, headers, &again);
      if (again != r.data) std::abort();
    }
  }
  return 0;
}
