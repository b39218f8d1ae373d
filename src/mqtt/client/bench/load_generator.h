#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/tls.h"

// The MQTT load generator behind `aiot bench mqtt`: N publishers and M subscribers (aiot MQTT
// clients over TCP, or TLS for mqtts:// urls) against any broker, spread over one io_context per
// core. Each payload starts with the publisher's send time (steady clock, same process), so
// subscribers measure end-to-end latency into a LatencyHistogram.
namespace aiot::mqtt::bench {

enum class Mode {
  kPairs,   // publisher i -> topic i % T; subscriber j <- topic j % T (T defaults to pubs)
  kFanIn,   // every publisher on its own topic; every subscriber <- all topics ("#")
  kFanOut,  // publishers -> T topics (default 1); subscriber j <- topic j % T
};
Result<Mode> ParseMode(std::string_view s);
const char* ModeName(Mode m);

struct LoadOptions {
  std::string url = "tcp://127.0.0.1:1883";
  uint32_t pubs = 1;
  uint32_t subs = 1;
  uint32_t qos = 0;
  uint32_t size = 64;     // payload bytes (at least 24: timestamp, sequence, publisher)
  double rate = 0;        // messages/s per publisher; 0 = as fast as the window allows
  double duration_s = 5;  // publishing time
  uint32_t topics = 0;    // 0 = the mode's default
  Mode mode = Mode::kPairs;
  uint32_t protocol = 5;  // 4 or 5
  uint32_t threads = 0;   // io_contexts; 0 = one per core
  uint32_t window = 128;  // messages per publisher published but not yet completed
  // v5 Session Expiry of every client (0: sessions end with the connection). > 0 makes the
  // sessions persistent, which a broker with persistence writes to disk.
  uint32_t session_expiry_s = 0;
  double drain_s = 5;  // how long to wait for stragglers after publishing stops
  double connect_timeout_s = 30;
  tls::ClientConfig tls;  // mqtts:// urls: CA, client certificate, server name
};

struct LoadReport {
  std::string url;
  LoadOptions options;
  uint32_t topics = 0;
  uint64_t sent = 0;      // completed publishes (QoS 0: written; QoS 1/2: acknowledged)
  uint64_t failed = 0;    // publishes that completed with an error
  uint64_t rejected = 0;  // publishes refused by the client (queue full, rate mode)
  uint64_t expected = 0;  // sum over sent messages of the subscribers of their topic
  uint64_t received = 0;
  double publish_s = 0;  // from the first publish to the last completion
  double receive_s = 0;  // from the first publish to the last message received
  double send_rate = 0;  // sent / publish_s
  double recv_rate = 0;  // received / receive_s
  double loss = 0;       // 1 - received / expected
  uint64_t p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
  double mean_ns = 0;
};

// Runs one load. Fails with errc::invalid_argument for options out of range, errc::unavailable
// when clients cannot connect or subscribe within connect_timeout_s; the message says which.
Result<LoadReport> RunLoad(const LoadOptions& options);

// A table with one row per report; the ratio column compares received msgs/s with the first row.
std::string FormatTable(const std::vector<LoadReport>& reports);
std::string FormatJson(const std::vector<LoadReport>& reports);

}  // namespace aiot::mqtt::bench
