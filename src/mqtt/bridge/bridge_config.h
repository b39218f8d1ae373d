#pragma once

// `broker.bridge`: the embedded broker's bridge to a remote MQTT broker (bridge.h), with
// Mosquitto's bridge semantics and a store-and-forward buffer on disk.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/disk_buffer.h"  // the durable buffer, shared with the Kafka bridge
#include "base/result.h"
#include "base/tls.h"

namespace aiot::mqtt::bridge {

enum class Direction : uint8_t { kOut, kIn, kBoth };

// One `topics` entry, Mosquitto's `topic` line: "pattern [direction [qos [local_prefix
// [remote_prefix]]]]", direction out (default), in or both, qos 0 (default), 1 or 2; a prefix
// written "" is empty. Locally the bridge subscribes to local_prefix + pattern (out, both); a
// message goes to the remote as remote_prefix + (its topic without local_prefix). On the remote it
// subscribes to remote_prefix + pattern (in, both) and publishes locally as local_prefix + (the
// topic without remote_prefix).
struct TopicSpec {
  std::string pattern;
  Direction direction = Direction::kOut;
  uint8_t qos = 0;
  std::string local_prefix;
  std::string remote_prefix;

  bool out() const { return direction != Direction::kIn; }
  bool in() const { return direction != Direction::kOut; }
  std::string local_filter() const { return local_prefix + pattern; }
  std::string remote_filter() const { return remote_prefix + pattern; }
};
// The error's message says what is wrong with `spec`.
Result<TopicSpec> ParseTopicSpec(std::string_view spec);

// `broker.bridge.buffer`: the store-and-forward buffer of the out direction (base/disk_buffer.h:
// segment files with CRC32C frames; survives restarts and kill -9).
struct BridgeBufferConfig {
  std::string dir = "var/aiot/mqtt-bridge";
  uint64_t max_bytes = 256ull << 20;
  uint64_t segment_bytes = 16ull << 20;
  disk::FsyncPolicy fsync = disk::FsyncPolicy::kInterval;
  uint32_t fsync_interval_ms = 200;
};
void Describe(config::Visitor& v, BridgeBufferConfig& c);
void Validate(config::Checks& checks, const BridgeBufferConfig& c);

struct BridgeConfig {
  // The remote broker: mqtt://host:port (also tcp://) or mqtts://host:port (TLS with `tls`).
  // Empty: no bridge (the default).
  std::string url;
  // Mosquitto's `connection`: names the bridge in logs and metrics ({bridge="..."}).
  std::string name = "bridge";
  // Client id on the remote; empty = "aiot-bridge-<name>". (Mosquitto: remote_clientid.)
  std::string client_id;
  // Clean start on the remote (Mosquitto: cleansession). false keeps the session (and the
  // remote's queued `in` messages) across reconnects for session_expiry_s.
  bool clean_start = false;
  uint32_t session_expiry_s = 3600;
  // Keep alive towards the remote (Mosquitto: keepalive_interval).
  uint32_t keep_alive_s = 60;
  // 5 (MQTT 5: no-local subscriptions prevent loops in `both`) or 4 (3.1.1: `both` is refused).
  uint32_t protocol_version = 5;
  // Credentials on the remote (Mosquitto: remote_username / remote_password). The password is read
  // from password_file (its first line), never written in aiot.yaml.
  std::string username;
  std::string password_file;
  // TLS of mqtts:// (Mosquitto: bridge_cafile, bridge_certfile, bridge_keyfile, bridge_insecure).
  tls::ClientConfig tls;
  // Mosquitto `topic` lines (TopicSpec).
  std::vector<std::string> topics;
  // QoS 1/2 messages in flight to the remote at once (the rest waits in the buffer).
  uint32_t max_inflight = 100;
  uint32_t reconnect_min_ms = 500;
  uint32_t reconnect_max_ms = 30000;
  BridgeBufferConfig buffer;

  bool enabled() const { return !url.empty(); }
  std::string effective_client_id() const {
    return client_id.empty() ? "aiot-bridge-" + name : client_id;
  }
};
void Describe(config::Visitor& v, BridgeConfig& c);
void Validate(config::Checks& checks, const BridgeConfig& c);

}  // namespace aiot::mqtt::bridge
