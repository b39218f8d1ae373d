#pragma once

// A durable store-and-forward buffer (the Kafka bridge's, src/kafka, and the MQTT bridges',
// src/mqtt/bridge): records appended to segment files (disk_segment.h's format) in a
// directory, handed out in order, deleted a segment at a time once every record in it was
// acknowledged. Survives restarts and kill -9: Open() re-reads the segments, cuts a torn or
// corrupt tail at the last good frame (counted and reported, never silently), and hands out again
// every record not acknowledged before (an ack checkpoint file makes that "not known to be
// acknowledged": a record delivered just before a crash may be sent twice).
//
// Durability of an Append that returned: with fsync `always` the record is on the disk (fdatasync
// before Append returns); with `interval` it is in the OS page cache at once (survives the process
// being killed) and on the disk within fsync_interval_ms (Maintain()); with `never` when the OS
// writes it back.
//
// Thread-safety: every method may be called from any thread (one mutex).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/result.h"

namespace aiot::disk {

enum class FsyncPolicy { kAlways, kInterval, kNever };
inline constexpr config::Named<FsyncPolicy> kFsyncPolicyNames[] = {
    {FsyncPolicy::kAlways, "always"},
    {FsyncPolicy::kInterval, "interval"},
    {FsyncPolicy::kNever, "never"}};

struct DiskBufferOptions {
  std::string dir;
  uint64_t max_bytes = 256ull << 20;     // segment files together, at most
  uint64_t segment_bytes = 16ull << 20;  // a segment is closed beyond this size
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  uint32_t fsync_interval_ms = 200;
  uint32_t max_record_bytes = 2u << 20;  // larger records are refused
};

struct RecoveryReport {
  uint64_t segments = 0;              // segment files found
  uint64_t records = 0;               // records to send again (not known to be acknowledged)
  uint64_t skipped_acked = 0;         // records below the ack checkpoint
  uint64_t cut_segments = 0;          // segments whose tail was cut (torn write or corruption)
  uint64_t truncated_bytes = 0;       // bytes cut
  std::vector<std::string> problems;  // one line per cut: file, offset, why
};

struct BufferEntry {
  uint64_t seq = 0;
  int64_t time_ms = 0;  // when it was appended
  std::string data;
};

// One record of DiskBuffer::AppendBatch; `data` is moved into the buffer once appended.
struct AppendItem {
  std::string data;
  int64_t time_ms = 0;
};

// What DiskBuffer::AppendBatch did: the first `appended` items were written, with the sequence
// numbers first_seq, first_seq + 1, ...; `status` says why the next one was not (ok when all were).
struct AppendBatchResult {
  uint64_t first_seq = 0;
  size_t appended = 0;
  Status status;
};

struct BufferStats {
  uint64_t bytes = 0;    // segment files
  uint64_t records = 0;  // appended and not acknowledged
  uint64_t segments = 0;
  int64_t oldest_ms = 0;  // append time of the oldest unacknowledged record (0: none)
  uint64_t appended = 0;  // since Open
  uint64_t acked = 0;     // since Open
  uint64_t full = 0;      // Appends refused because the buffer was full
};

class DiskBuffer {
 public:
  static Result<std::unique_ptr<DiskBuffer>> Open(const DiskBufferOptions& options);
  ~DiskBuffer();
  DiskBuffer(const DiskBuffer&) = delete;
  DiskBuffer& operator=(const DiskBuffer&) = delete;

  const RecoveryReport& recovery() const { return recovery_; }

  // Writes one record; its sequence number. resource_exhausted when it does not fit in max_bytes
  // now (WaitForSpace), invalid_argument above max_record_bytes, io_error from the file system.
  // `force` writes it even beyond max_bytes (a record that must not be lost while stopping).
  Result<uint64_t> Append(std::string_view data, int64_t time_ms, bool force = false);
  // Appends `items` in order under one lock with one write per segment (and, with fsync
  // `always`, one fdatasync before returning): the batched form of Append. Stops at the first
  // item that does not fit (resource_exhausted; `force` as in Append), is too large
  // (invalid_argument) or fails to be written (io_error, nothing of the failed write kept); the
  // items before it are appended and their data moved out, the rest untouched.
  AppendBatchResult AppendBatch(std::span<AppendItem> items, bool force = false);
  // Waits until a record of `data_bytes` fits, Wake() or the timeout; true when it fits.
  bool WaitForSpace(size_t data_bytes, std::chrono::milliseconds timeout);
  // Up to `max` records not handed out yet, in order; waits up to `timeout` for the first.
  std::vector<BufferEntry> Take(size_t max, std::chrono::milliseconds timeout);
  // As Take, appended to `*out` (a caller that reuses the vector allocates nothing per batch);
  // returns the number appended.
  size_t TakeInto(size_t max, std::chrono::milliseconds timeout, std::vector<BufferEntry>* out);
  // Record `seq` was delivered: segments whose records are all acknowledged are deleted.
  void Ack(uint64_t seq);
  // Ack for each of `seqs`, under one lock.
  void AckMany(std::span<const uint64_t> seqs);
  // fdatasync when the interval is due (or `force`), writes the ack checkpoint. The fdatasync
  // runs without the buffer's lock: Append, Take and Ack go on meanwhile.
  Status Maintain(bool force = false);
  BufferStats stats() const;
  // Wakes every waiter of Take and WaitForSpace (shutdown).
  void Wake();

 private:
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;  // first_seq - 1 while empty
    std::string path;
    uint64_t bytes = 0;
  };
  struct Slot {
    int64_t time_ms = 0;
    bool acked = false;
  };
  explicit DiskBuffer(DiskBufferOptions options) : options_(std::move(options)) {}

  Status Recover();
  Status RecoverSegment(const std::string& path, uint64_t checkpoint);
  Status OpenActive();  // a new active segment starting at next_seq_
  Status WriteAll(const std::string& bytes);
  void DeleteAckedSegmentsLocked();
  void AckLocked(uint64_t seq);
  Status WriteCheckpointLocked();
  uint64_t ReadCheckpoint() const;

  const DiskBufferOptions options_;
  RecoveryReport recovery_;
  mutable std::mutex mu_;
  std::condition_variable data_cv_;
  std::condition_variable space_cv_;
  uint64_t wake_generation_ = 0;
  std::deque<Segment> segments_;  // the last one is active (open for appends)
  int fd_ = -1;                   // the active segment
  int checkpoint_fd_ = -1;
  uint64_t total_bytes_ = 0;
  std::deque<BufferEntry> pending_;  // not handed out yet
  std::deque<Slot> slots_;           // sequence numbers [slot_base_, next_seq_)
  uint64_t slot_base_ = 1;
  uint64_t next_seq_ = 1;
  uint64_t checkpointed_ = 0;
  uint64_t unacked_ = 0;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_sync_{};
  std::string scratch_;
  BufferStats counters_;
};

}  // namespace aiot::disk
