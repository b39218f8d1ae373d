#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace aiot {
namespace {

using crc32c_detail::Hardware;
using crc32c_detail::HardwareAvailable;
using crc32c_detail::Portable;

// RFC 3720 appendix B.4 and the common check value.
struct Vector {
  std::string data;
  uint32_t crc;
};
std::vector<Vector> KnownVectors() {
  std::string inc(32, '\0'), dec(32, '\0');
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  return {{std::string(32, '\0'), 0x8A9136AAu},
          {std::string(32, '\xFF'), 0x62A8AB43u},
          {inc, 0x46DD794Eu},
          {dec, 0x113FDB5Cu},
          {"123456789", 0xE3069283u},
          {"", 0u}};
}

TEST(Crc32c, KnownVectorsPortable) {
  for (const Vector& v : KnownVectors()) EXPECT_EQ(Portable(v.data), v.crc) << v.data.size();
}

TEST(Crc32c, KnownVectorsHardwareWhenTheCpuHasIt) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no CRC32C instruction on this CPU";
  for (const Vector& v : KnownVectors()) EXPECT_EQ(Hardware(v.data), v.crc) << v.data.size();
}

TEST(Crc32c, DispatchedKnownVectors) {
  for (const Vector& v : KnownVectors()) EXPECT_EQ(Crc32c(v.data), v.crc) << v.data.size();
}

// The byte-at-a-time definition, independent of the implementations under test.
uint32_t Reference(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

// Random lengths, alignments (offset into a buffer) and starting values: every implementation
// gives the reference's value, and continuing a CRC equals the CRC of the concatenation.
TEST(Crc32c, EveryPathMatchesTheReferenceOnRandomLengthsAndAlignments) {
  std::mt19937_64 rng(15);
  std::string buf(4096 + 16, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  const bool hw = HardwareAvailable();
  for (int i = 0; i < 3000; ++i) {
    const size_t offset = rng() % 16;
    const size_t len = i < 200 ? static_cast<size_t>(i) : rng() % 4096;
    const uint32_t init = (i % 3 == 0) ? 0 : static_cast<uint32_t>(rng());
    const std::string_view data(buf.data() + offset, len);
    const uint32_t want = Reference(data, init);
    ASSERT_EQ(Portable(data, init), want) << "len " << len << " offset " << offset;
    ASSERT_EQ(Crc32c(data, init), want) << "len " << len << " offset " << offset;
    if (hw) {
      ASSERT_EQ(Hardware(data, init), want) << "len " << len << " offset " << offset;
    }
    const size_t cut = len == 0 ? 0 : rng() % len;
    ASSERT_EQ(Crc32c(data.substr(cut), Crc32c(data.substr(0, cut), init)), want);
  }
}

}  // namespace
}  // namespace aiot
