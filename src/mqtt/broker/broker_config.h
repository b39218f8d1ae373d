#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/result.h"
#include "base/tls.h"
#include "mqtt/bridge/bridge_config.h"

namespace aiot::mqtt::broker {

// TLS of the broker's `mqtts://` and `wss://` listeners, as Mosquitto's listener options
// (certfile, keyfile, cafile, require_certificate, use_identity_as_username, tls_version): the
// shared server settings (base/tls.h: cert, key, ca, require_client_cert, min_version; the same
// shape as `http.tls`) plus the identity as user name. cert and key are re-read on SIGHUP by `aiot
// broker`: new handshakes use the new ones, established connections are kept.
using TlsVersion = tls::Version;
struct BrokerTlsConfig : tls::ServerConfig {
  // The client certificate's subject CN (else its first SAN) is the client's user name for the
  // ACL; the CONNECT's user name and password are ignored. Needs require_client_cert.
  bool use_identity_as_username = false;
};

void Describe(config::Visitor& v, BrokerTlsConfig& c);
// Files named must exist and be readable; the mutual-TLS options must fit together.
void Validate(config::Checks& checks, const BrokerTlsConfig& c);

// One entry of `listeners`: "[scheme://]address:port", scheme mqtt (or tcp; the default), mqtts
// (TLS), ws (MQTT over WebSocket) or wss (over WebSocket over TLS).
struct ListenerSpec {
  enum class Kind : uint8_t { kTcp, kTls, kWebSocket, kWebSocketTls };
  Kind kind = Kind::kTcp;
  std::string host;  // "0.0.0.0" for "*" or empty; "127.0.0.1" for localhost; no brackets
  uint16_t port = 0;
  bool tls() const { return kind == Kind::kTls || kind == Kind::kWebSocketTls; }
};
// Parses a listener; the error's message says what is wrong with it.
Result<ListenerSpec> ParseListenerSpec(const std::string& spec);

// broker.persistence: sessions and retained messages across restarts and crashes (persistence.h).
enum class PersistenceMode : uint8_t { kNone, kPeriodic, kEveryAck };
inline constexpr config::Named<PersistenceMode> kPersistenceModeNames[] = {
    {PersistenceMode::kNone, "none"},
    {PersistenceMode::kPeriodic, "periodic"},
    {PersistenceMode::kEveryAck, "every_ack"}};
struct BrokerPersistenceConfig {
  // none: everything in memory (as before; the default, so that upgrading changes nothing on
  // disk). periodic: the log is written and synced every `interval_ms` (a crash loses at most that
  // window, like Mosquitto's autosave_interval). every_ack: a QoS 1/2 PUBLISH is acknowledged only
  // once it is on disk (group commit: one fdatasync for everything pending).
  PersistenceMode mode = PersistenceMode::kNone;
  // Directory of the log (broker.log); created if missing. Required unless mode is none.
  std::string dir;
  // periodic: milliseconds between writes.
  uint32_t interval_ms = 1000;
  // A corrupt record (not a torn tail) stops the broker from starting unless this is true (or
  // `aiot broker --recover`): then corrupt records are skipped and counted in the log.
  bool recover = false;
};

void Describe(config::Visitor& v, BrokerPersistenceConfig& c);
// A directory unless mode is none; interval_ms > 0 for periodic.
void Validate(config::Checks& checks, const BrokerPersistenceConfig& c);

// Configuration of the embedded broker. Defaults follow what a Mosquitto 2 user expects: with
// nothing configured the broker listens on loopback only and lets anonymous clients in only there.
struct BrokerConfig {
  // Listeners as "[scheme://]address:port" (ListenerSpec): "127.0.0.1:1883",
  // "mqtts://0.0.0.0:8883", "ws://0.0.0.0:9001", "wss://0.0.0.0:9443"; TLS ones use `tls`.
  // Default: loopback only, like Mosquitto 2 with no listener. An empty list runs the broker with
  // the in-process transport only.
  std::vector<std::string> listeners = {"127.0.0.1:1883"};
  // Certificates of the mqtts:// and wss:// listeners.
  BrokerTlsConfig tls;
  // Sessions and retained messages on disk.
  BrokerPersistenceConfig persistence;
  // Anonymous clients (no username): "local_only" (only on listeners bound to a loopback address),
  // "true" or "false". Clients with a username are checked against `password_file` (and, in
  // `aiot up`, the device registry); without any credential store they count as anonymous.
  std::string allow_anonymous = "local_only";
  // Mosquitto password file (`mosquitto_passwd -c <file> <user>`: $7$ PBKDF2-SHA512 or $6$
  // SHA-512 lines); empty = none. Reloaded on SIGHUP by `aiot broker`.
  std::string password_file;
  // Mosquitto acl_file (`user`, `topic [read|write|readwrite|deny] <filter>`, `pattern ...` with
  // %c / %u); empty = every client may publish and subscribe to everything.
  std::string acl_file;
  // Maximum simultaneous client connections (network and in-process); 0 = unlimited.
  uint32_t max_connections = 100000;
  // Per session: messages queued for delivery beyond the in-flight window (QoS 1/2 while online,
  // QoS 1/2 while offline; QoS 0 is queued only while online). Further messages are dropped and
  // counted, except, for an online session, those of publishers it holds back (below): what they
  // had in flight (at most receive_maximum each) is queued beyond the limit. 0 = unlimited.
  uint32_t max_queued_messages = 1000;
  // Per session: bytes of queued messages; 0 = unlimited.
  uint64_t max_queued_bytes = 0;
  // Backpressure instead of loss for online subscribers: when a session's queue reaches an eighth
  // of max_queued_messages (or of max_queued_bytes), the broker withholds PUBACK/PUBREC from every
  // connection that publishes to it (and stops reading a connection that keeps publishing
  // regardless) until the queue is down to a 16th. A pause longer than this many milliseconds
  // makes that session drop beyond its limits instead (counted). 0 = no backpressure: drop at once.
  uint32_t max_publisher_pause_ms = 5000;
  // Bytes a connection may have waiting to be written; QoS 0 messages for a client that does not
  // read fast enough are dropped (and counted) beyond this. 0 = unlimited.
  uint32_t max_write_buffer = 8 << 20;
  // Outgoing QoS 1/2 messages in flight per client (also capped by the client's Receive Maximum).
  uint16_t max_inflight_messages = 20;
  // Incoming QoS 1/2 messages a client may have in flight (Receive Maximum sent in CONNACK).
  // 1000: with persistence every_ack a PUBACK waits for a disk sync, so one publisher gets at
  // most receive_maximum / (sync time); 100 capped it at ~8,000-25,000 msg/s on a virtual disk.
  // A held publisher's in-flight messages are queued beyond max_queued_messages, not dropped.
  uint16_t receive_maximum = 1000;
  // Largest MQTT packet accepted, in bytes (Maximum Packet Size in CONNACK); max 268435460.
  uint32_t max_packet_size = 268435460;
  // Longest topic name or filter accepted, in bytes.
  uint32_t max_topic_length = 65535;
  // Most topic levels accepted in a topic name or filter; 0 = unlimited.
  uint32_t max_topic_levels = 200;
  // A connection must send CONNECT within this many milliseconds or be closed.
  uint32_t connect_timeout_ms = 10000;
  // Largest Keep Alive granted, seconds; a client asking more (or 0) gets Server Keep Alive (v5).
  uint16_t max_keepalive = 65535;
  // Cap on Session Expiry Interval, seconds (4294967295 = no cap: sessions can live forever).
  uint32_t max_session_expiry = 4294967295u;
  // Topic aliases a client may use towards the broker (Topic Alias Maximum in CONNACK); 0 = none.
  uint16_t topic_alias_maximum = 10;
  // Highest QoS the broker supports (Maximum QoS in CONNACK).
  uint8_t max_qos = 2;
  // Retained messages supported; if false, PUBLISH with RETAIN is refused.
  bool retain_available = true;
  // Interval between $SYS topic updates, seconds; 0 disables $SYS.
  uint32_t sys_interval = 10;
  // A bridge to a remote broker with store-and-forward (src/mqtt/bridge); off without a url. The
  // shorthand for one bridge; more go in `bridges`.
  ::aiot::mqtt::bridge::BridgeConfig bridge;
  // Bridges to remote brokers, as Mosquitto's several `connection` blocks (a site to a central
  // broker and to a backup, or one per destination): each with the keys of `bridge`, its own name,
  // buffer dir and metrics, and a url. Run after `bridge`.
  std::vector<::aiot::mqtt::bridge::BridgeConfig> bridges;

  // The bridges to run: `bridge` (with a url), then `bridges`.
  std::vector<::aiot::mqtt::bridge::BridgeConfig> enabled_bridges() const {
    return ::aiot::mqtt::bridge::EnabledBridges(bridge, bridges);
  }
};

void Describe(config::Visitor& v, BrokerConfig& c);
// Every listener parses; TLS listeners have a certificate and key.
void Validate(config::Checks& checks, const BrokerConfig& c);

}  // namespace aiot::mqtt::broker
