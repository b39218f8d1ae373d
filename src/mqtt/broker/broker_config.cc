#include "mqtt/broker/broker_config.h"

namespace aiot::mqtt::broker {

void Describe(config::Visitor& v, BrokerConfig& c) {
  v.Field("listeners", c.listeners,
          "TCP listeners as address:port; default loopback only (like Mosquitto 2)");
  v.Field("allow_anonymous", c.allow_anonymous,
          "anonymous clients: local_only (loopback listeners only), true or false");
  v.Field("password_file", c.password_file,
          "Mosquitto password file (mosquitto_passwd format); empty = none");
  v.Field("acl_file", c.acl_file, "Mosquitto ACL file; empty = no topic restrictions");
  v.Field("max_connections", c.max_connections, "maximum client connections; 0 = unlimited");
  v.Field("max_queued_messages", c.max_queued_messages,
          "messages queued per session beyond the in-flight window; 0 = unlimited");
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
          "incoming QoS 1/2 messages a client may have in flight (CONNACK Receive Maximum)");
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
}

}  // namespace aiot::mqtt::broker
