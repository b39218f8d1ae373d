// Runs the real `aiot` binary as a user would.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include "base/allocator.h"
#include "tests/support/testing.h"

namespace {

struct Outcome {
  int code;
  std::string out;  // stdout and stderr together
};

// `redirect` says which streams are captured: both by default.
Outcome Aiot(const std::string& args, const std::string& env = "",
             const std::string& redirect = " 2>&1") {
  std::string cmd = env + " " + AIOT_BIN + " " + args + redirect;
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

// AIOT_MALLOC (cmake/malloc.cmake): the binary reports the allocator it really runs with, found at
// run time (jemalloc's mallctl("version") answers), so a link that silently dropped jemalloc fails
// here.
TEST(Cli, VersionNamesTheAllocatorTheBinaryRuns) {
  Outcome r = Aiot("version --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string expected = std::string(AIOT_EXPECT_MALLOC) == "jemalloc"
                                   ? "\"allocator\":\"jemalloc 5."
                                   : "\"allocator\":\"glibc ";
  EXPECT_NE(r.out.find(expected), std::string::npos)
      << "AIOT_MALLOC=" << AIOT_EXPECT_MALLOC << ": " << r.out;
  Outcome text = Aiot("version");
  EXPECT_NE(text.out.find(", allocator "), std::string::npos) << text.out;
}

// The tests themselves run with the allocator that ships (every executable links it).
TEST(Cli, TestsRunWithTheShippedAllocator) {
  const std::string name = aiot::AllocatorName();
  if (std::string(AIOT_EXPECT_MALLOC) == "jemalloc") {
    EXPECT_EQ(name.rfind("jemalloc ", 0), 0u) << name;
  } else {
    EXPECT_EQ(name.find("jemalloc"), std::string::npos) << name;
  }
}

TEST(Cli, ConfigDefaultsIsCommentedAndValid) {
  Outcome r = Aiot("config defaults");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("# Logging.\nlog:\n"), std::string::npos) << r.out;
  std::string path = TempFile("defaults.yaml", r.out);
  Outcome check = Aiot("config check " + path);
  EXPECT_EQ(check.code, 0) << check.out;
}

// --dry-run parses the command line and loads the configuration, and runs nothing: what the
// Kubernetes manifests' test uses to check each container's command line.
TEST(Cli, DryRunAcceptsAValidCommandLineWithoutRunningIt) {
  std::string path = TempFile("dry.yaml", "http:\n  listen: \"0.0.0.0:8080\"\n");
  // `up` would listen and block; with --dry-run it returns at once.
  Outcome up = Aiot("--dry-run --config " + path + " up --simulate 2");
  EXPECT_EQ(up.code, 0) << up.out;
  EXPECT_EQ(up.out.find("listening"), std::string::npos) << up.out;
  Outcome predictor = Aiot(
      "--dry-run predictor --mqtt tcp://broker:1883 --registry http://aiot:8080 --http "
      "0.0.0.0:8081");
  EXPECT_EQ(predictor.code, 0) << predictor.out;
}

TEST(Cli, DryRunRefusesAnUnknownFlagAndABadConfiguration) {
  Outcome flag = Aiot("--dry-run up --simulte 2");
  EXPECT_NE(flag.code, 0) << flag.out;
  std::string path = TempFile("dry_bad.yaml", "http:\n  listn: x\n");
  Outcome config = Aiot("--dry-run --config " + path + " broker");
  EXPECT_EQ(config.code, 2) << config.out;
  EXPECT_NE(config.out.find("http.listn"), std::string::npos) << config.out;
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

// What `aiot` writes to stderr alone (stdout discarded).
Outcome AiotStderr(const std::string& args, const std::string& env = "") {
  return Aiot(args, env, " 2>&1 >/dev/null");
}

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, BrokenConfigFileAtUpIsOneErrorNamingKeyAndLine) {
  std::string path = TempFile("broken_up.yaml", "threads: 1\nstore:\n  synchronous: fast\n");
  Outcome r = AiotStderr("--config " + path + " up");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "aiot: configuration error: store.synchronous: must be off, normal or full, got "
            "`fast` (" +
                path + ":3)\n");
  // The same through AIOT_CONFIG, and for a command that does not need the configuration: one
  // warning, after it ran.
  Outcome v = AiotStderr("version", "AIOT_CONFIG=" + path);
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(Lines(v.out), 1u) << v.out;
  EXPECT_NE(v.out.find("aiot: warning: configuration not applied: store.synchronous: "),
            std::string::npos)
      << v.out;
}

TEST(Cli, ConfigCheckPrintsEveryProblem) {
  std::string path = TempFile("problems.yaml",
                              "bootstrap:\n"
                              "  hidden: [60, ten]\n"
                              "store:\n"
                              "  synchronous: fast\n"
                              "predictor:\n"
                              "  qos: 2\n"
                              "  thresholds:\n"
                              "    warning: 0.9\n"
                              "    critical: 0.5\n");
  Outcome r = AiotStderr("config check " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out,
            "predictor.qos: must be between 0 and 1, got `2` (" + path +
                ":6)\n"
                "store.synchronous: must be off, normal or full, got `fast` (" +
                path +
                ":4)\n"
                "bootstrap.hidden: item 2 must be an integer, got `ten` (" +
                path +
                ":2)\n"
                "predictor.thresholds.warning: (0.9) must not exceed thresholds.critical (0.5) (" +
                path + ":8)\n");
  // Without FILE it checks the effective configuration: --config, the environment, --set.
  Outcome env = AiotStderr("config check", "AIOT_BOOTSTRAP_HIDDEN=8,0");
  EXPECT_EQ(env.code, 1);
  EXPECT_EQ(env.out,
            "bootstrap.hidden: item 2 must be between 1 and 4096, got `0` "
            "(AIOT_BOOTSTRAP_HIDDEN)\n");
  Outcome ok = Aiot("--set bootstrap.hidden=[16,8] config check");
  EXPECT_EQ(ok.code, 0) << ok.out;
}

TEST(Cli, OldSubcommandNamesStillWorkWithANotice) {
  Outcome now = AiotStderr("tflite inspect /nonexistent.tflite");
  Outcome old = AiotStderr("model inspect /nonexistent.tflite");
  EXPECT_EQ(now.code, 1);
  EXPECT_EQ(old.code, now.code);
  EXPECT_EQ(old.out,
            "aiot: `aiot model` is deprecated and will be removed; use `aiot tflite`\n" + now.out);
  Outcome agent = AiotStderr("device --help");
  EXPECT_EQ(agent.out, "aiot: `aiot device` is deprecated and will be removed; use `aiot agent`\n");
  Outcome help = Aiot("--help");
  EXPECT_NE(help.out.find("tflite"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("agent"), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find("  model "), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find("  device "), std::string::npos) << help.out;
}

TEST(Cli, BadOverrideIsAClearError) {
  Outcome r = Aiot("config show --set thread=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("thread: unknown key; did you mean `threads`? (--set)"), std::string::npos)
      << r.out;
}

}  // namespace

namespace {

using aiot::test_support::FreePort;

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

// A stand-in HTTP server for the API commands (or some other service their --url may name): it
// answers every request with a 200 of `body`, one request per connection, and keeps the head of
// the last request it got.
class CannedHttpServer {
 public:
  CannedHttpServer(std::string body, std::string type) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    reply_ = "HTTP/1.1 200 OK\r\nContent-Type: " + type +
             "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body;
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedHttpServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The head of the last request answered (complete before its reply was sent).
  std::string last_request() {
    std::lock_guard lock(mu_);
    return last_request_;
  }

 private:
  void Serve() {
    int c;
    while ((c = accept(fd_, nullptr, nullptr)) >= 0) {
      std::string request;
      char buf[4096];
      ssize_t n;
      while (request.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof buf)) > 0) {
        request.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        last_request_ = std::move(request);
      }
      (void)!write(c, reply_.data(), reply_.size());
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::string reply_;
  std::mutex mu_;
  std::string last_request_;
  std::thread thread_;
};

// `aiot models` finds `aiot up`'s admin token in the data directory of the effective
// configuration, not in a fixed place.
TEST(Cli, RegistryCommandsReadTheAdminTokenOfTheConfiguredDataDir) {
  auto dir =
      std::filesystem::temp_directory_path() / ("aiot_cli_token_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "admin.token") << "tok-from-data-dir\n";
  std::string cfg = TempFile("token.yaml", "registry:\n  data_dir: " + dir.string() + "\n");
  CannedHttpServer server(R"({"models":[]})", "application/json");
  Outcome r = Aiot("--config " + cfg + " models list --url " + server.url(),
                   "env -u AIOT_TOKEN -u AIOT_TOKEN_FILE");
  EXPECT_EQ(r.code, 0) << r.out;
  std::string req = server.last_request();
  EXPECT_EQ(req.rfind("GET /api/v1/models HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Authorization: Bearer tok-from-data-dir\r\n"), std::string::npos) << req;
  std::filesystem::remove_all(dir);
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

// Replies from the API are network input: a body that is not JSON is a clear error, fields of
// the wrong type print as absent, and nothing crashes the CLI.
TEST(Cli, ApiCommandsRefuseRepliesThatAreNotJson) {
  CannedHttpServer html("<html>hello</html>", "text/html");
  for (const char* cmd : {"rollout status", "devices list", "models rollback m"}) {
    Outcome r = Aiot(std::string(cmd) + " --token t --url " + html.url());
    EXPECT_EQ(r.code, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("the reply is not JSON"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(Cli, ApiCommandsPrintMistypedFieldsAsAbsent) {
  CannedHttpServer odd(R"({"rollouts":[{"id":5,"model":["x"],"counts":"many","devices":7}],)"
                       R"("devices":[{"id":1,"labels":{"site":3},"online":"yes"}]})",
                       "application/json");
  Outcome rollouts = Aiot("rollout status --token t --url " + odd.url());
  EXPECT_EQ(rollouts.code, 0) << rollouts.out;
  EXPECT_NE(rollouts.out.find("?  ?@0  ?  ok=0"), std::string::npos) << rollouts.out;
  Outcome devices = Aiot("devices list --token t --url " + odd.url());
  EXPECT_EQ(devices.code, 0) << devices.out;
  EXPECT_NE(devices.out.find("site:3"), std::string::npos) << devices.out;
}

}  // namespace
