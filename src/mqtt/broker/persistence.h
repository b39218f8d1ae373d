#pragma once

// Persistence of the broker's session state and retained messages (broker.persistence): an
// append-only log of small records the core emits on its strands, written by one writer thread
// with group commit, replayed at start and compacted into a snapshot (written as the same
// records) at start and whenever the log has grown well past the last snapshot.
//
// File `<dir>/broker.log`: the 8-byte magic "AIOTMQP1", then frames
//
//   u32 length of the body | u32 CRC32C of the body | body (u8 record type, fields)
//
// little-endian. A torn tail (a last frame cut short, normal after kill -9 or a power cut) is
// truncated at the last whole frame and counted. A frame that is complete but fails its CRC, has
// an impossible length or does not decode is corruption: Open refuses to start (the Status says
// the file, the offset and why) unless `recover` is set; then the bad bytes are skipped up to the
// next frame that checks out, and counted in the LoadReport (never silently).
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "mqtt/broker/broker_config.h"
#include "mqtt/broker/message.h"
#include "mqtt/broker/subscription_index.h"

namespace aiot::mqtt::broker {

inline constexpr std::string_view kLogMagic = "AIOTMQP1";
inline constexpr uint32_t kMaxRecordBytes = 300u << 20;  // above the largest MQTT packet

// ---- Records -----------------------------------------------------------------------------------

// A delivery of a message to a session that the session has not finished (queued or in flight).
struct PersistTarget {
  SessionKey key = 0;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
};
// Session created or its expiry changed. Only sessions with expiry > 0 are kept; expiry 0 ends it.
struct RecSession {
  SessionKey key = 0;
  std::string client_id;
  uint32_t expiry_interval_s = 0;
  uint8_t protocol_version = 5;
};
struct RecSessionEnd {
  SessionKey key = 0;
};
struct RecSubscribe {
  SessionKey key = 0;
  std::string filter;
  SubscriptionOptions options;
};
struct RecUnsubscribe {
  SessionKey key = 0;
  std::string filter;
};
// An accepted PUBLISH: the message, its deliveries to persistent sessions, whether it sets or
// clears the retained message of its topic, and (QoS 2) the publisher's packet id now awaiting
// PUBREL. One record, so a crash keeps all of it or none.
struct RecPublish {
  MessagePtr msg;
  bool retain_store = false;
  SessionKey publisher = 0;  // with incoming_packet_id
  uint16_t incoming_packet_id = 0;
  std::vector<PersistTarget> targets;
};
// A delivery added outside routing (retained messages on SUBSCRIBE; snapshots).
struct RecEnqueue {
  MessagePtr msg;
  PersistTarget target;
};
// An outgoing QoS 2 PUBLISH got its packet id (resent with it after a restart).
struct RecSent {
  SessionKey key = 0;
  uint64_t msg_id = 0;
  uint16_t packet_id = 0;
};
// PUBREC received for an outgoing QoS 2 message: PUBREL is what is resent now.
struct RecPubrec {
  SessionKey key = 0;
  uint16_t packet_id = 0;
};
// A delivery is over (acknowledged, refused, dropped or expired).
struct RecDone {
  SessionKey key = 0;
  uint64_t msg_id = 0;
};
// Incoming QoS 2 packet id awaiting PUBREL (snapshots) / released.
struct RecIncoming {
  SessionKey key = 0;
  uint16_t packet_id = 0;
};
struct RecPubrel {
  SessionKey key = 0;
  uint16_t packet_id = 0;
};
// A delayed will pending for an offline session (msg null: none any more).
struct RecWill {
  SessionKey key = 0;
  MessagePtr msg;
  int64_t due_unix_ns = 0;
};
// The retained message of a topic (snapshots; at run time RecPublish carries it).
struct RecRetained {
  MessagePtr msg;
};
// The session went offline at this wall-clock time: its expiry counts from then, across a
// restart [MQTT-3.1.2-23]. A later RecSession (the client is back) clears it.
struct RecOffline {
  SessionKey key = 0;
  int64_t since_unix_ns = 0;
};

using PersistRecord = std::variant<RecSession, RecSessionEnd, RecSubscribe, RecUnsubscribe,
                                   RecPublish, RecEnqueue, RecSent, RecPubrec, RecDone, RecIncoming,
                                   RecPubrel, RecWill, RecRetained, RecOffline>;

// Appends one frame for `r` to `out`. `clock` turns monotonic message times into wall-clock ones
// (message expiry counts across a restart).
void EncodeRecord(const PersistRecord& r, const Clock& clock, std::string* out);
// Decodes a frame's body (without length and CRC).
Result<PersistRecord> DecodeRecord(std::string_view body, const Clock& clock);

// ---- The state the log describes ---------------------------------------------------------------

struct PersistedDelivery {
  MessagePtr msg;
  uint64_t msg_id = 0;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
  uint16_t packet_id = 0;  // QoS 2 sent with this id (0: not sent yet / QoS 1)
  bool pubrec = false;     // PUBREC received: PUBREL outstanding (msg may be null)
};
struct PersistedSession {
  std::string client_id;
  uint32_t expiry_interval_s = 0;
  uint8_t protocol_version = 5;
  std::map<std::string, SubscriptionOptions> subscriptions;
  uint64_t next_seq = 0;
  std::map<uint64_t, PersistedDelivery> deliveries;  // in delivery order (seq)
  std::unordered_map<uint64_t, uint64_t> seq_of;     // msg id -> seq
  std::set<uint16_t> incoming;                       // QoS 2 ids awaiting PUBREL
  MessagePtr will;
  int64_t will_due_unix_ns = 0;
  int64_t offline_since_unix_ns = 0;  // 0: online when the log ended (a crash: from the restart)
};

// Sessions and retained messages as the records so far leave them. Applying the records of a log
// in order rebuilds the state; Snapshot writes it as records again (compaction).
class PersistModel {
 public:
  void Apply(const PersistRecord& r);
  // The records that rebuild this state.
  void Snapshot(const Clock& clock, std::string* out) const;

