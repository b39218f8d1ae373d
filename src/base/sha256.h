#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aiot {

// SHA-256 (FIPS 180-4), incremental. Small and dependency-free so that modules which may not link
// OpenSSL (ml, dsp) can fingerprint data. No allocation, no exceptions.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Final();

 private:
  void Block(const uint8_t* p);

  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Lower-case hex digest of `data`.
std::string Sha256Hex(std::string_view data);
// True for what Sha256Hex returns: 64 lower-case hex digits.
bool IsSha256Hex(std::string_view s);
std::string ToHex(const uint8_t* data, size_t size);

}  // namespace aiot
