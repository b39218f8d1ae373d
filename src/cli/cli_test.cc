// Runs the real `aiot` binary as a user would.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

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
  EXPECT_NE(r.out.find("log.levl: unknown key; did you mean `level`? (" + path + ":3)"),
            std::string::npos)
      << r.out;
}

TEST(Cli, EnvironmentAndSetOverrideTheFile) {
  std::string path =
      TempFile("ok.yaml", "threads: 2\nmodel_name: from-file\nlog:\n  level: warn\n");
  Outcome r = Aiot("--config " + path + " --set threads=3 config show", "AIOT_MODEL_NAME=from-env");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("threads: 3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model_name: from-env\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("level: warn\n"), std::string::npos) << r.out;
}

TEST(Cli, BadOverrideIsAClearError) {
  Outcome r = Aiot("config show --set thread=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("thread: unknown key; did you mean `threads`? (--set)"), std::string::npos)
      << r.out;
}

}  // namespace

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One HTTP/1.1 GET over a fresh connection; "" when nothing answers.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// Logs: JSON lines with --log-format json; per-module levels from the configuration apply to every
// subcommand (`aiot simulate --history` logs one info line from module `sim`).
TEST(Cli, JsonLogsAndPerModuleLevels) {
  std::string out_csv = TempFile("history.csv", "");
  std::string cmd = "simulate --history 50 --out " + out_csv;
  Outcome json = Aiot("--log-format json " + cmd);
  ASSERT_EQ(json.code, 0) << json.out;
  EXPECT_EQ(json.out.rfind("{\"ts\":\"", 0), 0u) << json.out;
  EXPECT_NE(json.out.find("\"level\":\"info\",\"module\":\"sim\",\"msg\":\"wrote 50 rows"),
            std::string::npos)
      << json.out;
  Outcome quiet = Aiot("--log-format text --set 'log.modules={sim: warn}' " + cmd);
  ASSERT_EQ(quiet.code, 0) << quiet.out;
  EXPECT_EQ(quiet.out.find("wrote 50 rows"), std::string::npos) << quiet.out;
  Outcome loud = Aiot("--log-format text --log-level warn --set 'log.modules={sim: info}' " + cmd);
  ASSERT_EQ(loud.code, 0) << loud.out;
  EXPECT_NE(loud.out.find("info  sim        wrote 50 rows"), std::string::npos) << loud.out;
  std::filesystem::remove(out_csv);
}

TEST(Cli, UpServesHealthAndMetricsAndStopsCleanlyOnSigterm) {
  int port = FreePort();
  std::string listen = "http.listen=127.0.0.1:" + std::to_string(port);
  auto dir = std::filesystem::temp_directory_path() / ("aiot_cli_up_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::string data_dir = "registry.data_dir=" + (dir / "var").string();
  std::string store_path = "store.path=" + (dir / "telemetry.db").string();
  std::string broker = "broker.listeners=[127.0.0.1:" + std::to_string(FreePort()) + "]";
  pid_t pid = fork();
  if (pid == 0) {
    execl(AIOT_BIN, AIOT_BIN, "up", "--set", listen.c_str(), "--set", data_dir.c_str(), "--set",
          store_path.c_str(), "--set", broker.c_str(), "--set", "bootstrap.rows=2000", "--set",
          "bootstrap.epochs=3", "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string health;
  for (int i = 0; i < 1200 && health.empty(); ++i) {  // up to 120 s on a loaded machine
    health = HttpGet(port, "/healthz");
    if (health.empty()) usleep(100 * 1000);
  }
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  std::string metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("text/plain; version=0.0.4"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("# TYPE aiot_http_requests_total counter"), std::string::npos);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(HttpGet(port, "/healthz"), "");
  std::filesystem::remove_all(dir);
}

}  // namespace
