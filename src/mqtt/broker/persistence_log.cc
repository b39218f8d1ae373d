// The log codec: records <-> frames, the model they rebuild and ReplayLog (persistence.h). No
// file or thread code: the aiot_mqtt_persist_log library, which the fuzz target links.
#include <algorithm>
#include <cstring>
#include <iterator>

#include "base/crc32c.h"
#include "base/errc.h"
#include "mqtt/broker/persistence.h"

namespace aiot::mqtt::broker {

namespace {

enum class RecordType : uint8_t {
  kSession = 1,
  kSessionEnd,
  kSubscribe,
  kUnsubscribe,
  kPublish,
  kEnqueue,
  kSent,
  kPubrec,
  kDone,
  kIncoming,
  kPubrel,
  kWill,
  kRetained,
  kOffline,
};

// ---- Encoding ----

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    auto u = static_cast<uint64_t>(v);
    char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<char>((u >> (8 * i)) & 0xFF);
    out_->append(b, sizeof(T));  // one append, not a push_back (and its capacity check) per byte
  }
  void Str(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  void OptStr(const std::optional<std::string>& s) {
    Put<uint8_t>(s ? 1 : 0);
    if (s) Str(*s);
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  T Get() {
    if (in_.size() < sizeof(T)) return Fail<T>();
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(sizeof(T));
    return static_cast<T>(v);
  }
  std::string Str() {
    uint32_t n = Get<uint32_t>();
    if (in_.size() < n) return Fail<std::string>();
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  // A wall-clock time in ns: from 1970 to about 2116 (2^62 ns), else corrupt, so that the
  // arithmetic on it (FromUnix, expiry deadlines) cannot overflow.
  int64_t UnixNs() {
    int64_t v = Get<int64_t>();
    if (v < 0 || v > (int64_t{1} << 62)) return Fail<int64_t>();
    return v;
  }
  std::optional<std::string> OptStr() {
    if (Get<uint8_t>() == 0) return std::nullopt;
    return Str();
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }

 private:
  template <typename T>
  T Fail() {
    ok_ = false;
    in_ = {};
    return T{};
  }
  std::string_view in_;
  bool ok_ = true;
};

// Monotonic message times become wall-clock ones on disk (and back), so that message expiry
// counts across a restart.
int64_t ToUnix(int64_t mono_ns, const Clock& c) {
  return c.NowNanos() - (c.MonotonicNanos() - mono_ns);
}
int64_t FromUnix(int64_t unix_ns, const Clock& c) {
  return c.MonotonicNanos() - (c.NowNanos() - unix_ns);
}

void PutMessage(Writer& w, const Message& m, const Clock& clock) {
  w.Put<uint64_t>(m.persist_id);
  w.Str(m.topic);
  w.Str(m.payload.view());
  w.Put<uint8_t>(m.qos);
  w.Put<uint8_t>(m.retain ? 1 : 0);
  w.Put<int64_t>(ToUnix(m.received_at_ns, clock));
  w.Put<uint64_t>(m.publisher);
  const Properties& p = m.properties;
  w.Put<uint8_t>(p.payload_format_indicator ? 1 : 0);
  if (p.payload_format_indicator) w.Put<uint8_t>(*p.payload_format_indicator);
  w.Put<uint8_t>(p.message_expiry_interval ? 1 : 0);
  if (p.message_expiry_interval) w.Put<uint32_t>(*p.message_expiry_interval);
  w.OptStr(p.content_type);
  w.OptStr(p.response_topic);
  w.OptStr(p.correlation_data);
  w.Put<uint32_t>(static_cast<uint32_t>(p.user_properties.size()));
  for (const auto& [k, v] : p.user_properties) {
    w.Str(k);
    w.Str(v);
  }
}

MessagePtr GetMessage(Reader& r, const Clock& clock) {
  auto m = std::make_shared<Message>();
  m->persist_id = r.Get<uint64_t>();
  m->topic = r.Str();
  m->payload = r.Str();
  m->qos = r.Get<uint8_t>();
  m->retain = r.Get<uint8_t>() != 0;
  m->received_at_ns = FromUnix(r.UnixNs(), clock);
  m->publisher = r.Get<uint64_t>();
  Properties& p = m->properties;
  if (r.Get<uint8_t>() != 0) p.payload_format_indicator = r.Get<uint8_t>();
  if (r.Get<uint8_t>() != 0) p.message_expiry_interval = r.Get<uint32_t>();
  p.content_type = r.OptStr();
  p.response_topic = r.OptStr();
  p.correlation_data = r.OptStr();
  uint32_t n = r.Get<uint32_t>();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    std::string k = r.Str();
    p.user_properties.emplace_back(std::move(k), r.Str());
  }
  return m;
}

void PutTarget(Writer& w, const PersistTarget& t) {
  w.Put<uint64_t>(t.key);
  w.Put<uint8_t>(t.qos);
  w.Put<uint8_t>(t.retain ? 1 : 0);
  w.Put<uint32_t>(static_cast<uint32_t>(t.subscription_ids.size()));
  for (uint32_t id : t.subscription_ids) w.Put<uint32_t>(id);
}

PersistTarget GetTarget(Reader& r) {
  PersistTarget t;
  t.key = r.Get<uint64_t>();
  t.qos = r.Get<uint8_t>();
  t.retain = r.Get<uint8_t>() != 0;
  uint32_t n = r.Get<uint32_t>();
  for (uint32_t i = 0; i < n && r.ok(); ++i) t.subscription_ids.push_back(r.Get<uint32_t>());
  return t;
}

struct Encoder {
  Writer& w;
  const Clock& clock;
  void Type(RecordType t) { w.Put<uint8_t>(static_cast<uint8_t>(t)); }
  void operator()(const RecSession& r) {
    Type(RecordType::kSession);
    w.Put<uint64_t>(r.key);
    w.Str(r.client_id);
    w.Put<uint32_t>(r.expiry_interval_s);
    w.Put<uint8_t>(r.protocol_version);
  }
  void operator()(const RecSessionEnd& r) {
    Type(RecordType::kSessionEnd);
    w.Put<uint64_t>(r.key);
  }
  void operator()(const RecSubscribe& r) {
    Type(RecordType::kSubscribe);
    w.Put<uint64_t>(r.key);
    w.Str(r.filter);
    const SubscriptionOptions& o = r.options;
    w.Put<uint8_t>(o.qos);
    w.Put<uint8_t>(o.no_local ? 1 : 0);
    w.Put<uint8_t>(o.retain_as_published ? 1 : 0);
    w.Put<uint8_t>(o.retain_handling);
    w.Put<uint32_t>(o.subscription_id);
  }
  void operator()(const RecUnsubscribe& r) {
    Type(RecordType::kUnsubscribe);
    w.Put<uint64_t>(r.key);
    w.Str(r.filter);
  }
  void operator()(const RecPublish& r) {
    Type(RecordType::kPublish);
    PutMessage(w, *r.msg, clock);
    w.Put<uint8_t>(r.retain_store ? 1 : 0);
    w.Put<uint64_t>(r.publisher);
    w.Put<uint16_t>(r.incoming_packet_id);
    w.Put<uint32_t>(static_cast<uint32_t>(r.targets.size()));
    for (const PersistTarget& t : r.targets) PutTarget(w, t);
  }
  void operator()(const RecEnqueue& r) {
    Type(RecordType::kEnqueue);
    PutMessage(w, *r.msg, clock);
    PutTarget(w, r.target);
  }
  void operator()(const RecSent& r) {
    Type(RecordType::kSent);
    w.Put<uint64_t>(r.key);
    w.Put<uint64_t>(r.msg_id);
    w.Put<uint16_t>(r.packet_id);
  }
  void operator()(const RecPubrec& r) {
    Type(RecordType::kPubrec);
    w.Put<uint64_t>(r.key);
    w.Put<uint16_t>(r.packet_id);
  }
  void operator()(const RecDone& r) {
    Type(RecordType::kDone);
    w.Put<uint64_t>(r.key);
    w.Put<uint64_t>(r.msg_id);
  }
  void operator()(const RecIncoming& r) {
    Type(RecordType::kIncoming);
    w.Put<uint64_t>(r.key);
    w.Put<uint16_t>(r.packet_id);
  }
  void operator()(const RecPubrel& r) {
    Type(RecordType::kPubrel);
    w.Put<uint64_t>(r.key);
    w.Put<uint16_t>(r.packet_id);
  }
  void operator()(const RecWill& r) {
    Type(RecordType::kWill);
    w.Put<uint64_t>(r.key);
    w.Put<uint8_t>(r.msg ? 1 : 0);
    if (r.msg) {
      PutMessage(w, *r.msg, clock);
      w.Put<int64_t>(r.due_unix_ns);
    }
  }
  void operator()(const RecRetained& r) {
    Type(RecordType::kRetained);
    PutMessage(w, *r.msg, clock);
  }
  void operator()(const RecOffline& r) {
    Type(RecordType::kOffline);
    w.Put<uint64_t>(r.key);
    w.Put<int64_t>(r.since_unix_ns);
  }
};

Status Corrupt(std::string_view what) { return Status(errc::corrupted, std::string(what)); }

}  // namespace

void EncodeRecord(const PersistRecord& r, const Clock& clock, std::string* out) {
  const size_t start = out->size();
  out->append(8, '\0');  // length and CRC, below
  Writer w(out);
  std::visit(Encoder{w, clock}, r);
  const auto len = static_cast<uint32_t>(out->size() - start - 8);
  const uint32_t crc = Crc32c(std::string_view(*out).substr(start + 8));
  for (size_t i = 0; i < 4; ++i) {
    (*out)[start + i] = static_cast<char>((len >> (8 * i)) & 0xFF);
    (*out)[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  }
}

Result<PersistRecord> DecodeRecord(std::string_view body, const Clock& clock) {
  Reader r(body);
  PersistRecord out;
  switch (static_cast<RecordType>(r.Get<uint8_t>())) {
    case RecordType::kSession: {
      RecSession s;
      s.key = r.Get<uint64_t>();
      s.client_id = r.Str();
      s.expiry_interval_s = r.Get<uint32_t>();
      s.protocol_version = r.Get<uint8_t>();
      out = std::move(s);
      break;
    }
    case RecordType::kSessionEnd:
      out = RecSessionEnd{r.Get<uint64_t>()};
      break;
    case RecordType::kSubscribe: {
      RecSubscribe s;
      s.key = r.Get<uint64_t>();
      s.filter = r.Str();
      s.options.qos = r.Get<uint8_t>();
      s.options.no_local = r.Get<uint8_t>() != 0;
      s.options.retain_as_published = r.Get<uint8_t>() != 0;
      s.options.retain_handling = r.Get<uint8_t>();
      s.options.subscription_id = r.Get<uint32_t>();
      out = std::move(s);
      break;
    }
    case RecordType::kUnsubscribe: {
      RecUnsubscribe u;
      u.key = r.Get<uint64_t>();
      u.filter = r.Str();
      out = std::move(u);
      break;
    }
    case RecordType::kPublish: {
      RecPublish p;
      p.msg = GetMessage(r, clock);
      p.retain_store = r.Get<uint8_t>() != 0;
      p.publisher = r.Get<uint64_t>();
      p.incoming_packet_id = r.Get<uint16_t>();
      uint32_t n = r.Get<uint32_t>();
      for (uint32_t i = 0; i < n && r.ok(); ++i) p.targets.push_back(GetTarget(r));
      out = std::move(p);
      break;
    }
    case RecordType::kEnqueue: {
      RecEnqueue e;
      e.msg = GetMessage(r, clock);
      e.target = GetTarget(r);
      out = std::move(e);
      break;
    }
    case RecordType::kSent: {
      RecSent s;
      s.key = r.Get<uint64_t>();
      s.msg_id = r.Get<uint64_t>();
      s.packet_id = r.Get<uint16_t>();
      out = s;
      break;
    }
    case RecordType::kPubrec: {
      RecPubrec p;
      p.key = r.Get<uint64_t>();
      p.packet_id = r.Get<uint16_t>();
      out = p;
      break;
    }
    case RecordType::kDone: {
      RecDone d;
      d.key = r.Get<uint64_t>();
      d.msg_id = r.Get<uint64_t>();
      out = d;
      break;
    }
    case RecordType::kIncoming: {
      RecIncoming i;
      i.key = r.Get<uint64_t>();
      i.packet_id = r.Get<uint16_t>();
      out = i;
      break;
    }
    case RecordType::kPubrel: {
      RecPubrel p;
      p.key = r.Get<uint64_t>();
      p.packet_id = r.Get<uint16_t>();
      out = p;
      break;
    }
    case RecordType::kWill: {
      RecWill w;
      w.key = r.Get<uint64_t>();
      if (r.Get<uint8_t>() != 0) {
        w.msg = GetMessage(r, clock);
        w.due_unix_ns = r.UnixNs();
      }
      out = std::move(w);
      break;
    }
    case RecordType::kRetained:
      out = RecRetained{GetMessage(r, clock)};
      break;
    case RecordType::kOffline: {
      RecOffline o;
      o.key = r.Get<uint64_t>();
      o.since_unix_ns = r.UnixNs();
      out = o;
      break;
    }
    default:
      return Corrupt("unknown record type");
  }
  if (!r.done()) return Corrupt(r.ok() ? "trailing bytes in a record" : "record cut short");
  return out;
}

// ---- PersistModel ----

PersistedSession* PersistModel::Find(SessionKey key) {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : &it->second;
}

void PersistModel::AddDelivery(SessionKey key, const MessagePtr& msg, const PersistTarget& t) {
  PersistedSession* s = Find(key);
  if (s == nullptr || t.qos == 0) return;
  uint64_t seq = s->next_seq++;
  PersistedDelivery& d = s->deliveries[seq];
  d.msg = msg;
  d.msg_id = msg->persist_id;
  d.qos = t.qos;
  d.retain = t.retain;
  d.subscription_ids = t.subscription_ids;
  s->seq_of[d.msg_id] = seq;
}

size_t PersistModel::deliveries() const {
  size_t n = 0;
  for (const auto& [k, s] : sessions_) n += s.deliveries.size();
  return n;
}

void PersistModel::Apply(const PersistRecord& rec) {
  auto find_delivery = [this](SessionKey key, uint64_t msg_id,
                              PersistedSession** session) -> PersistedDelivery* {
    PersistedSession* s = Find(key);
    *session = s;
    if (s == nullptr) return nullptr;
    auto it = s->seq_of.find(msg_id);
    if (it == s->seq_of.end()) return nullptr;
    return &s->deliveries[it->second];
  };
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, RecSession>) {
          max_key_ = std::max(max_key_, r.key);
          if (r.expiry_interval_s == 0) {
            sessions_.erase(r.key);
            return;
          }
          PersistedSession& s = sessions_[r.key];
          s.client_id = r.client_id;
          s.expiry_interval_s = r.expiry_interval_s;
          s.protocol_version = r.protocol_version;
          s.offline_since_unix_ns = 0;
        } else if constexpr (std::is_same_v<T, RecSessionEnd>) {
          sessions_.erase(r.key);
        } else if constexpr (std::is_same_v<T, RecSubscribe>) {
          if (PersistedSession* s = Find(r.key)) s->subscriptions[r.filter] = r.options;
        } else if constexpr (std::is_same_v<T, RecUnsubscribe>) {
          if (PersistedSession* s = Find(r.key)) s->subscriptions.erase(r.filter);
        } else if constexpr (std::is_same_v<T, RecPublish>) {
          max_msg_id_ = std::max(max_msg_id_, r.msg->persist_id);
          if (r.retain_store) {
            if (r.msg->payload.empty()) {
              retained_.erase(r.msg->topic);
            } else {
              retained_[r.msg->topic] = r.msg;
            }
          }
          if (r.incoming_packet_id != 0) {
            if (PersistedSession* s = Find(r.publisher)) s->incoming.insert(r.incoming_packet_id);
          }
          for (const PersistTarget& t : r.targets) AddDelivery(t.key, r.msg, t);
        } else if constexpr (std::is_same_v<T, RecEnqueue>) {
          max_msg_id_ = std::max(max_msg_id_, r.msg->persist_id);
          AddDelivery(r.target.key, r.msg, r.target);
        } else if constexpr (std::is_same_v<T, RecSent>) {
          PersistedSession* s;
          if (PersistedDelivery* d = find_delivery(r.key, r.msg_id, &s)) d->packet_id = r.packet_id;
        } else if constexpr (std::is_same_v<T, RecPubrec>) {
          PersistedSession* s = Find(r.key);
          if (s == nullptr) return;
          for (auto& [seq, d] : s->deliveries) {
            if (d.packet_id == r.packet_id && !d.pubrec) {
              d.pubrec = true;
              d.msg = nullptr;  // only PUBREL is resent now
              break;
            }
          }
        } else if constexpr (std::is_same_v<T, RecDone>) {
          PersistedSession* s = Find(r.key);
          if (s == nullptr) return;
          auto it = s->seq_of.find(r.msg_id);
          if (it == s->seq_of.end()) return;
          s->deliveries.erase(it->second);
          s->seq_of.erase(it);
        } else if constexpr (std::is_same_v<T, RecIncoming>) {
          if (PersistedSession* s = Find(r.key)) s->incoming.insert(r.packet_id);
        } else if constexpr (std::is_same_v<T, RecPubrel>) {
          if (PersistedSession* s = Find(r.key)) s->incoming.erase(r.packet_id);
        } else if constexpr (std::is_same_v<T, RecWill>) {
          if (PersistedSession* s = Find(r.key)) {
            s->will = r.msg;
            s->will_due_unix_ns = r.due_unix_ns;
          }
        } else if constexpr (std::is_same_v<T, RecRetained>) {
          max_msg_id_ = std::max(max_msg_id_, r.msg->persist_id);
          retained_[r.msg->topic] = r.msg;
        } else if constexpr (std::is_same_v<T, RecOffline>) {
          if (PersistedSession* s = Find(r.key)) s->offline_since_unix_ns = r.since_unix_ns;
        }
      },
      rec);
}

