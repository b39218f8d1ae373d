#include "mqtt/broker/persistence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "base/crc32c.h"
#include "base/errc.h"

namespace aiot::mqtt::broker {

// ---- Persister ----

namespace {

Status Errno(const std::string& what) {
  return Status(std::error_code(errno, std::generic_category()),
                what + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Errno("fsync " + dir);
}

// A clock read once: the records of a batch get their wall-clock times (ToUnix: now - (mono - t))
// from one reading instead of two clock reads per message.
class FrozenClock final : public Clock {
 public:
  explicit FrozenClock(const Clock& c) : now_(c.NowNanos()), mono_(c.MonotonicNanos()) {}
  int64_t NowNanos() const override { return now_; }
  int64_t MonotonicNanos() const override { return mono_; }

 private:
  int64_t now_, mono_;
};

int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace

Persister::Persister(const PersisterOptions& options, const Clock& clock)
    : options_(options), clock_(clock), path_(options.dir + "/broker.log") {}

Result<std::unique_ptr<Persister>> Persister::Open(const PersisterOptions& options,
                                                   const Clock& clock) {
  std::unique_ptr<Persister> p(new Persister(options, clock));
  if (Status s = p->Load(); !s.ok()) return s.Prefix(p->path_);
  return p;
}

Status Persister::Load() {
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) return Status(ec, "cannot create " + options_.dir + ": " + ec.message());
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    std::string bytes;
    if (::fstat(fd, &st) == 0) bytes.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
      ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    bytes.resize(got);
    size_t valid = 0;
    if (!bytes.empty()) {
      Status s = ReplayLog(bytes, options_.recover, clock_, &model_, &report_, &valid);
      if (!s.ok()) return s;
    }
  } else if (errno != ENOENT) {
    return Errno("open");
  }
  for (const auto& [key, s] : model_.sessions()) persistent_.insert(key);
  // Compact: the loaded state becomes the new log (a torn tail or skipped records are gone).
  if (Status s = Compact(); !s.ok()) return s;
  report_.load_ms = ElapsedMs(start);
  return Status::Ok();
}

Status Persister::Compact() {
  std::string tmp = path_ + ".tmp";
  std::string bytes(kLogMagic);
  model_.Snapshot(clock_, &bytes);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + tmp);
  Status s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fdatasync(fd) != 0) s = Errno("fdatasync " + tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) s = Errno("rename " + tmp);
  if (s.ok()) s = SyncDir(options_.dir);
  if (!s.ok()) return s;
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) return Errno("open " + path_);
  log_bytes_ = snapshot_bytes_ = bytes.size();
  return Status::Ok();
}

Persister::~Persister() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // writes what is pending, its last group included
  {
    std::lock_guard lock(mu_);
    writer_done_ = true;
  }
  sync_cv_.notify_all();
  for (std::thread& t : syncers_) t.join();  // sync what the writer wrote
  if (fd_ >= 0) ::close(fd_);
}

bool Persister::Persistent(SessionKey key) const {
  std::shared_lock lock(keys_mu_);
  return persistent_.contains(key);
}

void Persister::Append(PersistRecord r, std::function<void()> done) {
  if (const auto* s = std::get_if<RecSession>(&r)) {
    std::unique_lock lock(keys_mu_);
    if (s->expiry_interval_s != 0) {
      persistent_.insert(s->key);
    } else {
      persistent_.erase(s->key);
    }
  } else if (const auto* e = std::get_if<RecSessionEnd>(&r)) {
    std::unique_lock lock(keys_mu_);
    persistent_.erase(e->key);
  }
  bool wake;
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(r));
    ++appended_;
    if (done) waiting_.push_back(std::move(done));
    // every_ack: the writer waits for the first record, unless it waits for a free sync thread
    // (then the sync thread wakes it; a wakeup here would be wasted).
    wake = options_.mode == PersistenceMode::kEveryAck && pending_.size() == 1 && SyncerFree();
  }
  if (wake) cv_.notify_one();
}

void Persister::StartWriter() {
  thread_ = std::thread([this] { Run(); });
  if (options_.mode == PersistenceMode::kEveryAck) {
    for (uint32_t i = 0; i < std::max<uint32_t>(options_.max_syncs_in_flight, 1); ++i)
      syncers_.emplace_back([this] { RunSyncer(); });
  }
}

void Persister::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = appended_;
  flush_requested_ = true;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_ >= target || stop_; });
}

Persister::Stats Persister::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Status Persister::WriteBatch(std::vector<PersistRecord>& batch, bool sync) {
  write_buf_.clear();
  const FrozenClock clock(clock_);
  for (PersistRecord& r : batch) {
    EncodeRecord(r, clock, &write_buf_);
    model_.Apply(r);
  }
  if (Status s = WriteAll(fd_, write_buf_, path_); !s.ok()) return s;
  if (sync && ::fdatasync(fd_) != 0) return Errno("fdatasync " + path_);
  log_bytes_ += write_buf_.size();
  return Status::Ok();
}

bool Persister::NeedsCompaction() const {
  return log_bytes_ > options_.compact_min_bytes && log_bytes_ > 2 * snapshot_bytes_;
}

