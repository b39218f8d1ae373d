// Model download throughput: 100 concurrent devices (threads, each with its own keep-alive
// connection and device token) fetch a model artifact from the platform API
// (GET /api/v1/models/<name>/versions/<v>/artifact, bearer auth, ETag, streamed from the
// content-addressed file). The peer is nginx (Debian nginx-light) serving the same file to the
// same client threads, in the same run. Python's http.server is kept as a second reference; it
// fails under 100 simultaneous connects (listen backlog 5).
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "base/log.h"
#include "mqtt/client/test_util.h"
#include "platform_harness.h"
#include "tests/support/testing.h"

namespace aiot::platform_test {
namespace {

constexpr int kDevices = 100;
constexpr int kDownloadsPerDevice = 10;

struct Fixture {
  Fixture() : h(16 << 20, 2) {
    log::LogConfig lc;
    lc.level = "warn";
    log::Init(lc);
    ok = h.Start();
    std::string bytes(static_cast<size_t>(artifact_size), '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 24);
    registry::PushRequest req;
    req.name = "fan-mlp";
    auto m = h.models->Push(bytes, req);
    ok = ok && m.ok();
    sha = m->sha256;
    for (int i = 0; i < kDevices; ++i) {
      registry::DeviceSpec s;
      s.id = "dev-" + std::to_string(i);
      auto c = h.devices->Provision(s);
      ok = ok && c.ok();
      tokens.push_back(c->token);
    }
  }
  int64_t artifact_size = 256 * 1024;
  PlatformHarness h;
  bool ok = false;
  std::string sha;
  std::vector<std::string> tokens;
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

// Runs kDevices threads x kDownloadsPerDevice GETs; returns false on any error or short body.
bool RunDownloads(const std::string& url, const std::string& target,
                  const std::vector<std::string>& tokens, int64_t size) {
  std::atomic<bool> ok{true};
  std::vector<std::thread> threads;
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] {
      net::HttpClient c(url, tokens.empty() ? "" : tokens[static_cast<size_t>(i)]);
      for (int k = 0; k < kDownloadsPerDevice; ++k) {
        auto r = c.Get(target);
        if (!r.ok() || r->status != 200 || static_cast<int64_t>(r->body.size()) != size) {
          ok = false;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return ok;
}

void BM_AiotArtifactDownload(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.ok) return state.SkipWithError("setup failed");
  for (auto _ : state) {
    if (!RunDownloads(f.h.url(), "/api/v1/models/fan-mlp/versions/1/artifact", f.tokens,
                      f.artifact_size)) {
      state.SkipWithError("download failed");
    }
  }
  int64_t n = state.iterations() * kDevices * kDownloadsPerDevice;
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * f.artifact_size);
}
BENCHMARK(BM_AiotArtifactDownload)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PythonHttpServerDownload(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.ok) return state.SkipWithError("setup failed");
  uint16_t port = mqtt::testing::FreePort();
  pid_t pid = fork();
  if (pid == 0) {
    std::string dir = f.h.data_dir() + "/artifacts";
    std::string p = std::to_string(port);
    execl("/usr/bin/python3", "python3", "-m", "http.server", p.c_str(), "--bind", "127.0.0.1",
          "--directory", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  bool up = test_support::WaitFor(
      [&] {
        net::HttpClient c(url);
        auto r = c.Get("/" + f.sha);
        return r.ok() && r->status == 200;
      },
      std::chrono::seconds(20));
  if (!up) state.SkipWithError("python http.server did not start");
  for (auto _ : state) {
    if (up && !RunDownloads(url, "/" + f.sha, {}, f.artifact_size)) {
      state.SkipWithError("download failed");
    }
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  int64_t n = state.iterations() * kDevices * kDownloadsPerDevice;
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * f.artifact_size);
}
BENCHMARK(BM_PythonHttpServerDownload)->Unit(benchmark::kMillisecond)->UseRealTime();

// The peer: nginx (Debian nginx-light) serving the registry's artifacts directory, one worker per
// core (like the aiot server's 2 contexts), sendfile, keep-alive; same clients, same file, no auth.
void BM_NginxDownload(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.ok) return state.SkipWithError("setup failed");
  if (access("/usr/sbin/nginx", X_OK) != 0) return state.SkipWithError("nginx not installed");
  uint16_t port = mqtt::testing::FreePort();
  std::string work = f.h.data_dir() + "/nginx";
  std::filesystem::create_directories(work);
  {
    std::ofstream conf(work + "/nginx.conf");
    // Started as root, nginx's workers would run as nobody and could not read the registry's
    // private (0700) data dir.
    if (geteuid() == 0) conf << "user root;\n";
    conf << "worker_processes 2;\ndaemon off;\npid " << work << "/nginx.pid;\nerror_log " << work
         << "/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
         << "  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n"
         << "  default_type application/octet-stream;\n"
         << "  client_body_temp_path " << work << "/body;\n  proxy_temp_path " << work
         << "/proxy;\n  fastcgi_temp_path " << work << "/fastcgi;\n  uwsgi_temp_path " << work
         << "/uwsgi;\n  scgi_temp_path " << work << "/scgi;\n"
         << "  server {\n    listen 127.0.0.1:" << port << " backlog=4096;\n    root "
         << f.h.data_dir() << "/artifacts;\n  }\n}\n";
  }
  pid_t pid = fork();
  if (pid == 0) {
    std::string conf = work + "/nginx.conf";
    execl("/usr/sbin/nginx", "nginx", "-c", conf.c_str(), "-p", work.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  bool up = test_support::WaitFor(
      [&] {
        net::HttpClient c(url);
        auto r = c.Get("/" + f.sha);
        return r.ok() && r->status == 200;
      },
      std::chrono::seconds(20));
  if (!up) state.SkipWithError("nginx did not start");
  for (auto _ : state) {
    if (up && !RunDownloads(url, "/" + f.sha, {}, f.artifact_size)) {
      state.SkipWithError("download failed");
    }
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  int64_t n = state.iterations() * kDevices * kDownloadsPerDevice;
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * f.artifact_size);
}
BENCHMARK(BM_NginxDownload)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace aiot::platform_test