  const std::unordered_map<SessionKey, PersistedSession>& sessions() const { return sessions_; }
  const std::map<std::string, MessagePtr, std::less<>>& retained() const { return retained_; }
  uint64_t max_msg_id() const { return max_msg_id_; }
  SessionKey max_key() const { return max_key_; }
  size_t deliveries() const;

 private:
  void AddDelivery(SessionKey key, const MessagePtr& msg, const PersistTarget& t);
  PersistedSession* Find(SessionKey key);

  std::unordered_map<SessionKey, PersistedSession> sessions_;
  std::map<std::string, MessagePtr, std::less<>> retained_;
  uint64_t max_msg_id_ = 0;
  SessionKey max_key_ = 0;
};

// What Open found in the log.
struct LoadReport {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t torn_bytes = 0;     // a torn tail cut off
  uint64_t corrupt_bytes = 0;  // skipped with `recover`
  uint64_t corrupt_frames = 0;
  std::vector<std::string> problems;  // one line per cut or skip: offset, why
  int64_t load_ms = 0;                // reading, replaying and compacting
};

// Parses a log file's bytes into `model`. Corruption fails (unless `recover`); a torn tail is
// reported in `report->torn_bytes`. `*valid_bytes`: where appending may continue.
Status ReplayLog(std::string_view bytes, bool recover, const Clock& clock, PersistModel* model,
                 LoadReport* report, size_t* valid_bytes);

// ---- The writer ---------------------------------------------------------------------------------

struct PersisterOptions {
  std::string dir;
  PersistenceMode mode = PersistenceMode::kPeriodic;
  uint32_t interval_ms = 1000;  // periodic: how often records are written and synced
  bool recover = false;         // skip corrupt records (counted) instead of refusing to start
  uint64_t compact_min_bytes = 64ull << 20;  // compact when the log exceeds this and 2x snapshot
  // every_ack: how many fdatasyncs may run at once (each covers what was written before it began;
  // on a virtual disk, overlapping syncs complete several times as many groups per second).
  uint32_t max_syncs_in_flight = 4;
};

// Owns the log: loads it (Open), then takes records from any thread (Append) and writes them on
// its own thread. every_ack: as soon as records arrive and a sync thread is free, one write for
// everything pending (a group), handed to the sync threads; the writer goes on writing the next
// group while earlier ones sync (pipelined group commit); while every sync thread is busy, records
// gather into the next group. A sync thread takes every group written so far, runs one
// fdatasync for them, then runs their `done` callbacks, groups in log order (so a record's
// callback runs only once an fdatasync begun after its write has returned: acked => durable).
// periodic: every interval_ms, one write + fdatasync on the writer thread. The sessions whose
// records matter are tracked (Persistent) so that routing emits deliveries only for them.
class Persister {
 public:
  static Result<std::unique_ptr<Persister>> Open(const PersisterOptions& options,
                                                 const Clock& clock);
  ~Persister();  // writes and syncs what is pending
  Persister(const Persister&) = delete;
  Persister& operator=(const Persister&) = delete;

