#pragma once

// Sample packets of every type, with every property their packet type may carry: used by the
// round-trip tests and by the fuzz seed corpus generator.
#include <string>
#include <utility>
#include <vector>

#include "mqtt/protocol/packet.h"

namespace aiot::mqtt::testing {

// (name, packet) pairs valid for `version` (kMqtt311 or kMqtt5). For v5 together they use every
// property at least once; for 3.1.1 they carry no properties.
std::vector<std::pair<std::string, Packet>> SamplePackets(uint8_t version);

}  // namespace aiot::mqtt::testing
