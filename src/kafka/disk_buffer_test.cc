#include "kafka/disk_buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/errc.h"
#include "kafka/segment.h"
#include "tests/support/temp_dir.h"

namespace aiot::kafka {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class DiskBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = dir_;
    options_.max_bytes = 1 << 20;
    options_.segment_bytes = 4096;
    options_.fsync = FsyncPolicy::kNever;
  }

  std::unique_ptr<DiskBuffer> Open() {
    auto b = DiskBuffer::Open(options_);
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? std::move(*b) : nullptr;
  }
  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".seg") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> Drain(DiskBuffer& b) {
    std::vector<std::string> out;
    for (auto& e : b.Take(100000, milliseconds(0))) out.push_back(e.data);
    return out;
  }

  test_support::TempDir tmp_{"aiot-buffer"};
  std::string dir_ = tmp_.path();
  DiskBufferOptions options_;
};

std::string Payload(int i) { return "message-" + std::to_string(i) + std::string(100, 'x'); }

TEST_F(DiskBufferTest, HandsOutInOrderAndDeletesSegmentsOnlyWhenAllAcknowledged) {
  auto b = Open();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(b->Append(Payload(i), i).ok());
  const size_t segments = Segments().size();
  EXPECT_GT(segments, 3u);
  auto taken = b->Take(1000, milliseconds(0));
  ASSERT_EQ(taken.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(taken[i].data, Payload(i));
  // Acknowledge everything but the first record, out of order: nothing can be deleted.
  for (int i = 199; i >= 1; --i) b->Ack(taken[i].seq);
  EXPECT_EQ(Segments().size(), segments);
  EXPECT_EQ(b->stats().records, 1u);
  b->Ack(taken[0].seq);
  EXPECT_EQ(Segments().size(), 1u);  // only the active one is left
  EXPECT_EQ(b->stats().records, 0u);
}

// TakeInto appends up to `max` to the caller's vector, in order, and hands each record out once.
TEST_F(DiskBufferTest, TakeIntoAppendsInOrderUpToMax) {
  auto b = Open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b->Append(Payload(i), i).ok());
  std::vector<BufferEntry> out;
  EXPECT_EQ(b->TakeInto(4, milliseconds(0), &out), 4u);
  EXPECT_EQ(b->TakeInto(100, milliseconds(0), &out), 6u);
  EXPECT_EQ(b->TakeInto(100, milliseconds(0), &out), 0u);
  ASSERT_EQ(out.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(out[i].data, Payload(i));
    EXPECT_EQ(out[i].seq, out[0].seq + static_cast<uint64_t>(i));
  }
}

std::vector<AppendItem> Items(int from, int to) {
  std::vector<AppendItem> items;
  for (int i = from; i < to; ++i) items.push_back({Payload(i), i});
  return items;
}

TEST_F(DiskBufferTest, AppendBatchWritesInOrderAcrossSegmentsAndSurvivesReopen) {
  {
    auto b = Open();
    ASSERT_TRUE(b->Append(Payload(0), 0).ok());
    auto items = Items(1, 150);  // ~16 KiB: rolls over several 4 KiB segments within the batch
    const AppendBatchResult r = b->AppendBatch(items);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(r.first_seq, 2u);
    EXPECT_EQ(r.appended, 149u);
    EXPECT_TRUE(items[0].data.empty());  // moved into the buffer
    ASSERT_TRUE(b->Append(Payload(150), 150).ok());
    EXPECT_GT(Segments().size(), 3u);
    auto taken = b->Take(1000, milliseconds(0));
    ASSERT_EQ(taken.size(), 151u);
    for (int i = 0; i <= 150; ++i) {
      EXPECT_EQ(taken[i].data, Payload(i));
      EXPECT_EQ(taken[i].seq, static_cast<uint64_t>(i + 1));
      EXPECT_EQ(taken[i].time_ms, i);
    }
    std::vector<uint64_t> first_half;
    for (int i = 0; i < 75; ++i) first_half.push_back(taken[i].seq);
    b->AckMany(first_half);
    EXPECT_EQ(b->stats().records, 76u);
    ASSERT_TRUE(b->Maintain(true).ok());
  }
  auto b = Open();  // every segment parses cleanly; the acknowledged half is not handed out
  EXPECT_EQ(b->recovery().cut_segments, 0u);
  const auto again = Drain(*b);
  ASSERT_EQ(again.size(), 76u);
  for (int i = 0; i < 76; ++i) EXPECT_EQ(again[i], Payload(75 + i));
}

