#include "mqtt/bridge/record.h"

#include "base/errc.h"
#include "mqtt/protocol/topic.h"

namespace aiot::mqtt::bridge {
namespace {
constexpr uint8_t kVersion = 1;
constexpr size_t kHeader = 4;
}  // namespace

void EncodeRecord(const BufferedMessage& m, std::string* out) {
  const size_t n = m.topic.size();
  out->push_back(static_cast<char>(kVersion));
  out->push_back(static_cast<char>((m.qos & 3) | (m.retain ? 4 : 0)));
  out->push_back(static_cast<char>(n & 0xff));
  out->push_back(static_cast<char>((n >> 8) & 0xff));
  out->append(m.topic);
  out->append(m.payload);
}

Result<BufferedMessage> DecodeRecord(std::string_view bytes) {
  auto bad = [](const char* why) { return Status(errc::invalid_argument, why); };
  if (bytes.size() < kHeader) return bad("bridge record: shorter than its header");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != kVersion) return bad("bridge record: unknown version");
  if ((p[1] & ~7u) != 0 || (p[1] & 3) == 3) return bad("bridge record: bad flags");
  const size_t n = p[2] | (static_cast<size_t>(p[3]) << 8);
  if (n > bytes.size() - kHeader) return bad("bridge record: topic beyond the record");
  BufferedMessage m;
  m.qos = p[1] & 3;
  m.retain = (p[1] & 4) != 0;
  m.topic = bytes.substr(kHeader, n);
  m.payload = bytes.substr(kHeader + n);
  if (ValidateTopicName(m.topic) != ReasonCode::kSuccess)
    return bad("bridge record: invalid topic name");
  return m;
}

}  // namespace aiot::mqtt::bridge
