#include "mqtt/bridge/bridge_config.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/errc.h"
#include "mqtt/client/tcp_transport.h"
#include "mqtt/protocol/topic.h"

namespace aiot::mqtt::bridge {
namespace {

std::vector<std::string> Words(std::string_view spec) {
  std::vector<std::string> out;
  std::istringstream in{std::string(spec)};
  std::string w;
  while (in >> w) out.push_back(w == "\"\"" ? std::string() : w);
  return out;
}

Status Bad(std::string_view spec, const std::string& why) {
  return Status(errc::invalid_argument, fmt::format("`{}`: {}", spec, why));
}

}  // namespace

Result<TopicSpec> ParseTopicSpec(std::string_view spec) {
  const std::vector<std::string> w = Words(spec);
  if (w.empty() || w[0].empty())
    return Bad(spec, "expected \"pattern [out|in|both [qos [local_prefix [remote_prefix]]]]\"");
  if (w.size() > 5) return Bad(spec, "too many words (at most pattern direction qos local remote)");
  TopicSpec t;
  t.pattern = w[0];
  if (w.size() > 1) {
    if (w[1] == "out") {
      t.direction = Direction::kOut;
    } else if (w[1] == "in") {
      t.direction = Direction::kIn;
    } else if (w[1] == "both") {
      t.direction = Direction::kBoth;
    } else {
      return Bad(spec, "direction `" + w[1] + "` is not out, in or both");
    }
  }
  if (w.size() > 2) {
    if (w[2] != "0" && w[2] != "1" && w[2] != "2") return Bad(spec, "qos must be 0, 1 or 2");
    t.qos = static_cast<uint8_t>(w[2][0] - '0');
  }
  if (w.size() > 3) t.local_prefix = w[3];
  if (w.size() > 4) t.remote_prefix = w[4];
  for (const std::string* p : {&t.local_prefix, &t.remote_prefix}) {
    if (p->find_first_of("+#") != std::string::npos)
      return Bad(spec, "a prefix must not contain + or #");
  }
  if (ValidateTopicFilter(t.local_filter()) != ReasonCode::kSuccess ||
      ValidateTopicFilter(t.remote_filter()) != ReasonCode::kSuccess)
    return Bad(spec, "`" + t.pattern + "` (with the prefixes) is not a valid topic filter");
  if (t.pattern.starts_with("$share/")) return Bad(spec, "shared subscriptions cannot be bridged");
  return t;
}

void Describe(config::Visitor& v, BridgeBufferConfig& c) {
  v.Field("dir", c.dir,
          "directory of the store-and-forward segment files (created if missing); empty = "
          "var/aiot/mqtt-bridge/<name>; one per bridge");
  v.Field("max_bytes", c.max_bytes,
          "most bytes of buffered messages; beyond it new out messages are dropped and counted "
          "(aiot_mqtt_bridge_dropped_total{reason=\"buffer_full\"})");
  v.Field("segment_bytes", c.segment_bytes, "a segment file is closed beyond this size");
  v.Field("fsync", c.fsync, disk::kFsyncPolicyNames,
          "always (fdatasync before a message counts as taken from the local broker), interval "
          "(every fsync_interval_ms; a "
          "kill -9 loses nothing, a power cut at most that window) or never");
  v.Field("fsync_interval_ms", c.fsync_interval_ms, "interval: milliseconds between fdatasyncs");
}

void Validate(config::Checks& checks, const BridgeBufferConfig& c) {
  if (c.max_bytes < (1u << 20)) checks.Fail("max_bytes", "must be at least 1048576 (1 MiB)");
  if (c.segment_bytes == 0 || c.segment_bytes > c.max_bytes)
    checks.Fail("segment_bytes", "must be > 0 and not above max_bytes");
  if (c.fsync == disk::FsyncPolicy::kInterval && c.fsync_interval_ms == 0)
    checks.Fail("fsync_interval_ms", "must be > 0 with fsync interval");
}

void Describe(config::Visitor& v, BridgeConfig& c) {
  v.Field("url", c.url,
          "remote broker: mqtt://host:port or mqtts://host:port (TLS, see tls); empty = no bridge "
          "(Mosquitto: address)");
  v.Field("name", c.name,
          "the bridge's name in logs, metrics ({bridge=\"...\"}), client ids and the default "
          "buffer dir; unique; letters, digits, - _ . (Mosquitto: connection)");
  v.Field("client_id", c.client_id,
          "client id on the remote; empty = aiot-bridge-<name> (Mosquitto: remote_clientid)");
  v.Field("clean_start", c.clean_start,
          "start each remote connection with a new session (Mosquitto: cleansession)");
  v.Field("session_expiry_s", c.session_expiry_s,
          "v5 session expiry on the remote, seconds (with clean_start false)");
  v.Field("keep_alive_s", c.keep_alive_s, "keep alive towards the remote, seconds");
  v.Field("protocol_version", c.protocol_version,
          "5 (no-local subscriptions keep `both` topics from looping) or 4 (3.1.1; no `both`)");
  v.Field("username", c.username, "user name on the remote; empty = none");
  v.Field("password_file", c.password_file,
          "file whose first line is the password on the remote; empty = none (no inline secret)");
  config::Section(v, "tls", c.tls, "TLS of mqtts:// (ca, cert, key, server_name, min_version)");
  v.Field("topics", c.topics,
          "Mosquitto topic lines: \"pattern [out|in|both [qos [local_prefix [remote_prefix]]]]\", "
          "\"\" for an empty prefix, e.g. \"sensors/# out 1 site1/ plant/\"");
  v.Field("max_inflight", c.max_inflight,
          "out messages in flight to the remote at once; the rest wait in the buffer");
  v.Field("reconnect_min_ms", c.reconnect_min_ms, "first reconnect delay to the remote, ms");
  v.Field("reconnect_max_ms", c.reconnect_max_ms, "largest reconnect delay to the remote, ms");
  config::Section(v, "buffer", c.buffer,
                  "store-and-forward buffer of the out direction (kept across restarts)");
}

void Validate(config::Checks& checks, const BridgeConfig& c) {
  if (!c.enabled()) return;
  std::string scheme, host, port;
  if (!ParseUrl(c.url, &scheme, &host, &port)) {
    checks.Fail("url", "`" + c.url + "` is not scheme://host:port, e.g. mqtt://central:1883");
  } else if (scheme != "tcp" && scheme != "mqtt" && !IsTlsUrl(c.url)) {
    checks.Fail("url", "`" + c.url + "`: the scheme must be mqtt, tcp, mqtts or ssl");
  }
  if (c.name.empty() || c.name.size() > 64 || c.name.front() == '.' ||
      c.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string::npos) {
    checks.Fail("name", "`" + c.name +
                            "` is not a bridge name: 1 to 64 letters, digits, -, _ or . (not "
                            "first); it names the metrics, the client ids and the buffer dir");
  }
  if (c.protocol_version != 4 && c.protocol_version != 5)
    checks.Fail("protocol_version", "must be 4 (3.1.1) or 5");
  if (c.topics.empty()) checks.Fail("topics", "a bridge needs at least one topic line");
  for (const std::string& spec : c.topics) {
    auto t = ParseTopicSpec(spec);
    if (!t.ok()) {
      checks.Fail("topics", t.status().message());
    } else if (t->direction == Direction::kBoth && c.protocol_version != 5) {
      checks.Fail("topics", "`" + spec +
                                "`: direction both needs protocol_version 5 (no-local "
                                "subscriptions keep messages from looping)");
    }
  }
  if (!c.password_file.empty()) {
    std::ifstream f(c.password_file);
    if (!f) checks.Fail("password_file", "cannot read `" + c.password_file + "`");
  }
  if (c.max_inflight == 0 || c.max_inflight > 65535)
    checks.Fail("max_inflight", "must be between 1 and 65535");
  if (c.reconnect_min_ms == 0) checks.Fail("reconnect_min_ms", "must be > 0");
  if (c.reconnect_max_ms < c.reconnect_min_ms)
    checks.Fail("reconnect_max_ms", "must not be less than reconnect_min_ms");
}

std::vector<BridgeConfig> EnabledBridges(const BridgeConfig& bridge,
                                         const std::vector<BridgeConfig>& bridges) {
  std::vector<BridgeConfig> out;
  if (bridge.enabled()) out.push_back(bridge);
  out.insert(out.end(), bridges.begin(), bridges.end());
  return out;
}

void ValidateBridges(config::Checks& checks, const BridgeConfig& bridge,
                     const std::vector<BridgeConfig>& bridges) {
  namespace fs = std::filesystem;
  // Each enabled bridge with its key.
  std::vector<std::pair<std::string, const BridgeConfig*>> all;
  if (bridge.enabled()) all.emplace_back("bridge", &bridge);
  for (size_t i = 0; i < bridges.size(); ++i) {
    const std::string key = "bridges[" + std::to_string(i) + "]";
    if (!bridges[i].enabled()) {
      checks.Fail(key + ".url",
                  "every bridge in broker.bridges needs a url (mqtt://host:port or mqtts://...)");
      continue;
    }
    all.emplace_back(key, &bridges[i]);
  }
  auto dir_of = [](const BridgeConfig& c) {
    std::error_code ec;
    fs::path p = fs::absolute(c.buffer_dir(), ec);
    if (ec) p = c.buffer_dir();
    p = p.lexically_normal();
    std::string s = p.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  auto inside = [](const std::string& a, const std::string& b) {  // a is b or under b
    return a == b || (a.size() > b.size() && a.starts_with(b) && a[b.size()] == '/');
  };
  // Each problem once per bridge: with the first bridge it clashes with.
  for (size_t j = 1; j < all.size(); ++j) {
    const auto& [key, c] = all[j];
    bool name_told = false, dir_told = false, id_told = false;
    for (size_t i = 0; i < j; ++i) {
      const auto& [other_key, other] = all[i];
      if (c->name == other->name) {
        if (!name_told) {
          checks.Fail(key + ".name", "`" + c->name + "` is also the name of broker." + other_key +
                                         "; each bridge needs its own (it names its metrics, "
                                         "client ids and default buffer dir)");
        }
        name_told = true;
        continue;  // the same default dir and client id follow from it
      }
      const std::string d = dir_of(*c), od = dir_of(*other);
      if (!dir_told && (inside(d, od) || inside(od, d))) {
        checks.Fail(key + ".buffer.dir",
                    "`" + c->buffer_dir() + "` " + (d == od ? "is" : "overlaps") +
                        " the buffer dir of broker." + other_key + " (`" + other->buffer_dir() +
                        "`); each bridge needs its own (default var/aiot/mqtt-bridge/<name>)");
        dir_told = true;
      }
      if (!id_told && c->url == other->url &&
          c->effective_client_id() == other->effective_client_id()) {
        checks.Fail(key + ".client_id", "`" + c->effective_client_id() + "` on " + c->url +
                                            " is also broker." + other_key +
                                            "'s: the two would take each other's session over");
        id_told = true;
      }
    }
  }
}

}  // namespace aiot::mqtt::bridge