void PersistModel::Snapshot(const Clock& clock, std::string* out) const {
  for (const auto& [topic, msg] : retained_) EncodeRecord(RecRetained{msg}, clock, out);
  for (const auto& [key, s] : sessions_) {
    EncodeRecord(RecSession{key, s.client_id, s.expiry_interval_s, s.protocol_version}, clock, out);
    if (s.offline_since_unix_ns != 0)
      EncodeRecord(RecOffline{key, s.offline_since_unix_ns}, clock, out);
    for (const auto& [filter, o] : s.subscriptions)
      EncodeRecord(RecSubscribe{key, filter, o}, clock, out);
    for (uint16_t id : s.incoming) EncodeRecord(RecIncoming{key, id}, clock, out);
    for (const auto& [seq, d] : s.deliveries) {
      MessagePtr msg = d.msg;
      if (!msg) {  // PUBREC received: only the id matters now
        auto stub = std::make_shared<Message>();
        stub->persist_id = d.msg_id;
        stub->qos = d.qos;
        msg = std::move(stub);
      }
      EncodeRecord(RecEnqueue{msg, PersistTarget{key, d.qos, d.retain, d.subscription_ids}}, clock,
                   out);
      if (d.packet_id != 0) EncodeRecord(RecSent{key, d.msg_id, d.packet_id}, clock, out);
      if (d.pubrec) EncodeRecord(RecPubrec{key, d.packet_id}, clock, out);
    }
    if (s.will) EncodeRecord(RecWill{key, s.will, s.will_due_unix_ns}, clock, out);
  }
}

