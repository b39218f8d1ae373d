// libFuzzer target for the broker's persistence log parser (persistence.h: ReplayLog, DecodeRecord,
// PersistModel::Apply). Input: one flags byte, then the log bytes after the magic.
//   bit 0: replay with `recover` (skip corrupt frames) instead of refusing;
//   bit 1: rewrite each frame's CRC to match its body first, so that the fuzzer reaches the
//          record decoder and the model instead of stopping at the checksum.
// Whatever the bytes: an error or a recovery, never a crash, an unbounded allocation or a hang.
// A log that replays is snapshotted, and the snapshot must replay to the same state.
//
// Seeds (fuzz_corpus/persist_log) are logs written by the encoder: run the target with
// AIOT_PERSIST_LOG_FUZZ_SEEDS=<dir> to (re)write them there.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/crc32c.h"
#include "mqtt/broker/persistence.h"

namespace {

using namespace aiot;
using namespace aiot::mqtt::broker;

const ManualClock& FuzzClock() {
  static ManualClock clock(1'000'000'000'000);
  return clock;
}

void PutLe32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetLe32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

// Walks the frames as the reader would and makes each whole frame's CRC right.
void FixCrcs(std::string* log) {
  size_t at = kLogMagic.size();
  while (log->size() - at >= 8) {
    uint32_t len = GetLe32(*log, at);
    if (len == 0 || len > log->size() - at - 8) break;
    PutLe32(log, at + 4, Crc32c(std::string_view(*log).substr(at + 8, len)));
    at += 8 + len;
  }
}

// ---- Seeds ----

MessagePtr Msg(uint64_t id, const std::string& topic, const std::string& payload, uint8_t qos,
               bool retain, bool props) {
  auto m = std::make_shared<Message>();
  m->persist_id = id;
  m->topic = topic;
  m->payload = payload;
  m->qos = qos;
  m->retain = retain;
  if (props) {
    m->properties.message_expiry_interval = 3600;
    m->properties.user_properties = {{"k", "v"}};
    m->properties.correlation_data = std::string("\0\1", 2);
    m->properties.content_type = "text/plain";
    m->properties.response_topic = "r/1";
  }
  m->received_at_ns = FuzzClock().MonotonicNanos();
  return m;
}

void WriteSeed(const std::string& dir, const std::string& name, uint8_t flags,
               const std::string& log) {
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f << static_cast<char>(flags) << std::string_view(log).substr(kLogMagic.size());
}

void WriteSeeds(const std::string& dir) {
  const Clock& c = FuzzClock();
  std::string log(kLogMagic);
  // A session with a subscription, a QoS 1 and a QoS 2 delivery, the QoS 2 one sent and PUBREC'd.
  EncodeRecord(RecSession{1, "dev-1", 3600, 5}, c, &log);
  SubscriptionOptions opts;
  opts.qos = 2;
  opts.subscription_id = 7;
  EncodeRecord(RecSubscribe{1, "a/+/c", opts}, c, &log);
  RecPublish p1{Msg(10, "a/b/c", "hello", 1, false, true), false, 0, 0, {}};
  p1.targets.push_back(PersistTarget{1, 1, false, {7}});
  EncodeRecord(p1, c, &log);
  RecPublish p2{Msg(11, "a/x/c", std::string("\0\xff", 2), 2, true, false), true, 1, 42, {}};
  p2.targets.push_back(PersistTarget{1, 2, true, {7}});
  EncodeRecord(p2, c, &log);
  EncodeRecord(RecSent{1, 11, 5}, c, &log);
  EncodeRecord(RecPubrec{1, 5}, c, &log);
  WriteSeed(dir, "session_qos12", 0, log);

  // Acks, will, offline, unsubscribe, retained and the end of a session.
  EncodeRecord(RecDone{1, 10}, c, &log);
  EncodeRecord(RecPubrel{1, 42}, c, &log);
  EncodeRecord(RecIncoming{1, 43}, c, &log);
  EncodeRecord(RecWill{1, Msg(12, "will/dev-1", "gone", 1, false, true), 1'700'000'000'000'000'000},
               c, &log);
  EncodeRecord(RecOffline{1, 1'700'000'000'000'000'000}, c, &log);
  EncodeRecord(RecEnqueue{Msg(13, "a/y/c", "retained", 1, true, false), {1, 1, true, {}}}, c, &log);
  EncodeRecord(RecRetained{Msg(14, "r/t", "kept", 0, true, false)}, c, &log);
  EncodeRecord(RecUnsubscribe{1, "a/+/c"}, c, &log);
  EncodeRecord(RecSession{2, "dev-2", 60, 4}, c, &log);
  EncodeRecord(RecSessionEnd{2}, c, &log);
  WriteSeed(dir, "all_records", 0, log);
  WriteSeed(dir, "all_records_recover_fixcrc", 3, log);

  // A snapshot of that state, and a torn tail.
  PersistModel model;
  LoadReport report;
  size_t valid = 0;
  if (!ReplayLog(log, false, c, &model, &report, &valid).ok()) std::abort();
  std::string snap(kLogMagic);
  model.Snapshot(c, &snap);
  WriteSeed(dir, "snapshot", 0, snap);
  WriteSeed(dir, "torn_tail", 1, log.substr(0, log.size() - 3));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("AIOT_PERSIST_LOG_FUZZ_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const bool recover = flags & 1;
  std::string log(kLogMagic);
  log.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (flags & 2) FixCrcs(&log);
  const Clock& clock = FuzzClock();

  // The log as a file.
  PersistModel model;
  LoadReport report;
  size_t valid = 0;
  Status st = ReplayLog(log, recover, clock, &model, &report, &valid);
  if (valid > log.size()) std::abort();
  if (!st.ok()) {
    if (st.message().empty()) std::abort();  // an error says why
  } else {
    if (report.torn_bytes + valid > log.size()) std::abort();
    // What replays snapshots, and the snapshot replays to the same state.
    std::string snap(kLogMagic);
    model.Snapshot(clock, &snap);
    PersistModel again;
    LoadReport r2;
    size_t v2 = 0;
    Status st2 = ReplayLog(snap, false, clock, &again, &r2, &v2);
    if (!st2.ok()) {
      std::fprintf(stderr, "snapshot does not replay: %s\n", st2.message().c_str());
      std::abort();
    }
    if (r2.torn_bytes != 0 || r2.corrupt_frames != 0 ||
        again.sessions().size() != model.sessions().size() ||
        again.retained().size() != model.retained().size() ||
        again.deliveries() != model.deliveries()) {
      std::fprintf(stderr, "snapshot replays to another state\n");
      std::abort();
    }
  }

  // The bytes as one record body.
  (void)DecodeRecord(std::string_view(log).substr(kLogMagic.size()), clock);
  return 0;
}
