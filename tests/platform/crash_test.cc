// Crash safety of the model registry: a child process pushes models (large uploads written in
// chunks) and is killed with SIGKILL at a chosen point of an upload; reopening the registry must
// find it consistent: no temp files, no unregistered artifacts, every registered version complete
// and verifiable, versions contiguous.
//
// The kill lands where it is meant to by construction, not by timing: the child reports each step
// on a pipe and then waits for the parent's go-ahead, so when the parent reads the step it chose
// the child is stopped exactly there. The parent kills it instead of answering.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "registry/model_registry.h"
#include "tests/support/temp_dir.h"

namespace aiot::registry {
namespace {

using test_support::TempDir;

RegistryConfig RegistryConfigIn(const std::string& dir) {
  RegistryConfig c;
  c.data_dir = dir;
  c.max_artifact_bytes = 64 << 20;
  return c;
}

// The steps of one push the child reports.
enum class Step : int32_t {
  kStarted,    // BeginUpload done; `chunks` chunks will be written
  kChunk,      // chunk `chunk` (0-based) of the upload written
  kWritten,    // every chunk written, Commit not called yet
  kCommitted,  // Commit returned `version`
};

const char* StepName(Step s) {
  switch (s) {
    case Step::kStarted:
      return "started";
    case Step::kChunk:
      return "chunk written";
    case Step::kWritten:
      return "all written, before commit";
    case Step::kCommitted:
      return "committed";
  }
  return "?";
}

struct Progress {
  Step step = Step::kStarted;
  int32_t upload = 0;   // 0-based, within the round
  int32_t chunk = 0;    // kChunk: which one
  int32_t chunks = 0;   // how many the upload has
  int64_t version = 0;  // kCommitted
};

// The child's side of the pipes: report, then wait for the go-ahead.
class Reporter {
 public:
  Reporter(int report_fd, int go_fd) : report_fd_(report_fd), go_fd_(go_fd) {}
  void Report(const Progress& p) {
    if (::write(report_fd_, &p, sizeof(p)) != sizeof(p)) _exit(6);
    char go = 0;
    if (::read(go_fd_, &go, 1) != 1) _exit(7);  // the parent went away
  }