  // The state loaded at Open (for the broker to restore; released by the caller after).
  const PersistModel& loaded() const { return model_; }
  const LoadReport& report() const { return report_; }
  PersistenceMode mode() const { return options_.mode; }

  // Queues a record (any thread). `done`, if given, runs once the record is durable (every_ack)
  // or written (periodic, at the next interval).
  void Append(PersistRecord r, std::function<void()> done = {});
  // Whether records of this session are kept (it exists with expiry > 0). Any thread.
  bool Persistent(SessionKey key) const;
  // Starts the writer thread (after the broker restored the loaded state).
  void StartWriter();
  // Writes and syncs everything appended so far; returns once it is durable (tests).
  void Flush();

  struct Stats {
    uint64_t records = 0;
    uint64_t syncs = 0;
    uint64_t compactions = 0;
    uint64_t log_bytes = 0;
  };
  Stats stats() const;

 private:
  Persister(const PersisterOptions& options, const Clock& clock);
  Status Load();
  Status Compact();  // writer thread (or Open)
  void Run();
  void RunSyncer();
  Status WriteBatch(std::vector<PersistRecord>& batch, bool sync);
  bool NeedsCompaction() const;
  // every_ack: a sync thread can take a group as soon as it is written (none is waiting to be
  // claimed and fewer than max_syncs_in_flight run). Under mu_.
  bool SyncerFree() const {
    return group_seq_ == sync_claimed_ &&
           syncs_running_ < std::max<uint32_t>(options_.max_syncs_in_flight, 1);
  }

  PersisterOptions options_;
  const Clock& clock_;
  std::string path_;
  int fd_ = -1;
  PersistModel model_;  // the writer thread's after StartWriter
  LoadReport report_;
  uint64_t log_bytes_ = 0;
  uint64_t snapshot_bytes_ = 0;

  mutable std::shared_mutex keys_mu_;
  std::unordered_set<SessionKey> persistent_;  // guarded by keys_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  std::vector<PersistRecord> pending_;          // guarded by mu_
  std::vector<std::function<void()>> waiting_;  // guarded by mu_
  uint64_t appended_ = 0;                       // guarded by mu_
  uint64_t written_ = 0;                        // guarded by mu_
  bool flush_requested_ = false;                // guarded by mu_
  bool stop_ = false;                           // guarded by mu_
  Stats stats_;                                 // guarded by mu_
  std::string write_buf_;                       // writer thread
  std::thread thread_;

  // every_ack: groups written and not yet synced, in log order.
  struct Group {
    uint64_t seq = 0;
    uint64_t appended = 0;  // appended_ when the group was taken
    std::vector<std::function<void()>> done;
  };
  std::vector<Group> unsynced_;      // guarded by mu_
  uint64_t group_seq_ = 0;           // last group written, guarded by mu_
  uint64_t sync_claimed_ = 0;        // last group a sync was begun for, guarded by mu_
  uint64_t synced_ = 0;              // last group known durable, guarded by mu_
  uint32_t syncs_running_ = 0;       // guarded by mu_
  bool writer_done_ = false;         // the writer has written its last group, guarded by mu_
  std::condition_variable sync_cv_;  // sync threads wait for groups
  std::mutex release_mu_;            // callbacks run in log order across sync threads
  std::vector<std::thread> syncers_;
};

}  // namespace aiot::mqtt::broker
