#include "kafka/record.h"

#include <fmt/format.h>

#include "base/errc.h"

namespace aiot::kafka {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out->push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
  }
}

void PutString(std::string* out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  bool Get(T* v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      x |= static_cast<uint64_t>(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    *v = static_cast<T>(x);
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || b_.size() - pos_ < n) return false;
    s->assign(b_.substr(pos_, n));
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

std::string EncodeRecord(const BridgeRecord& r) {
  std::string out;
  size_t size = 1 + 8 + 1 + 16 + r.topic.size() + r.value.size() + (r.key ? r.key->size() : 0);
  for (const Header& h : r.headers) size += 8 + h.name.size() + h.value.size();
  out.reserve(size);
  out.push_back(1);
  Put<int64_t>(&out, r.timestamp_ms);
  out.push_back(r.key ? 1 : 0);
  PutString(&out, r.topic);
  PutString(&out, r.key ? *r.key : std::string_view());
  PutString(&out, r.value);
  Put<uint32_t>(&out, static_cast<uint32_t>(r.headers.size()));
  for (const Header& h : r.headers) {
    PutString(&out, h.name);
    PutString(&out, h.value);
  }
  return out;
}

Result<BridgeRecord> DecodeRecord(std::string_view bytes) {
  Reader in(bytes);
  uint8_t version = 0, has_key = 0;
  BridgeRecord r;
  std::string key;
  if (!in.Get(&version)) return Corrupt("empty");
  if (version != 1) return Corrupt(fmt::format("unknown version {}", version));
  if (!in.Get(&r.timestamp_ms) || !in.Get(&has_key) || has_key > 1 || !in.GetString(&r.topic) ||
      !in.GetString(&key) || !in.GetString(&r.value)) {
    return Corrupt("truncated");
  }
  if (has_key) {
    r.key = std::move(key);
  } else if (!key.empty()) {
    return Corrupt("a key without the key flag");
  }
  uint32_t n = 0;
  if (!in.Get(&n) || n > in.remaining() / 8) return Corrupt("bad header count");
  r.headers.resize(n);
  for (Header& h : r.headers) {
    if (!in.GetString(&h.name) || !in.GetString(&h.value)) return Corrupt("truncated header");
  }
  if (!in.done()) return Corrupt("trailing bytes");
  if (r.topic.empty()) return Corrupt("empty topic");
  return r;
}

}  // namespace aiot::kafka
