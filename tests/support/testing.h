#pragma once

// Test support shared by every test (header-only, linked by aiot_test): waiting on a condition,
// a free loopback port, a whole file's text, and skipping a test whose external peer is missing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace aiot::test_support {

// Polls `pred` until it holds or `timeout` passes; true when it held. For waiting on a condition
// another thread or process brings about (never as a fixed sleep).
template <typename Pred>
bool WaitFor(Pred&& pred, std::chrono::milliseconds timeout = std::chrono::seconds(30),
             std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// The whole file as bytes; empty when it is missing or unreadable (a log a process may not have
// written yet, shown in a failure message).
inline std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A TCP port on 127.0.0.1 that was free a moment ago, for a server the test starts as another
// process (in-process servers bind port 0 and report theirs instead).
inline uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// True when the environment says every external peer must be there (scripts/test.sh sets
// AIOT_REQUIRE_PEERS=1 after installing them), so a missing install step fails instead of
// passing as skipped.
inline bool PeersRequired() {
  const char* v = std::getenv("AIOT_REQUIRE_PEERS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace aiot::test_support

// Skips the current test because an external peer (a program or package) is missing, or fails it
// when peers are required. Use only for peers scripts/setup.sh --test installs; for optional data
// (../shared) use GTEST_SKIP.
// One statement without an `else`, so it can follow an unbraced `if` (as GTEST_SKIP can).
#define AIOT_SKIP_WITHOUT_PEER(why)                                                           \
  return ::testing::internal::AssertHelper(                                                   \
             ::aiot::test_support::PeersRequired() ? ::testing::TestPartResult::kFatalFailure \
                                                   : ::testing::TestPartResult::kSkip,        \
             __FILE__, __LINE__,                                                              \
             ::aiot::test_support::PeersRequired()                                            \
                 ? "required peer missing (AIOT_REQUIRE_PEERS=1)"                             \
                 : "Skipped: peer missing") = ::testing::Message() << why
