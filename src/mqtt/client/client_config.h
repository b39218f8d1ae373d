#pragma once

#include <cstdint>
#include <string>

#include "base/config.h"
#include "base/tls.h"
#include "mqtt/protocol/properties.h"

namespace aiot::mqtt {

// Configuration of one MQTT client connection. Services embed it as their `mqtt` section.
struct MqttClientConfig {
  // Broker address: "tcp://host:port" (also "mqtt://"; port defaults to 1883), "mqtts://host:port"
  // (TLS with `tls`; also "ssl://"; port defaults to 8883) or "inproc://" for the embedded broker
  // (needs the broker's TransportFactory, see Client::Create).
  std::string url = "tcp://127.0.0.1:1883";
  // TLS of mqtts:// urls: CA, optional client certificate, server name check, lowest version.
  tls::ClientConfig tls;
  // Client identifier; empty = a random "aiot-<hex>" chosen once per Client.
  std::string client_id;
  // User name and password; empty = not sent. There is no default password.
  std::string username;
  std::string password;
  // MQTT protocol version: 4 (3.1.1) or 5.
  uint32_t protocol_version = 5;
  // Keep Alive in seconds (0 = off). A v5 server may override it (Server Keep Alive).
  uint32_t keep_alive_s = 30;
  // Clean Start ("clean session" in 3.1.1): start each connection with a new session.
  bool clean_start = true;
  // v5 Session Expiry Interval in seconds (0 = the session ends with the connection).
  uint32_t session_expiry_s = 0;
  // Reconnect backoff: the first retry after reconnect_min_ms, doubling up to reconnect_max_ms,
  // each delay randomized to 50-100% (jitter).
  uint32_t reconnect_min_ms = 100;
  uint32_t reconnect_max_ms = 10000;
  // Connect timeout (TCP connect + CONNACK) in milliseconds.
  uint32_t connect_timeout_ms = 10000;
  // Messages accepted by Publish() and not yet handed to the broker (queued while disconnected or
  // while the in-flight window is full); Publish() fails with resource_exhausted beyond this.
  uint32_t offline_queue_limit = 10000;
  // Most QoS 1/2 messages in flight at once (also capped by the server's Receive Maximum).
  uint32_t max_inflight = 1000;
  // v5 Receive Maximum announced to the server (QoS 1/2 messages it may have in flight to us).
  uint32_t receive_maximum = 65535;
  // v5 Topic Alias Maximum announced to the server (0 = the server must not use aliases).
  uint32_t topic_alias_maximum = 0;
  // v5 topic aliases this client uses towards the server (capped by the server's Topic Alias
  // Maximum from CONNACK; 0 = none): the first PUBLISH to a topic carries topic + alias, later
  // ones only the alias. When all are taken, the least recently used alias is rebound.
  uint32_t topic_alias_maximum_out = 0;
  // Largest packet accepted from the server in bytes (0 = protocol maximum, ~256 MiB).
  uint32_t max_packet_size = 0;
  // Bytes the TCP transport may hold unwritten before QoS 0 messages wait in the queue.
  uint32_t max_write_buffer = 1 << 20;
  // Will message, sent by the broker if the connection ends without a DISCONNECT.
  std::string will_topic;
  std::string will_payload;
  uint32_t will_qos = 0;
  bool will_retain = false;
  // v5 Will Delay Interval in seconds.
  uint32_t will_delay_s = 0;

  // Set in code only (not in YAML): extra v5 CONNECT properties (e.g. user properties) and will
  // properties, merged with the fields above.
  Properties connect_properties;
  Properties will_properties;
};

void Describe(config::Visitor& v, MqttClientConfig& c);
// The url (scheme://host[:port] with scheme tcp, mqtt, mqtts, ssl or inproc), protocol_version (4
// or 5), will_qos and the reconnect delays. Client::Create expects a configuration that passes it.
void Validate(config::Checks& checks, const MqttClientConfig& c);

}  // namespace aiot::mqtt