namespace {
// A disk that cannot be written is fatal for the promise of every_ack: stop the process rather
// than acknowledge what is not durable.
[[noreturn]] void PersistenceFailed(const Status& s) {
  std::fprintf(stderr, "aiot broker: persistence failed: %s\n", s.ToString().c_str());
  std::abort();
}
}  // namespace

void Persister::Run() {
  const bool every_ack = options_.mode == PersistenceMode::kEveryAck;
  std::vector<PersistRecord> batch;
  std::vector<std::function<void()>> done;
  const auto interval = std::chrono::milliseconds(std::max<uint32_t>(options_.interval_ms, 1));
  auto next = std::chrono::steady_clock::now() + interval;
  for (;;) {
    uint64_t target;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      if (every_ack) {
        // A group is written when a sync thread is free to sync it at once. While all are busy
        // (or one has yet to claim the last group), records gather into one bigger group: it
        // could not start syncing earlier anyway, and one write and one wakeup serve them all.
        cv_.wait(lock,
                 [&] { return stop_ || flush_requested_ || (!pending_.empty() && SyncerFree()); });
      } else {
        cv_.wait_until(lock, next, [&] { return stop_ || flush_requested_; });
        next = std::chrono::steady_clock::now() + interval;
      }
      flush_requested_ = false;
      batch.swap(pending_);
      done.swap(waiting_);
      target = appended_;
      stopping = stop_;
    }
    if (!batch.empty()) {
      // every_ack: written only; a sync thread makes the group durable while the next is written.
      if (Status s = WriteBatch(batch, !every_ack); !s.ok()) PersistenceFailed(s);
    }
    if (every_ack) {
      {
        std::lock_guard lock(mu_);
        stats_.records += batch.size();
        stats_.log_bytes = log_bytes_;
        unsynced_.push_back(Group{++group_seq_, target, std::move(done)});
      }
      sync_cv_.notify_one();
    } else {
      // At shutdown the connections waiting for these acks are gone: nobody to tell.
      if (!stopping) {
        for (auto& fn : done) fn();
      }
      {
        std::lock_guard lock(mu_);
        stats_.records += batch.size();
        if (!batch.empty()) ++stats_.syncs;
        stats_.log_bytes = log_bytes_;
        written_ = target;
      }
      flushed_cv_.notify_all();
    }
    batch.clear();
    done.clear();
    if (NeedsCompaction()) {
      if (every_ack) {
        // The compaction replaces the file: no sync may be running on the old one, and what
        // was written to it is durable first.
        std::unique_lock lock(mu_);
        flushed_cv_.wait(lock, [&] { return synced_ == group_seq_ && syncs_running_ == 0; });
      }
      if (Status s = Compact(); !s.ok()) PersistenceFailed(s);
      std::lock_guard lock(mu_);
      ++stats_.compactions;
      stats_.log_bytes = log_bytes_;
    }
    if (stopping) {
      std::lock_guard lock(mu_);
      if (pending_.empty()) return;
    }
  }
}

void Persister::RunSyncer() {
  std::vector<Group> ready;
  for (;;) {
    uint64_t claim;
    int fd;
    {
      std::unique_lock lock(mu_);
      sync_cv_.wait(lock, [&] { return group_seq_ > sync_claimed_ || writer_done_; });
      if (group_seq_ == sync_claimed_) return;  // the writer is done and all is claimed
      claim = sync_claimed_ = group_seq_;
      ++syncs_running_;
      fd = fd_;
      // Another sync thread is free: the writer may write the next group now.
      if (!pending_.empty() && SyncerFree()) cv_.notify_one();
    }
    // Every group up to `claim` was written before this call: it returns with them durable.
    if (::fdatasync(fd) != 0) PersistenceFailed(Errno("fdatasync " + path_));
    // Callbacks in log order: the groups are taken and run under release_mu_; Flush returns
    // once they ran.
    std::lock_guard release(release_mu_);
    bool stopping;
    {
      std::lock_guard lock(mu_);
      --syncs_running_;
      if (!pending_.empty() && SyncerFree()) cv_.notify_one();  // the writer waits for this
      ++stats_.syncs;
      synced_ = std::max(synced_, claim);
      size_t n = 0;
      while (n < unsynced_.size() && unsynced_[n].seq <= claim) ++n;
      ready.assign(std::make_move_iterator(unsynced_.begin()),
                   std::make_move_iterator(unsynced_.begin() + static_cast<std::ptrdiff_t>(n)));
      unsynced_.erase(unsynced_.begin(), unsynced_.begin() + static_cast<std::ptrdiff_t>(n));
      stopping = stop_;
    }
    flushed_cv_.notify_all();  // a compaction may wait for this sync
    if (ready.empty()) continue;
    // At shutdown the connections waiting for these acks are gone: nobody to tell.
    if (!stopping) {
      for (Group& g : ready)
        for (auto& fn : g.done) fn();
    }
    {
      std::lock_guard lock(mu_);
      written_ = std::max(written_, ready.back().appended);
    }
    flushed_cv_.notify_all();
    ready.clear();
  }
}

}  // namespace aiot::mqtt::broker
