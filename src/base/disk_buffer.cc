#include "base/disk_buffer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/disk_segment.h"
#include "base/errc.h"
#include "base/file.h"
#include "base/log.h"

namespace aiot::disk {
namespace {

namespace fs = std::filesystem;

Status Errno(std::string_view what, const std::string& path) {
  return Status(errc::io_error, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string SegmentName(uint64_t first_seq) { return fmt::format("{:020d}.seg", first_seq); }

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// The checkpoint file: u64 first unacknowledged seq, u32 CRC32C of those 8 bytes.
constexpr const char* kCheckpointFile = "acked";

}  // namespace

Result<std::unique_ptr<DiskBuffer>> DiskBuffer::Open(const DiskBufferOptions& options) {
  if (options.dir.empty()) return Status(errc::invalid_argument, "buffer directory is empty");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return Status(errc::io_error, fmt::format("create {}: {}", options.dir, ec.message()));
  }
  std::unique_ptr<DiskBuffer> b(new DiskBuffer(options));
  if (Status s = b->Recover(); !s.ok()) return s;
  return b;
}

DiskBuffer::~DiskBuffer() {
  {
    std::lock_guard lock(mu_);
    (void)WriteCheckpointLocked();
    if (fd_ >= 0 && options_.fsync != FsyncPolicy::kNever) ::fdatasync(fd_);
  }
  if (fd_ >= 0) ::close(fd_);
  if (checkpoint_fd_ >= 0) ::close(checkpoint_fd_);
}

uint64_t DiskBuffer::ReadCheckpoint() const {
  auto bytes = ReadWholeFile(options_.dir + "/" + kCheckpointFile);
  if (!bytes.ok() || bytes->size() < 12) return 0;
  const std::string_view v(*bytes);
  uint64_t seq = 0;
  std::memcpy(&seq, v.data(), 8);
  uint32_t crc = 0;
  std::memcpy(&crc, v.data() + 8, 4);
  return Crc32c(v.substr(0, 8)) == crc ? seq : 0;
}

Status DiskBuffer::Recover() {
  const uint64_t checkpoint = ReadCheckpoint();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(options_.dir)) {
    if (e.path().extension() == ".seg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());  // zero-padded first sequence numbers
  recovery_.segments = files.size();
  slot_base_ = next_seq_ = std::max<uint64_t>(checkpoint, 1);
  for (const auto& path : files) {
    if (Status s = RecoverSegment(path, checkpoint); !s.ok()) return s;
  }
  checkpointed_ = slot_base_;
  while (!slots_.empty() && slots_.front().acked) {
    slots_.pop_front();
    ++slot_base_;
  }
  const std::string cp = options_.dir + "/" + kCheckpointFile;
  checkpoint_fd_ = ::open(cp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (checkpoint_fd_ < 0) return Errno("open", cp);
  if (Status s = OpenActive(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  DeleteAckedSegmentsLocked();
  return WriteCheckpointLocked();
}

Status DiskBuffer::RecoverSegment(const std::string& path, uint64_t checkpoint) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  const ParsedSegment parsed = ParseSegment(*bytes, options_.max_record_bytes + kFrameFixedBytes);
  if (parsed.end != SegmentEnd::kClean) {
    recovery_.cut_segments++;
    recovery_.truncated_bytes += bytes->size() - parsed.valid_bytes;
    recovery_.problems.push_back(fmt::format("{}: {} at byte {}, {} bytes cut", path,
                                             SegmentEndName(parsed.end), parsed.valid_bytes,
                                             bytes->size() - parsed.valid_bytes));
  }
  Segment seg;
  seg.path = path;
  for (const SegmentRecord& r : parsed.records) {
    if (r.seq < next_seq_) {  // overlaps what an earlier segment had: a hostile or stale file
      if (r.seq >= checkpoint) {
        recovery_.problems.push_back(fmt::format("{}: sequence {} repeated, skipped", path, r.seq));
      }
      continue;
    }
    while (next_seq_ < r.seq) {  // a gap (records cut from an earlier segment): nothing to send
      slots_.push_back({0, true});
      ++next_seq_;
    }
    if (seg.first_seq == 0) seg.first_seq = r.seq;
    seg.last_seq = r.seq;
    const bool acked = r.seq < checkpoint;
    slots_.push_back({r.time_ms, acked});
    ++next_seq_;
    if (acked) {
      recovery_.skipped_acked++;
    } else {
      recovery_.records++;
      unacked_++;
      pending_.push_back({r.seq, r.time_ms, std::string(r.data)});
    }
  }
  if (seg.first_seq == 0) {  // nothing usable: remove it
    if (::unlink(path.c_str()) != 0) return Errno("unlink", path);
    return {};
  }
  if (parsed.valid_bytes < bytes->size()) {
    if (::truncate(path.c_str(), static_cast<off_t>(parsed.valid_bytes)) != 0) {
      return Errno("truncate", path);
    }
  }
  seg.bytes = parsed.valid_bytes;
  total_bytes_ += seg.bytes;
  segments_.push_back(seg);
  return {};
}

Status DiskBuffer::OpenActive() {
  Segment seg;
  seg.first_seq = next_seq_;
  seg.last_seq = next_seq_ - 1;
  seg.path = options_.dir + "/" + SegmentName(next_seq_);
  const int fd = ::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", seg.path);
  if (::write(fd, kSegmentMagic.data(), kSegmentMagic.size()) !=
      static_cast<ssize_t>(kSegmentMagic.size())) {
    ::close(fd);
    return Errno("write", seg.path);
  }
  if (options_.fsync == FsyncPolicy::kAlways) {
    ::fdatasync(fd);
    SyncDir(options_.dir);
  }
  if (fd_ >= 0) {
    if (options_.fsync != FsyncPolicy::kNever) ::fdatasync(fd_);
    ::close(fd_);
  }
  fd_ = fd;
  seg.bytes = kSegmentMagic.size();
  total_bytes_ += seg.bytes;
  segments_.push_back(seg);
  return {};
}

Status DiskBuffer::WriteAll(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Errno("write", segments_.back().path);
      // Leave no partial frame behind (a reader would cut it anyway).
      if (::ftruncate(fd_, static_cast<off_t>(segments_.back().bytes)) == 0) {
        ::lseek(fd_, 0, SEEK_END);
      }
      return s;
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<uint64_t> DiskBuffer::Append(std::string_view data, int64_t time_ms, bool force) {
  if (data.size() > options_.max_record_bytes) {
    return Status(errc::invalid_argument,
                  fmt::format("record of {} bytes above the buffer's max_record_bytes {}",
                              data.size(), options_.max_record_bytes));
  }
  const size_t frame = FrameSize(data.size());
  std::lock_guard lock(mu_);
  Segment* active = &segments_.back();
  const bool roll =
      active->last_seq >= active->first_seq && active->bytes + frame > options_.segment_bytes;
  const uint64_t need = frame + (roll ? kSegmentMagic.size() : 0);
  if (!force && total_bytes_ + need > options_.max_bytes) {
    counters_.full++;
    return Status(errc::resource_exhausted,
                  fmt::format("buffer full ({} of {} bytes)", total_bytes_, options_.max_bytes));
  }
  if (roll) {
    if (Status s = OpenActive(); !s.ok()) return s;
    active = &segments_.back();
  }
  const uint64_t seq = next_seq_;
  scratch_.clear();
  EncodeFrame(seq, time_ms, data, &scratch_);
  if (Status s = WriteAll(scratch_); !s.ok()) return s;
  if (options_.fsync == FsyncPolicy::kAlways && ::fdatasync(fd_) != 0) {
    return Errno("fdatasync", active->path);
  }
  dirty_ = options_.fsync == FsyncPolicy::kInterval;
  active->bytes += frame;
  active->last_seq = seq;
  total_bytes_ += frame;
  ++next_seq_;
  slots_.push_back({time_ms, false});
  unacked_++;
  pending_.push_back({seq, time_ms, std::string(data)});
  counters_.appended++;
  data_cv_.notify_one();
  return seq;
}

AppendBatchResult DiskBuffer::AppendBatch(std::span<AppendItem> items, bool force) {
  AppendBatchResult r;
  std::lock_guard lock(mu_);
  r.first_seq = next_seq_;
  // Frames are encoded into scratch_ for the active segment and written at once; `from` is the
  // first item of scratch_. Nothing is accounted before its write succeeded.
  scratch_.clear();
  size_t from = 0;
  auto commit = [&](size_t to) -> Status {
    if (to == from) return {};
    if (Status s = WriteAll(scratch_); !s.ok()) return s;
    Segment& active = segments_.back();
    if (options_.fsync == FsyncPolicy::kAlways && ::fdatasync(fd_) != 0) {
      // Written but not known to be on disk: cut it again, as a failed write.
      if (::ftruncate(fd_, static_cast<off_t>(active.bytes)) == 0) ::lseek(fd_, 0, SEEK_END);
      return Errno("fdatasync", active.path);
    }
    dirty_ = options_.fsync == FsyncPolicy::kInterval;
    for (size_t i = from; i < to; ++i) {
      const uint64_t seq = next_seq_++;
      const size_t frame = FrameSize(items[i].data.size());
      active.bytes += frame;
      active.last_seq = seq;
      total_bytes_ += frame;
      slots_.push_back({items[i].time_ms, false});
      unacked_++;
      pending_.push_back({seq, items[i].time_ms, std::move(items[i].data)});
      counters_.appended++;
    }
    r.appended = to;
    scratch_.clear();
    from = to;
    return {};
  };
  uint64_t active_bytes = segments_.back().bytes;  // including scratch_
  bool active_empty = segments_.back().last_seq < segments_.back().first_seq;
  uint64_t total = total_bytes_;  // including scratch_
  bool write_failed = false;
  size_t i = 0;
  for (; i < items.size(); ++i) {
    const std::string& data = items[i].data;
    if (data.size() > options_.max_record_bytes) {
      r.status = Status(errc::invalid_argument,
                        fmt::format("record of {} bytes above the buffer's max_record_bytes {}",
                                    data.size(), options_.max_record_bytes));
      break;
    }
    const size_t frame = FrameSize(data.size());
    const bool roll = !active_empty && active_bytes + frame > options_.segment_bytes;
    const uint64_t need = frame + (roll ? kSegmentMagic.size() : 0);
    if (!force && total + need > options_.max_bytes) {
      counters_.full++;
      r.status = Status(errc::resource_exhausted,
                        fmt::format("buffer full ({} of {} bytes)", total, options_.max_bytes));
      break;
    }
    if (roll) {
      if (Status s = commit(i); !s.ok()) {
        r.status = std::move(s);
        write_failed = true;
        break;
      }
      if (Status s = OpenActive(); !s.ok()) {
        r.status = std::move(s);
        break;
      }
      active_bytes = segments_.back().bytes;
      total = total_bytes_;
    }
    EncodeFrame(next_seq_ + (i - from), items[i].time_ms, data, &scratch_);
    active_bytes += frame;
    total += frame;
    active_empty = false;
  }
  if (!write_failed) {
    if (Status s = commit(i); !s.ok()) r.status = std::move(s);
  }
  if (r.appended > 0) data_cv_.notify_one();
  return r;
}

bool DiskBuffer::WaitForSpace(size_t data_bytes, std::chrono::milliseconds timeout) {
  const uint64_t need = FrameSize(data_bytes) + kSegmentMagic.size();
  std::unique_lock lock(mu_);
  const uint64_t gen = wake_generation_;
  return space_cv_.wait_for(lock, timeout, [&] {
    return total_bytes_ + need <= options_.max_bytes || wake_generation_ != gen;
  }) && total_bytes_ + need <= options_.max_bytes;
}

std::vector<BufferEntry> DiskBuffer::Take(size_t max, std::chrono::milliseconds timeout) {
  std::vector<BufferEntry> out;
  TakeInto(max, timeout, &out);
  return out;
}

size_t DiskBuffer::TakeInto(size_t max, std::chrono::milliseconds timeout,
                            std::vector<BufferEntry>* out) {
  std::unique_lock lock(mu_);
  const uint64_t gen = wake_generation_;
  data_cv_.wait_for(lock, timeout, [&] { return !pending_.empty() || wake_generation_ != gen; });
  const size_t n = std::min(max, pending_.size());
  out->reserve(out->size() + n);
  for (size_t i = 0; i < n; ++i) {
    out->push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return n;
}

void DiskBuffer::Ack(uint64_t seq) {
  std::lock_guard lock(mu_);
  AckLocked(seq);
  DeleteAckedSegmentsLocked();
}

void DiskBuffer::AckMany(std::span<const uint64_t> seqs) {
  if (seqs.empty()) return;
  std::lock_guard lock(mu_);
  for (uint64_t seq : seqs) AckLocked(seq);
  DeleteAckedSegmentsLocked();
}

void DiskBuffer::AckLocked(uint64_t seq) {
  if (seq < slot_base_ || seq >= next_seq_) return;
  Slot& slot = slots_[seq - slot_base_];
  if (slot.acked) return;
  slot.acked = true;
  counters_.acked++;
  unacked_--;
  while (!slots_.empty() && slots_.front().acked) {
    slots_.pop_front();
    ++slot_base_;
  }
}

void DiskBuffer::DeleteAckedSegmentsLocked() {
  bool freed = false;
  while (segments_.size() > 1 && segments_.front().last_seq < slot_base_) {
    const Segment& s = segments_.front();
    if (::unlink(s.path.c_str()) != 0) {
      log::Get("disk_buffer")->error("buffer: cannot delete {}: {}", s.path, std::strerror(errno));
    }
    total_bytes_ -= s.bytes;
    segments_.pop_front();
    freed = true;
  }
  if (freed) space_cv_.notify_all();
}

Status DiskBuffer::WriteCheckpointLocked() {
  if (checkpoint_fd_ < 0 || checkpointed_ == slot_base_) return {};
  char buf[12];
  std::memcpy(buf, &slot_base_, 8);
  const uint32_t crc = Crc32c(std::string_view(buf, 8));
  std::memcpy(buf + 8, &crc, 4);
  if (::pwrite(checkpoint_fd_, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) {
    return Errno("write", options_.dir + "/" + kCheckpointFile);
  }
  if (options_.fsync == FsyncPolicy::kAlways) ::fdatasync(checkpoint_fd_);
  checkpointed_ = slot_base_;
  return {};
}

Status DiskBuffer::Maintain(bool force) {
  std::unique_lock lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (dirty_ &&
      (force || now - last_sync_ >= std::chrono::milliseconds(options_.fsync_interval_ms))) {
    // The fdatasync runs without the lock (it took 5 ms at the median and up to 63 ms here, and
    // held Append, Take and Ack that long): on a duplicate of the active segment's descriptor, so
    // a rotation meanwhile (which syncs and closes the old segment itself) cannot close it under
    // us. Appends made while it runs set dirty_ again and are synced by the next Maintain.
    const int fd = ::dup(fd_);
    const std::string path = segments_.back().path;
    if (fd < 0) return Errno("dup", path);
    dirty_ = false;
    last_sync_ = now;
    lock.unlock();
    const bool synced = ::fdatasync(fd) == 0;
    const int sync_errno = errno;
    ::close(fd);
    lock.lock();
    if (!synced) {
      dirty_ = true;  // try again at the next Maintain
      errno = sync_errno;
      return Errno("fdatasync", path);
    }
  }
  return WriteCheckpointLocked();
}

BufferStats DiskBuffer::stats() const {
  std::lock_guard lock(mu_);
  BufferStats s = counters_;
  s.bytes = total_bytes_;
  s.segments = segments_.size();
  s.records = unacked_;
  s.oldest_ms = slots_.empty() ? 0 : slots_.front().time_ms;
  return s;
}

void DiskBuffer::Wake() {
  std::lock_guard lock(mu_);
  ++wake_generation_;
  data_cv_.notify_all();
  space_cv_.notify_all();
}

}  // namespace aiot::disk
