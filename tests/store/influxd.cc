#include "influxd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "net/http_client.h"
#include "tests/support/testing.h"

namespace aiot::store::testing {

namespace fs = std::filesystem;

bool Influxd::Available() { return ::access(kBinary, X_OK) == 0; }

Influxd::Influxd() {
  dir_ = (fs::temp_directory_path() /
          fmt::format("aiot-influxd-{}-{}", ::getpid(), std::random_device{}()))
             .string();
  fs::create_directories(dir_);
  port_ = test_support::FreePort();
  rpc_port_ = test_support::FreePort();
  std::ofstream(dir_ + "/influxdb.conf")
      << fmt::format(R"(reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{dir}/meta"
  logging-enabled = false
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false
  max-body-size = 0
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
)",
                     fmt::arg("rpc", rpc_port_), fmt::arg("dir", dir_), fmt::arg("port", port_));
}

Influxd::~Influxd() {
  Stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string Influxd::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

bool Influxd::Start(int timeout_ms) {
  if (pid_ > 0) return true;
  pid_ = ::fork();
  if (pid_ == 0) {
    int log = ::open((dir_ + "/influxd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    std::string conf = dir_ + "/influxdb.conf";
    ::execl(kBinary, kBinary, "run", "-config", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid_ < 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    net::HttpClientOptions options;
    options.timeout = std::chrono::milliseconds(2000);
    auto r = net::HttpRequest("GET", url() + "/ping", {}, options);
    if (r && r->status == 204) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  return false;
}

void Influxd::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

nlohmann::json Influxd::Query(const std::string& db, const std::string& q) {
  auto r =
      net::HttpRequest("GET", url() + fmt::format("/query?db={}&q={}", net::HttpClient::Escape(db),
                                                  net::HttpClient::Escape(q)));
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

double Influxd::Scalar(const std::string& db, const std::string& q) {
  auto j = Query(db, q);
  try {
    return j.at("results").at(0).at("series").at(0).at("values").at(0).at(1).get<double>();
  } catch (...) {
    return -1;
  }
}

}  // namespace aiot::store::testing