// ---- Replay ----

namespace {

uint32_t Le32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

// The frame at `at`: its record, or why it is not one. `*torn`: it runs past the end.
Result<PersistRecord> FrameAt(std::string_view bytes, size_t at, const Clock& clock, size_t* size,
                              bool* torn) {
  *torn = false;
  if (bytes.size() - at < 8) {
    *torn = true;
    return Corrupt("frame header cut short");
  }
  uint32_t len = Le32(bytes, at);
  uint32_t crc = Le32(bytes, at + 4);
  if (len == 0 || len > kMaxRecordBytes) return Corrupt("impossible frame length");
  if (bytes.size() - at - 8 < len) {
    *torn = true;
    return Corrupt("frame cut short");
  }
  std::string_view body = bytes.substr(at + 8, len);
  if (Crc32c(body) != crc) return Corrupt("CRC mismatch");
  *size = 8 + len;
  return DecodeRecord(body, clock);
}

// Whether a frame that checks out starts anywhere after `at`.
bool WholeFrameAfter(std::string_view bytes, size_t at, const Clock& clock) {
  for (size_t next = at + 1; next + 8 < bytes.size(); ++next) {
    size_t size = 0;
    bool torn = false;
    if (FrameAt(bytes, next, clock, &size, &torn).ok()) return true;
  }
  return false;
}

}  // namespace

