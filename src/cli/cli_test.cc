// Runs the real `aiot` binary as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

struct Outcome {
  int code;
  std::string out;  // stdout and stderr together
};

Outcome Aiot(const std::string& args, const std::string& env = "") {
  std::string cmd = env + " " + AIOT_BIN + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string TempFile(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("aiot_cli_test_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(Cli, HelpListsSubcommands) {
  Outcome r = Aiot("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* sub : {"version", "config"}) {
    EXPECT_NE(r.out.find(sub), std::string::npos) << r.out;
  }
}

TEST(Cli, NoSubcommandIsAUsageError) {
  Outcome r = Aiot("");
  EXPECT_NE(r.code, 0);
}

TEST(Cli, VersionPrintsVersionCommitAndBuild) {
  Outcome r = Aiot("version --json");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\"version\":\"0."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"commit\":"), std::string::npos);
  EXPECT_NE(r.out.find("\"build\":"), std::string::npos);
}

TEST(Cli, ConfigDefaultsIsCommentedAndValid) {
  Outcome r = Aiot("config defaults");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("# Logging.\nlog:\n"), std::string::npos) << r.out;
  std::string path = TempFile("defaults.yaml", r.out);
  Outcome check = Aiot("config check " + path);
  EXPECT_EQ(check.code, 0) << check.out;
}

TEST(Cli, ConfigCheckNamesLineOfUnknownKey) {
  std::string path = TempFile("bad.yaml", "threads: 2\nlog:\n  levl: debug\n");
  Outcome r = Aiot("config check " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(path + ":3: unknown key `log.levl`; did you mean `level`?"),
            std::string::npos)
      << r.out;
}

TEST(Cli, EnvironmentAndSetOverrideTheFile) {
  std::string path = TempFile("ok.yaml", "threads: 2\ndata_dir: /from/file\nlog:\n  level: warn\n");
  Outcome r = Aiot("--config " + path + " --set threads=3 config show", "AIOT_DATA_DIR=/from/env");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("threads: 3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data_dir: /from/env\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("level: warn\n"), std::string::npos) << r.out;
}

TEST(Cli, BadOverrideIsAClearError) {
  Outcome r = Aiot("config show --set thread=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown key `thread`; did you mean `threads`?"), std::string::npos)
      << r.out;
}

}  // namespace
