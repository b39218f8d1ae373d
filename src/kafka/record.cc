#include "kafka/record.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

#include "base/errc.h"

namespace aiot::kafka {
namespace {

// Little-endian on disk; on a little-endian host one memcpy (g++ 12 did not merge the byte loops:
// they were half of DecodeRecordView's instructions).
template <typename T>
char* PutAt(char* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i) {
      p[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
    }
  }
  return p + sizeof(T);
}

char* PutStringAt(char* p, std::string_view s) {
  p = PutAt<uint32_t>(p, static_cast<uint32_t>(s.size()));
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  bool Get(T* v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(v, b_.data() + pos_, sizeof(T));
    } else {
      uint64_t x = 0;
      for (size_t i = 0; i < sizeof(T); ++i) {
        x |= static_cast<uint64_t>(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
      }
      *v = static_cast<T>(x);
    }
    pos_ += sizeof(T);
    return true;
  }
  bool GetView(std::string_view* s) {
    uint32_t n = 0;
    if (!Get(&n) || b_.size() - pos_ < n) return false;
    *s = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

Status Corrupt(std::string_view what) {
  return Status(errc::corrupted, fmt::format("buffered record: {}", what));
}

}  // namespace

void EncodeRecordTo(std::string_view topic, std::optional<std::string_view> key,
                    std::string_view value, int64_t timestamp_ms,
                    std::span<const HeaderView> headers, std::string* out) {
  // The exact size, then written in place (per field, std::string::append's checks were most
  // of the encoding's cost on the broker's cores).
  size_t size = 1 + 8 + 1 + 16 + topic.size() + value.size() + (key ? key->size() : 0);
  for (const HeaderView& h : headers) size += 8 + h.name.size() + h.value.size();
  const size_t start = out->size();
  out->resize(start + size);
  char* p = out->data() + start;
  *p++ = 1;
  p = PutAt<int64_t>(p, timestamp_ms);
  *p++ = key ? 1 : 0;
  p = PutStringAt(p, topic);
  p = PutStringAt(p, key ? *key : std::string_view());
  p = PutStringAt(p, value);
  p = PutAt<uint32_t>(p, static_cast<uint32_t>(headers.size()));
  for (const HeaderView& h : headers) {
    p = PutStringAt(p, h.name);
    p = PutStringAt(p, h.value);
  }
}

std::string EncodeRecord(const BridgeRecord& r) {
  std::vector<HeaderView> headers;
  headers.reserve(r.headers.size());
  for (const Header& h : r.headers) headers.push_back({h.name, h.value});
  std::string out;
  EncodeRecordTo(r.topic, r.key ? std::optional<std::string_view>(*r.key) : std::nullopt, r.value,
                 r.timestamp_ms, headers, &out);
  return out;
}

Status DecodeRecordView(std::string_view bytes, RecordView* out, std::vector<HeaderView>* headers) {
  Reader in(bytes);
  uint8_t version = 0, has_key = 0;
  std::string_view key;
  headers->clear();
  if (!in.Get(&version)) return Corrupt("empty");
  if (version != 1) return Corrupt(fmt::format("unknown version {}", version));
  if (!in.Get(&out->timestamp_ms) || !in.Get(&has_key) || has_key > 1 || !in.GetView(&out->topic) ||
      !in.GetView(&key) || !in.GetView(&out->value)) {
    return Corrupt("truncated");
  }
  if (has_key) {
    out->key = key;
  } else if (!key.empty()) {
    return Corrupt("a key without the key flag");
  } else {
    out->key.reset();
  }
  uint32_t n = 0;
  if (!in.Get(&n) || n > in.remaining() / 8) return Corrupt("bad header count");
  headers->resize(n);
  for (HeaderView& h : *headers) {
    if (!in.GetView(&h.name) || !in.GetView(&h.value)) return Corrupt("truncated header");
  }
  if (!in.done()) return Corrupt("trailing bytes");
  if (out->topic.empty()) return Corrupt("empty topic");
  return {};
}

Result<BridgeRecord> DecodeRecord(std::string_view bytes) {
  RecordView v;
  std::vector<HeaderView> headers;
  if (Status s = DecodeRecordView(bytes, &v, &headers); !s.ok()) return s;
  BridgeRecord r;
  r.topic = std::string(v.topic);
  if (v.key) r.key = std::string(*v.key);
  r.value = std::string(v.value);
  r.timestamp_ms = v.timestamp_ms;
  r.headers.reserve(headers.size());
  for (const HeaderView& h : headers)
    r.headers.push_back({std::string(h.name), std::string(h.value)});
  return r;
}

}  // namespace aiot::kafka