 private:
  int report_fd_;
  int go_fd_;
};

// Child: pushes models forever, reporting every step and waiting at each.
[[noreturn]] void PushForever(const std::string& dir, Reporter& reporter, uint32_t seed) {
  ModelRegistry reg(RegistryConfigIn(dir));
  if (!reg.Open().ok()) _exit(2);
  std::mt19937 rng(seed);
  std::string chunk(64 * 1024, '\0');
  for (int32_t i = 0;; ++i) {
    auto up = reg.BeginUpload();
    if (!up.ok()) _exit(3);
    const int32_t chunks = 2 + static_cast<int32_t>(rng() % 31);  // 128 KiB to 2 MiB
    reporter.Report({Step::kStarted, i, 0, chunks, 0});
    for (int32_t c = 0; c < chunks; ++c) {
      for (auto& b : chunk) b = static_cast<char>(rng());
      if (!(*up)->Write(chunk).ok()) _exit(4);
      reporter.Report({Step::kChunk, i, c, chunks, 0});
    }
    reporter.Report({Step::kWritten, i, chunks - 1, chunks, 0});
    PushRequest req;
    req.name = "crash-model";
    req.metrics_json = "{\"i\":" + std::to_string(i) + "}";
    auto m = reg.Commit(std::move(*up), req);
    if (!m.ok()) _exit(5);
    reporter.Report({Step::kCommitted, i, chunks - 1, chunks, m->version});
  }
}

// Where a round kills the child: at `step` of upload `upload`; for kChunk, after chunk
// `chunk_fraction` of the way through the upload's chunks.
struct KillPoint {
  Step step;
  int32_t upload;
  double chunk_fraction = 0;
};

bool IsTarget(const KillPoint& k, const Progress& p) {
  if (p.step != k.step || p.upload != k.upload) return false;
  if (k.step != Step::kChunk) return true;
  // Mid-upload: any chunk but the last (an upload has two or more).
  const int32_t target = std::min(static_cast<int32_t>(k.chunk_fraction * p.chunks), p.chunks - 2);
  return p.chunk == target;
}

std::vector<KillPoint> Plan(std::mt19937& rng) {
  std::vector<KillPoint> plan;
  for (Step step : {Step::kChunk, Step::kWritten, Step::kCommitted}) {
    for (int n = 0; n < 2; ++n) {
      plan.push_back({step, static_cast<int32_t>(rng() % 3),
                      std::uniform_real_distribution<double>(0, 1)(rng)});
    }
  }
  std::shuffle(plan.begin(), plan.end(), rng);
  return plan;
}

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(CrashSafetyTest, KillDuringUploadsLeavesConsistentRegistry) {
  TempDir dir;
  std::mt19937 rng(42);
  int64_t committed = 0;  // versions of crash-model registered so far, over every round
  const std::vector<KillPoint> plan = Plan(rng);
  for (size_t round = 0; round < plan.size(); ++round) {
    const KillPoint& kill = plan[round];
    SCOPED_TRACE("round " + std::to_string(round) + ": kill at upload " +
                 std::to_string(kill.upload) + " " + StepName(kill.step));
    int report[2], go[2];
    ASSERT_EQ(::pipe(report), 0);
    ASSERT_EQ(::pipe(go), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(report[0]);
      ::close(go[1]);
      Reporter reporter(report[1], go[0]);
      PushForever(dir.path(), reporter, static_cast<uint32_t>(round));
    }
    ::close(report[1]);
    ::close(go[0]);

    // Follow the child step by step until it stands at the chosen point, then kill it there.
    Progress p;
    bool at_target = false;
    while (!at_target) {
      ASSERT_EQ(::read(report[0], &p, sizeof(p)), static_cast<ssize_t>(sizeof(p)))
          << "the child stopped before the kill point";
      if (p.step == Step::kCommitted) ++committed;
      at_target = IsTarget(kill, p);
      if (!at_target) {
        ASSERT_EQ(::write(go[1], "g", 1), 1);
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(report[0]);
    ::close(go[1]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    // Killed where it meant to: the last step reported is the chosen one.
    EXPECT_EQ(p.step, kill.step);
    EXPECT_EQ(p.upload, kill.upload);
    if (kill.step == Step::kChunk) {
      EXPECT_LT(p.chunk, p.chunks - 1);  // more chunks to come
    }

    // The crash left what it should: a half-written upload in artifacts/tmp unless the kill came
    // after a commit.
    const std::string tmp = dir.path() + "/artifacts/tmp";
    EXPECT_EQ(CountFiles(tmp), kill.step == Step::kCommitted ? 0u : 1u);

    ModelRegistry reg(RegistryConfigIn(dir.path()));
    ASSERT_TRUE(reg.Open().ok());
    std::vector<std::string> problems = reg.CheckConsistency();
    EXPECT_TRUE(problems.empty()) << problems.front();
    auto list = reg.List("crash-model");
    ASSERT_TRUE(list.ok());
    // Exactly the commits the child reported, numbered 1..n: a killed upload registered nothing.
    ASSERT_EQ(static_cast<int64_t>(list->size()), committed);
    if (committed > 0) {
      EXPECT_EQ(list->front().version, committed);
    }
    if (kill.step == Step::kCommitted) {
      EXPECT_EQ(p.version, committed);
    }
    EXPECT_TRUE(std::filesystem::is_empty(tmp));
    // Every file in artifacts/ belongs to a version.
    EXPECT_EQ(CountFiles(dir.path() + "/artifacts"), 2 * list->size());  // artifact + .sig
  }
}

}  // namespace
}  // namespace aiot::registry
