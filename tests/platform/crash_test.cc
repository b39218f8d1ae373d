// Crash safety of the model registry: a child process pushes models (large uploads written in
// chunks) and is killed with SIGKILL at arbitrary moments; reopening the registry must find it
// consistent: no temp files, no unregistered artifacts, every registered version complete and
// verifiable, versions contiguous.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "registry/model_registry.h"
#include "registry/test_dir.h"

namespace aiot::registry {
namespace {

RegistryConfig Config(const std::string& dir) {
  RegistryConfig c;
  c.data_dir = dir;
  c.max_artifact_bytes = 64 << 20;
  return c;
}

// Child: pushes models forever; after each commit writes the version to `fd`.
[[noreturn]] void PushForever(const std::string& dir, int fd, uint32_t seed) {
  ModelRegistry reg(Config(dir));
  if (!reg.Open().ok()) _exit(2);
  std::mt19937 rng(seed);
  std::string chunk(64 * 1024, '\0');
  for (int i = 0;; ++i) {
    auto up = reg.BeginUpload();
    if (!up.ok()) _exit(3);
    int chunks = 1 + static_cast<int>(rng() % 64);  // up to 4 MiB
    for (int c = 0; c < chunks; ++c) {
      for (auto& b : chunk) b = static_cast<char>(rng());
      if (!(*up)->Write(chunk).ok()) _exit(4);
    }
    PushRequest req;
    req.name = "crash-model";
    req.metrics_json = "{\"i\":" + std::to_string(i) + "}";
    auto m = reg.Commit(std::move(*up), req);
    if (!m.ok()) _exit(5);
    int64_t v = m->version;
    if (::write(fd, &v, sizeof(v)) != sizeof(v)) _exit(6);
  }
}

TEST(CrashSafetyTest, KillDuringUploadsLeavesConsistentRegistry) {
  TestDir dir;
  int64_t reported = 0;
  std::mt19937 rng(42);
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      PushForever(dir.path(), fds[1], static_cast<uint32_t>(round));
    }
    ::close(fds[1]);
    // Wait for at least one commit in this round, then kill at a random moment.
    int64_t v = 0;
    ASSERT_EQ(::read(fds[0], &v, sizeof(v)), static_cast<ssize_t>(sizeof(v)))
        << "child made no progress";
    reported = v;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    while (::read(fds[0], &v, sizeof(v)) == static_cast<ssize_t>(sizeof(v))) reported = v;
    ::close(fds[0]);

    ModelRegistry reg(Config(dir.path()));
    ASSERT_TRUE(reg.Open().ok());
    std::vector<std::string> problems = reg.CheckConsistency();
    EXPECT_TRUE(problems.empty()) << problems.front();
    auto list = reg.List("crash-model");
    ASSERT_TRUE(list.ok());
    ASSERT_FALSE(list->empty());
    // The child may have committed one more version than it managed to report.
    int64_t newest = list->front().version;
    EXPECT_TRUE(newest == reported || newest == reported + 1)
        << "newest " << newest << " reported " << reported;
    EXPECT_EQ(static_cast<int64_t>(list->size()), newest);
    EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/artifacts/tmp"));
    // Every file in artifacts/ belongs to a version.
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/artifacts")) {
      if (e.is_regular_file()) ++files;
    }
    EXPECT_EQ(files, 2 * list->size());  // artifact + .sig
  }
}

}  // namespace
}  // namespace aiot::registry
