#pragma once

// `broker.bridge` and `broker.bridges`: the embedded broker's bridges to remote MQTT brokers
// (bridge.h), with Mosquitto's bridge semantics and a store-and-forward buffer on disk each.
// `broker.bridges` is a list of sections (base/config_list.h), as Mosquitto's several
// `connection` blocks; `broker.bridge` is the one-bridge shorthand, the same keys, run first.
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

// A bridge's `buffer`: the store-and-forward buffer of the out direction (base/disk_buffer.h:
// segment files with CRC32C frames; survives restarts and kill -9).
struct BridgeBufferConfig {
  // Empty: var/aiot/mqtt-bridge/<name> (BridgeConfig::buffer_dir()). No two bridges share one.
  std::string dir;
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
  // Mosquitto's `connection`: names the bridge in logs and metrics ({bridge="..."}), its client
  // ids and its default buffer directory; unique among the bridges; letters, digits, - _ .
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
  // buffer.dir, or var/aiot/mqtt-bridge/<name> when it is empty.
  std::string buffer_dir() const {
    return buffer.dir.empty() ? "var/aiot/mqtt-bridge/" + name : buffer.dir;
  }
  std::string effective_client_id() const {
    return client_id.empty() ? "aiot-bridge-" + name : client_id;
  }
};
void Describe(config::Visitor& v, BridgeConfig& c);
void Validate(config::Checks& checks, const BridgeConfig& c);

// The bridges to run: `bridge` when its url is set, then every item of `bridges`.
std::vector<BridgeConfig> EnabledBridges(const BridgeConfig& bridge,
                                         const std::vector<BridgeConfig>& bridges);
// What involves several bridges, for the enclosing section's Validate (keys `bridge.*` and
// `bridges[i].*`): every item of `bridges` has a url; names differ; no two buffer directories are
// the same or one inside the other; no two bridges to the same remote use the same client id.
void ValidateBridges(config::Checks& checks, const BridgeConfig& bridge,
                     const std::vector<BridgeConfig>& bridges);

}  // namespace aiot::mqtt::bridge
