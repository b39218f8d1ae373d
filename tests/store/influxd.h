#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace aiot::store::testing {

// A private influxd (Debian's `influxdb` 1.6) for tests and benchmarks: its own config with every
// listener on a free loopback port, data/meta/wal in a temp directory, reporting and all other
// services disabled. Stop() and the destructor terminate it; the directory is removed at
// destruction.
class Influxd {
 public:
  static constexpr const char* kBinary = "/usr/bin/influxd";
  static bool Available();

  Influxd();
  ~Influxd();
  Influxd(const Influxd&) = delete;
  Influxd& operator=(const Influxd&) = delete;

  // Starts (or restarts, same port and data) and waits for /ping; false on failure.
  bool Start(int timeout_ms = 60000);
  void Stop();
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  std::string url() const;
  const std::string& dir() const { return dir_; }

  // GET /query; the parsed JSON, or null on failure.
  nlohmann::json Query(const std::string& db, const std::string& q);
  // The single number a `SELECT count(..)`/`sum(..)` returns, or -1.
  double Scalar(const std::string& db, const std::string& q);

 private:
  std::string dir_;
  uint16_t port_ = 0;
  uint16_t rpc_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace aiot::store::testing
