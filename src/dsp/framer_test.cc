#include "dsp/framer.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace aiot::dsp {
namespace {

// Feeding 0,1,2,... in uneven chunks, every frame is a run of consecutive values starting at a
// multiple of the hop.
TEST(Framer, OverlappingFramesFromUnevenChunks) {
  Framer framer(8, 3);
  std::vector<float> stream(40);
  std::iota(stream.begin(), stream.end(), 0.0f);
  std::vector<float> starts;
  size_t pos = 0;
  for (size_t chunk : {1u, 5u, 2u, 13u, 7u, 12u}) {
    framer.Push(std::span<const float>(stream).subspan(pos, chunk), [&](std::span<const float> f) {
      ASSERT_EQ(f.size(), 8u);
      for (size_t i = 1; i < f.size(); ++i) ASSERT_EQ(f[i], f[0] + static_cast<float>(i));
      starts.push_back(f[0]);
    });
    pos += chunk;
  }
  ASSERT_EQ(pos, stream.size());
  // First frame at sample 8 (start 0), then every 3 samples: starts 0,3,...,30 (ends at 38 <= 40).
  std::vector<float> want;
  for (float s = 0; s + 8 <= 40; s += 3) want.push_back(s);
  EXPECT_EQ(starts, want);
}

TEST(Framer, NoOverlapAndReset) {
  Framer framer(4, 4);
  std::vector<float> stream(10);
  std::iota(stream.begin(), stream.end(), 0.0f);
  int frames = 0;
  framer.Push(stream, [&](std::span<const float> f) {
    EXPECT_EQ(f[0], 4.0f * static_cast<float>(frames));
    ++frames;
  });
  EXPECT_EQ(frames, 2);
  framer.Reset();
  frames = 0;
  framer.Push(std::span<const float>(stream).first(3), [&](std::span<const float>) { ++frames; });
  EXPECT_EQ(frames, 0);
}

}  // namespace
}  // namespace aiot::dsp