Status ReplayLog(std::string_view bytes, bool recover, const Clock& clock, PersistModel* model,
                 LoadReport* report, size_t* valid_bytes) {
  if (bytes.substr(0, kLogMagic.size()) != kLogMagic)
    return Corrupt("not a broker persistence log (bad magic)");
  size_t at = kLogMagic.size();
  *valid_bytes = at;
  while (at < bytes.size()) {
    size_t size = 0;
    bool torn = false;
    Result<PersistRecord> rec = FrameAt(bytes, at, clock, &size, &torn);
    if (rec.ok()) {
      model->Apply(*rec);
      ++report->records;
      at += size;
      *valid_bytes = at;
      continue;
    }
    // A frame running past the end is a torn tail (the last write did not complete) only if
    // no whole frame follows; else its length field is damaged: corruption.
    if (torn && !WholeFrameAfter(bytes, at, clock)) {
      report->torn_bytes = bytes.size() - at;
      report->problems.push_back("offset " + std::to_string(at) + ": torn tail of " +
                                 std::to_string(bytes.size() - at) + " bytes cut (" +
                                 rec.status().message() + ")");
      break;
    }
    if (!recover) {
      return Status(errc::corrupted, "corrupt record at offset " + std::to_string(at) + ": " +
                                         rec.status().message() +
                                         " (start with --recover to skip corrupt records)");
    }
    // Recover: skip to the next offset where a whole frame checks out.
    size_t next = at + 1;
    for (; next < bytes.size(); ++next) {
      size_t s2 = 0;
      bool t2 = false;
      if (FrameAt(bytes, next, clock, &s2, &t2).ok()) break;
    }
    ++report->corrupt_frames;
    report->corrupt_bytes += next - at;
    report->problems.push_back("offset " + std::to_string(at) + ": " + rec.status().message() +
                               ", " + std::to_string(next - at) + " bytes skipped");
    at = next;
    *valid_bytes = at;
  }
  report->bytes = bytes.size();
  return Status::Ok();
}

}  // namespace aiot::mqtt::broker
