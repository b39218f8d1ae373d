#pragma once

#include <cstdint>
#include <string_view>

namespace aiot {

// CRC32C (Castagnoli, as iSCSI/ext4/Kafka use), software (slicing-by-8). `crc` continues a previous
// value (Crc32c(b, Crc32c(a)) == Crc32c(a + b)). Used by the on-disk formats (kafka segments, the
// MQTT broker's persistence log).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace aiot
