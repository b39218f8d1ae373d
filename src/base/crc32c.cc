#include "base/crc32c.h"

#include <array>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

namespace aiot {
namespace crc32c_detail {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// kTables[0] is the classic byte table; kTables[k][b] is the CRC of byte b followed by k zero
// bytes, so eight table lookups consume eight bytes at once (slicing-by-8).
using Tables = std::array<std::array<uint32_t, 256>, 8>;
constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}
constexpr Tables kTables = MakeTables();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t HardwareX86(const unsigned char* p, size_t n,
                                                       uint32_t crc) {
  uint64_t c = crc;
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n) c = _mm_crc32_u8(c, *p++);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  for (; n > 0; --n) c = _mm_crc32_u8(c, *p++);
  return static_cast<uint32_t>(c);
}
#elif defined(__aarch64__)
// GCC's arm_acle.h declares the intrinsics for a "+crc" function; clang's only when the whole file
// is built for the CRC extension, so clang uses its builtins (target "crc").
#if defined(__clang__)
#define AIOT_CRC32C_TARGET __attribute__((target("crc")))
#define AIOT_CRC32CB __builtin_arm_crc32cb
#define AIOT_CRC32CD __builtin_arm_crc32cd
#else
#define AIOT_CRC32C_TARGET __attribute__((target("+crc")))
#define AIOT_CRC32CB __crc32cb
#define AIOT_CRC32CD __crc32cd
#endif
AIOT_CRC32C_TARGET uint32_t HardwareArm(const unsigned char* p, size_t n, uint32_t crc) {
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n) crc = AIOT_CRC32CB(crc, *p++);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = AIOT_CRC32CD(crc, v);
  }
  for (; n > 0; --n) crc = AIOT_CRC32CB(crc, *p++);
  return crc;
}
#endif

using Fn = uint32_t (*)(std::string_view, uint32_t);
Fn Select() { return HardwareAvailable() ? &Hardware : &Portable; }

}  // namespace

uint32_t Portable(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  crc = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    // Byte by byte, so the result does not depend on the CPU's byte order.
    const uint32_t lo =
        crc ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
               static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    crc = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
          kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
          kTables[0][p[7]];
  }
  for (; n > 0; --n) crc = kTables[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

bool HardwareAvailable() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#elif defined(__aarch64__)
  return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#else
  return false;
#endif
}

const char* HardwareName() {
  if (!HardwareAvailable()) return "";
#if defined(__x86_64__)
  return "x86-64 SSE4.2 crc32";
#elif defined(__aarch64__)
  return "arm64 crc32c";
#else
  return "";
#endif
}

uint32_t Hardware(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
#if defined(__x86_64__)
  return ~HardwareX86(p, data.size(), ~crc);
#elif defined(__aarch64__)
  return ~HardwareArm(p, data.size(), ~crc);
#else
  (void)p;
  return Portable(data, crc);
#endif
}

}  // namespace crc32c_detail

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  static const crc32c_detail::Fn fn = crc32c_detail::Select();
  return fn(data, crc);
}

}  // namespace aiot