TEST_F(DiskBufferTest, AppendBatchStopsAtTheFirstRecordThatDoesNotFit) {
  options_.max_bytes = 8192;
  auto b = Open();
  auto items = Items(0, 100);
  const AppendBatchResult r = b->AppendBatch(items);
  EXPECT_EQ(r.status.code(), make_error_code(errc::resource_exhausted));
  ASSERT_GT(r.appended, 10u);
  ASSERT_LT(r.appended, 100u);
  EXPECT_LE(b->stats().bytes, options_.max_bytes);
  EXPECT_EQ(items[r.appended].data, Payload(static_cast<int>(r.appended)));  // the rest untouched
  EXPECT_EQ(b->stats().records, r.appended);
  // `force` (stopping) writes the rest beyond max_bytes.
  std::vector<AppendItem> rest(std::make_move_iterator(items.begin() + r.appended),
                               std::make_move_iterator(items.end()));
  const AppendBatchResult forced = b->AppendBatch(rest, /*force=*/true);
  EXPECT_TRUE(forced.status.ok());
  EXPECT_EQ(forced.first_seq, r.first_seq + r.appended);
  const auto all = Drain(*b);
  ASSERT_EQ(all.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(all[i], Payload(i));
}

TEST_F(DiskBufferTest, AppendBatchRefusesAnOversizedRecordAndKeepsThoseBefore) {
  options_.max_record_bytes = 200;
  auto b = Open();
  std::vector<AppendItem> items = Items(0, 3);
  items.insert(items.begin() + 2, AppendItem{std::string(500, 'y'), 7});
  const AppendBatchResult r = b->AppendBatch(items);
  EXPECT_EQ(r.status.code(), make_error_code(errc::invalid_argument));
  EXPECT_EQ(r.appended, 2u);
  EXPECT_EQ(items[2].data.size(), 500u);
  EXPECT_EQ(Drain(*b), (std::vector<std::string>{Payload(0), Payload(1)}));
}

TEST_F(DiskBufferTest, SurvivesReopenAndResendsOnlyWhatWasNotAcknowledged) {
  {
    auto b = Open();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(b->Append(Payload(i), i).ok());
    auto taken = b->Take(1000, milliseconds(0));
    for (int i = 0; i < 40; ++i) b->Ack(taken[i].seq);
    ASSERT_TRUE(b->Maintain(true).ok());
  }
  auto b = Open();
  EXPECT_EQ(b->recovery().records, 60u);
  EXPECT_EQ(b->recovery().cut_segments, 0u);
  auto again = Drain(*b);
  ASSERT_EQ(again.size(), 60u);
  EXPECT_EQ(again.front(), Payload(40));
  EXPECT_EQ(again.back(), Payload(99));
  ASSERT_TRUE(b->Append("after", 0).ok());  // numbering goes on
  auto next = b->Take(10, milliseconds(0));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 101u);
}

TEST_F(DiskBufferTest, TornTailIsCutCountedAndTheRestKept) {
  {
    auto b = Open();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(b->Append(Payload(i), i).ok());
  }
  const std::string last = Segments().back();
  // What a kill -9 in the middle of a write() leaves: half a frame.
  std::string torn;
  EncodeFrame(11, 0, Payload(10), &torn);
  {
    std::ofstream out(last, std::ios::app | std::ios::binary);
    out.write(torn.data(), static_cast<std::streamsize>(torn.size() / 2));
  }
  const auto size_before = fs::file_size(last);
  auto b = Open();
  EXPECT_EQ(b->recovery().cut_segments, 1u);
  EXPECT_EQ(b->recovery().truncated_bytes, torn.size() / 2);
  ASSERT_EQ(b->recovery().problems.size(), 1u);
  EXPECT_NE(b->recovery().problems[0].find("truncated"), std::string::npos);
  EXPECT_EQ(fs::file_size(last), size_before - torn.size() / 2);
  auto all = Drain(*b);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.back(), Payload(9));
}

TEST_F(DiskBufferTest, CorruptRecordInAnOlderSegmentIsReportedNotSilent) {
  {
    auto b = Open();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(b->Append(Payload(i), i).ok());
  }
  const std::string first = Segments().front();
  {
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(kSegmentMagic.size() + 30));
    f.put('\x7f');
  }
  auto b = Open();
  EXPECT_EQ(b->recovery().cut_segments, 1u);
  EXPECT_GT(b->recovery().truncated_bytes, 0u);
  EXPECT_LT(b->recovery().records, 100u);
  // The records of later segments are all there, in order.
  auto all = Drain(*b);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), Payload(99));
}

TEST_F(DiskBufferTest, BoundedInBytesAndWaitsForSpace) {
  options_.max_bytes = 16384;
  options_.segment_bytes = 4096;
  auto b = Open();
  int appended = 0;
  for (;;) {
    auto r = b->Append(Payload(appended), 0);
    if (!r.ok()) {
      EXPECT_EQ(r.error(), make_error_code(errc::resource_exhausted));
      break;
    }
    ++appended;
  }
  EXPECT_LE(b->stats().bytes, options_.max_bytes);
  EXPECT_FALSE(b->WaitForSpace(Payload(0).size(), milliseconds(0)));
  auto taken = b->Take(1000, milliseconds(0));
  ASSERT_EQ(static_cast<int>(taken.size()), appended);
  for (const auto& e : taken) b->Ack(e.seq);
  EXPECT_TRUE(b->WaitForSpace(Payload(0).size(), milliseconds(0)));
  EXPECT_TRUE(b->Append(Payload(0), 0).ok());
  EXPECT_EQ(b->stats().full, 1u);
  // Forced appends (stopping) go beyond the bound rather than lose a record.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(b->Append(Payload(i), 0, /*force=*/true).ok());
  EXPECT_GT(b->stats().bytes, options_.max_bytes);
}

TEST_F(DiskBufferTest, HostileFilesAreCutOrRemoved) {
  {
    std::ofstream(dir_ + "/00000000000000000001.seg") << "garbage that is not a segment";
    std::ofstream(dir_ + "/00000000000000000002.seg") << std::string(kSegmentMagic);
  }
  auto b = Open();
  EXPECT_EQ(b->recovery().records, 0u);
  EXPECT_EQ(b->recovery().cut_segments, 1u);
  EXPECT_TRUE(Drain(*b).empty());
  ASSERT_TRUE(b->Append("x", 0).ok());
}

TEST_F(DiskBufferTest, FsyncAlwaysAndIntervalWork) {
  options_.fsync = FsyncPolicy::kAlways;
  {
    auto b = Open();
    ASSERT_TRUE(b->Append("a", 0).ok());
  }
  options_.fsync = FsyncPolicy::kInterval;
  options_.fsync_interval_ms = 1;
  auto b = Open();
  ASSERT_TRUE(b->Append("b", 0).ok());
  EXPECT_TRUE(b->Maintain().ok());
  auto all = Drain(*b);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "a");
}

}  // namespace
}  // namespace aiot::kafka
