#pragma once

#include <cstdint>
#include <string_view>

namespace aiot {

// CRC32C (Castagnoli, as iSCSI/ext4/Kafka use). `crc` continues a previous value
// (Crc32c(b, Crc32c(a)) == Crc32c(a + b)). Used by the on-disk formats (kafka segments, the MQTT
// broker's persistence log, the bridges' disk buffer). Runs on the CPU's CRC32C instruction when
// it has one (x86-64 SSE4.2, arm64 CRC extension; chosen once at run time), else on a portable
// slicing-by-8 table; both give the same values.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

namespace crc32c_detail {
// The portable implementation (every CPU).
uint32_t Portable(std::string_view data, uint32_t crc = 0);
// Whether this CPU has the CRC32C instruction Hardware uses, and its name ("" when not).
bool HardwareAvailable();
const char* HardwareName();
// The instruction-based implementation; only when HardwareAvailable().
uint32_t Hardware(std::string_view data, uint32_t crc = 0);
}  // namespace crc32c_detail

}  // namespace aiot
