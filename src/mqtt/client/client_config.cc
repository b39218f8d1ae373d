#include "mqtt/client/client_config.h"

#include "mqtt/client/tcp_transport.h"

namespace aiot::mqtt {

void Describe(config::Visitor& v, MqttClientConfig& c) {
  v.Field("url", c.url,
          "broker address: tcp://host:port, mqtt://host:port, mqtts://host:port (TLS, see tls) or "
          "inproc://");
  config::Section(v, "tls", c.tls, "TLS of mqtts:// urls");
  v.Field("client_id", c.client_id, "client identifier; empty = random aiot-<hex>");
  v.Field("username", c.username, "user name; empty = none");
  v.Field("password", c.password, "password; empty = none (no default)");
  v.Field("protocol_version", c.protocol_version, "MQTT protocol version: 4 (3.1.1) or 5");
  v.Field("keep_alive_s", c.keep_alive_s, "keep alive in seconds, 0 = off");
  v.Field("clean_start", c.clean_start, "start every connection with a new session");
  v.Field("session_expiry_s", c.session_expiry_s, "v5 session expiry interval in seconds");
  v.Field("reconnect_min_ms", c.reconnect_min_ms, "first reconnect delay in milliseconds");
  v.Field("reconnect_max_ms", c.reconnect_max_ms, "largest reconnect delay in milliseconds");
  v.Field("connect_timeout_ms", c.connect_timeout_ms, "TCP connect + CONNACK timeout in ms");
  v.Field("offline_queue_limit", c.offline_queue_limit,
          "messages queued while disconnected or flow-controlled before Publish fails");
  v.Field("max_inflight", c.max_inflight, "most QoS 1/2 messages in flight");
  v.Field("receive_maximum", c.receive_maximum, "v5 Receive Maximum announced to the server");
  v.Field("topic_alias_maximum", c.topic_alias_maximum,
          "v5 Topic Alias Maximum announced to the server, 0 = no aliases");
  v.Field("topic_alias_maximum_out", c.topic_alias_maximum_out,
          "v5 topic aliases used towards the server (capped by its Topic Alias Maximum), 0 = none");
  v.Field("max_packet_size", c.max_packet_size, "largest packet accepted, 0 = protocol maximum");
  v.Field("max_write_buffer", c.max_write_buffer,
          "bytes buffered for the socket before QoS 0 messages wait in the queue");
  v.Field("will_topic", c.will_topic, "will topic; empty = no will");
  v.Field("will_payload", c.will_payload, "will payload");
  v.Field("will_qos", c.will_qos, "will QoS: 0, 1 or 2");
  v.Field("will_retain", c.will_retain, "retain the will message");
  v.Field("will_delay_s", c.will_delay_s, "v5 will delay interval in seconds");
}

void Validate(config::Checks& checks, const MqttClientConfig& c) {
  std::string scheme, host, port;
  if (!ParseUrl(c.url, &scheme, &host, &port)) {
    checks.Fail("url", "`" + c.url + "` is not scheme://host:port, e.g. tcp://127.0.0.1:1883");
  } else if (scheme != "tcp" && scheme != "mqtt" && scheme != "inproc" && !IsTlsUrl(c.url)) {
    checks.Fail("url", "`" + c.url + "`: the scheme must be tcp, mqtt, mqtts, ssl or inproc");
  }
  if (c.protocol_version != 4 && c.protocol_version != 5) {
    checks.Fail("protocol_version",
                "must be 4 (3.1.1) or 5, got `" + std::to_string(c.protocol_version) + "`");
  }
  if (c.will_qos > 2) {
    checks.Fail("will_qos", "must be 0, 1 or 2, got `" + std::to_string(c.will_qos) + "`");
  }
  if (c.reconnect_min_ms == 0) checks.Fail("reconnect_min_ms", "must be > 0");
  if (c.reconnect_max_ms < c.reconnect_min_ms) {
    checks.Fail("reconnect_max_ms", "must not be less than reconnect_min_ms");
  }
}

}  // namespace aiot::mqtt
