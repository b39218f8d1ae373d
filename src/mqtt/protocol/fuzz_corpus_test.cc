// The fuzz seed corpus (fuzz_corpus/) holds one valid packet of every type for both protocol
// versions, in the fuzz target's input format (a control byte, then the packet bytes). This test
// checks the committed seeds still decode; with AIOT_WRITE_FUZZ_CORPUS=<dir> it (re)writes them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mqtt/protocol/codec.h"
#include "mqtt/protocol/test_packets.h"

namespace aiot::mqtt {
namespace {

namespace fs = std::filesystem;

std::string SeedName(uint8_t version, const std::string& name) {
  return (version == kMqtt5 ? "v5_" : "v311_") + name;
}

std::string Seed(uint8_t version, const Packet& packet) {
  // Control byte: version bit, fed in 64-byte fragments.
  std::string s(1, static_cast<char>((version == kMqtt5 ? 1 : 0) | (63 << 2)));
  EXPECT_TRUE(Encode(packet, version, &s).ok());
  return s;
}

TEST(FuzzCorpus, SeedsAreValidPacketsOfEveryType) {
  const char* write_dir = std::getenv("AIOT_WRITE_FUZZ_CORPUS");
  if (write_dir) {
    fs::create_directories(write_dir);
    for (uint8_t v : {kMqtt311, kMqtt5}) {
      for (const auto& [name, packet] : testing::SamplePackets(v)) {
        std::ofstream(fs::path(write_dir) / SeedName(v, name), std::ios::binary) << Seed(v, packet);
      }
    }
  }
  const char* src = std::getenv("AIOT_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "AIOT_SOURCE_DIR not set (run through ctest)";
  const fs::path dir = fs::path(src) / "src/mqtt/protocol/fuzz_corpus";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  for (uint8_t v : {kMqtt311, kMqtt5}) {
    for (const auto& [name, packet] : testing::SamplePackets(v)) {
      SCOPED_TRACE(SeedName(v, name));
      std::ifstream in(dir / SeedName(v, name), std::ios::binary);
      ASSERT_TRUE(in) << "missing seed; regenerate with AIOT_WRITE_FUZZ_CORPUS=" << dir;
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string seed = ss.str();
      ASSERT_GE(seed.size(), 2u);
      Decoder d({.protocol_version = v});
      d.Feed(std::string_view(seed).substr(1));
      auto r = d.Next();
      ASSERT_TRUE(r.ok() && r->has_value());
      EXPECT_EQ(**r, packet);
    }
  }
}

}  // namespace
}  // namespace aiot::mqtt
