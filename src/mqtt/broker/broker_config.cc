#include "mqtt/broker/broker_config.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "base/config_list.h"
#include "base/errc.h"

namespace aiot::mqtt::broker {

void Describe(config::Visitor& v, BrokerTlsConfig& c) {
  tls::Describe(v, static_cast<tls::ServerConfig&>(c));
  v.Field("use_identity_as_username", c.use_identity_as_username,
          "the client certificate's CN (else first SAN) is the user name for the ACL; the "
          "CONNECT's user name and password are ignored (needs require_client_cert)");
}

void Validate(config::Checks& checks, const BrokerTlsConfig& c) {
  tls::Validate(checks, static_cast<const tls::ServerConfig&>(c));
  if (c.use_identity_as_username && !c.require_client_cert) {
    checks.Fail("use_identity_as_username", "needs require_client_cert: true");
  }
}

Result<ListenerSpec> ParseListenerSpec(const std::string& spec) {
  ListenerSpec l;
  std::string_view rest = spec;
  if (size_t p = rest.find("://"); p != std::string_view::npos) {
    std::string_view scheme = rest.substr(0, p);
    rest.remove_prefix(p + 3);
    if (scheme == "mqtt" || scheme == "tcp") {
      l.kind = ListenerSpec::Kind::kTcp;
    } else if (scheme == "mqtts" || scheme == "ssl" || scheme == "tls") {
      l.kind = ListenerSpec::Kind::kTls;
    } else if (scheme == "ws") {
      l.kind = ListenerSpec::Kind::kWebSocket;
    } else if (scheme == "wss") {
      l.kind = ListenerSpec::Kind::kWebSocketTls;
    } else {
      return Status(errc::invalid_argument, "listener `" + spec + "`: unknown scheme `" +
                                                std::string(scheme) + "` (mqtt, mqtts, ws or wss)");
    }
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    return Status(errc::invalid_argument,
                  "listener `" + spec + "`: expected [scheme://]address:port, e.g. 127.0.0.1:1883");
  }
  std::string host(rest.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty() || host == "*") host = "0.0.0.0";
  l.host = host;
  std::string_view port = rest.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), l.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size()) {
    return Status(errc::invalid_argument,
                  "listener `" + spec + "`: bad port `" + std::string(port) + "` (0-65535)");
  }
  return l;
}

void Describe(config::Visitor& v, BrokerPersistenceConfig& c) {
  v.Field("mode", c.mode, kPersistenceModeNames,
          "none (in memory only), periodic (written every interval_ms; a crash loses at most "
          "that window) or every_ack (QoS 1/2 acknowledged only once on disk, group commit)");
  v.Field("dir", c.dir, "directory of the persistence log; required unless mode is none");
  v.Field("interval_ms", c.interval_ms, "periodic: milliseconds between writes to disk");
  v.Field("recover", c.recover,
          "start even if the log has corrupt records: skip and count them (else refuse to start)");
}

void Validate(config::Checks& checks, const BrokerPersistenceConfig& c) {
  if (c.mode != PersistenceMode::kNone && c.dir.empty())
    checks.Fail("dir", "persistence needs a directory (broker.persistence.dir)");
  if (c.mode == PersistenceMode::kPeriodic && c.interval_ms == 0)
    checks.Fail("interval_ms", "must be > 0 with mode periodic");
}

void Validate(config::Checks& checks, const BrokerConfig& c) {
  for (const std::string& spec : c.listeners) {
    auto l = ParseListenerSpec(spec);
    if (!l.ok()) {
      checks.Fail("listeners", l.status().message());
    } else if (l->tls() && (c.tls.cert.empty() || c.tls.key.empty())) {
      checks.Fail("listeners", "listener `" + spec + "` needs tls.cert and tls.key");
    }
  }
  bridge::ValidateBridges(checks, c.bridge, c.bridges);
}

void Describe(config::Visitor& v, BrokerConfig& c) {
  v.Field("listeners", c.listeners,
          "listeners as [scheme://]address:port, scheme mqtt (default), mqtts (TLS), ws "
          "(WebSocket) or wss (WebSocket over TLS); default loopback only (like Mosquitto 2)");
  config::Section(v, "tls", c.tls, "TLS of the mqtts:// and wss:// listeners");
  config::Section(v, "persistence", c.persistence,
                  "sessions and retained messages across restarts and crashes");
  v.Field("allow_anonymous", c.allow_anonymous,
          "anonymous clients: local_only (loopback listeners only), true or false");
  v.Field("password_file", c.password_file,
          "Mosquitto password file (mosquitto_passwd format); empty = none");
  v.Field("acl_file", c.acl_file, "Mosquitto ACL file; empty = no topic restrictions");
  v.Field("max_connections", c.max_connections, "maximum client connections; 0 = unlimited");
  v.Field("max_queued_messages", c.max_queued_messages,
          "messages queued per session beyond the in-flight window (an online session also "
          "keeps what the publishers it holds back had in flight); 0 = unlimited");
  v.Field("max_queued_bytes", c.max_queued_bytes, "bytes queued per session; 0 = unlimited");
  v.Field("max_publisher_pause_ms", c.max_publisher_pause_ms,
          "how long publishers may be held back for a slow subscriber before its session drops "
          "messages beyond its queue limits; 0 = never hold publishers back");
  v.Field("max_write_buffer", c.max_write_buffer,
          "bytes waiting to be written per connection beyond which QoS 0 messages are dropped "
          "(QoS 0 publishers are held back from an eighth of it)");
  v.Field("max_inflight_messages", c.max_inflight_messages,
          "outgoing QoS 1/2 messages in flight per client");
  v.Field("receive_maximum", c.receive_maximum,
          "incoming QoS 1/2 messages a client may have in flight (CONNACK Receive Maximum); "
          "with persistence every_ack one publisher gets at most this many per disk sync");
  v.Field("max_packet_size", c.max_packet_size, "largest MQTT packet accepted, bytes");
  v.Field("max_topic_length", c.max_topic_length, "longest topic name or filter, bytes");
  v.Field("max_topic_levels", c.max_topic_levels, "most levels in a topic; 0 = unlimited");
  v.Field("connect_timeout_ms", c.connect_timeout_ms,
          "a connection must send CONNECT within this time");
  v.Field("max_keepalive", c.max_keepalive, "largest Keep Alive granted, seconds");
  v.Field("max_session_expiry", c.max_session_expiry, "cap on Session Expiry Interval, seconds");
  v.Field("topic_alias_maximum", c.topic_alias_maximum,
          "topic aliases a client may use towards the broker");
  v.Field("max_qos", c.max_qos, "highest QoS supported (0, 1 or 2)");
  v.Field("retain_available", c.retain_available, "retained messages supported");
  v.Field("sys_interval", c.sys_interval, "seconds between $SYS updates; 0 disables $SYS");
  config::Section(v, "bridge", c.bridge,
                  "bridge to a remote MQTT broker (Mosquitto bridge semantics) with "
                  "store-and-forward on disk; off while url is empty. The shorthand for one "
                  "bridge: more go in `bridges`");
  config::Sections(v, "bridges", c.bridges,
                   "bridges to remote MQTT brokers, as Mosquitto's several `connection` blocks: "
                   "each item has the keys of `bridge` (above), a url and its own name; buffer "
                   "dirs default to var/aiot/mqtt-bridge/<name>; run after `bridge`");
}

}  // namespace aiot::mqtt::broker
