#include "mqtt/protocol/test_packets.h"

namespace aiot::mqtt::testing {

// Test data, one sample of every packet type in a row: it keeps its length.
std::vector<std::pair<std::string, Packet>> SamplePackets(uint8_t version) {
  const bool v5 = version == kMqtt5;
  std::vector<std::pair<std::string, Packet>> out;
  auto user = [] { return UserProperties{{"k", "v"}, {"k", "v2"}, {"émoji", "✓"}}; };

  {
    Connect c;
    c.protocol_version = version;
    c.client_id = "client-1";
    c.clean_start = false;
    c.keep_alive = 30;
    c.username = "user";
    c.password = std::string("pa\0ss", 5);
    Will w;
    w.topic = "fan/status/fan-0001";
    w.payload = std::string("{\"online\":false}");
    w.qos = QoS::kAtLeastOnce;
    w.retain = true;
    if (v5) {
      c.properties.session_expiry_interval = 3600;
      c.properties.receive_maximum = 100;
      c.properties.maximum_packet_size = 65536;
      c.properties.topic_alias_maximum = 10;
      c.properties.request_response_information = 1;
      c.properties.request_problem_information = 0;
      c.properties.user_properties = user();
      c.properties.authentication_method = "SCRAM-SHA-1";
      c.properties.authentication_data = std::string("\x01\x02\x00", 3);
      w.properties.will_delay_interval = 5;
      w.properties.payload_format_indicator = 1;
      w.properties.message_expiry_interval = 60;
      w.properties.content_type = "application/json";
      w.properties.response_topic = "fan/response";
      w.properties.correlation_data = "corr";
      w.properties.user_properties = user();
    }
    c.will = std::move(w);
    out.emplace_back("connect_full", c);
    Connect minimal;
    minimal.protocol_version = version;
    out.emplace_back("connect_minimal", minimal);
  }
  {
    Connack a;
    a.session_present = true;
    if (v5) {
      a.properties.session_expiry_interval = 7200;
      a.properties.receive_maximum = 20;
      a.properties.maximum_qos = 1;
      a.properties.retain_available = 1;
      a.properties.maximum_packet_size = 1 << 20;
      a.properties.assigned_client_identifier = "auto-123";
      a.properties.topic_alias_maximum = 16;
      a.properties.reason_string = "welcome";
      a.properties.user_properties = user();
      a.properties.wildcard_subscription_available = 1;
      a.properties.subscription_identifier_available = 0;
      a.properties.shared_subscription_available = 1;
      a.properties.server_keep_alive = 45;
      a.properties.response_information = "resp/";
      a.properties.server_reference = "other:1883";
      a.properties.authentication_method = "SCRAM-SHA-1";
      a.properties.authentication_data = "data";
    }
    out.emplace_back("connack", a);
    Connack refused;
    refused.reason_code = ReasonCode::kNotAuthorized;
    out.emplace_back("connack_refused", refused);
  }
  {
    Publish p;
    p.topic = "fan/messages";
    p.payload = std::string("{\"deviceID\":\"fan-0001\",\"rotation\":601.2}");
    out.emplace_back("publish_qos0", p);
    p.qos = QoS::kAtLeastOnce;
    p.packet_id = 7;
    p.retain = true;
    out.emplace_back("publish_qos1", p);
    p.qos = QoS::kExactlyOnce;
    p.packet_id = 65535;
    p.dup = true;
    p.retain = false;
    if (v5) {
      p.properties.payload_format_indicator = 1;
      p.properties.message_expiry_interval = 120;
      p.properties.content_type = "application/json";
      p.properties.response_topic = "fan/reply";
      p.properties.correlation_data = std::string("\x00\xff", 2);
      p.properties.subscription_identifiers = {1, 268435455};
      p.properties.topic_alias = 3;
      p.properties.user_properties = user();
    }
    out.emplace_back("publish_qos2", p);
    if (v5) {
      Publish aliased;
      aliased.properties.topic_alias = 3;
      aliased.payload = std::string(300, 'x');
      out.emplace_back("publish_alias_only", aliased);
    }
    Publish empty;
    empty.topic = "a/b";
    empty.retain = true;
    out.emplace_back("publish_empty_payload", empty);
  }
  auto ack_props = [&](Properties* p) {
    if (v5) {
      p->reason_string = "why";
      p->user_properties = user();
    }
  };
  {
    Puback a;
    a.packet_id = 7;
    out.emplace_back("puback", a);
    if (v5) {
      a.reason_code = ReasonCode::kNoMatchingSubscribers;
      out.emplace_back("puback_reason", a);
      ack_props(&a.properties);
      out.emplace_back("puback_props", a);
    }
    Pubrec rec;
    rec.packet_id = 8;
    if (v5) rec.reason_code = ReasonCode::kQuotaExceeded;
    ack_props(&rec.properties);
    out.emplace_back("pubrec", rec);
    Pubrel rel;
    rel.packet_id = 9;
    if (v5) rel.reason_code = ReasonCode::kPacketIdentifierNotFound;
    ack_props(&rel.properties);
    out.emplace_back("pubrel", rel);
    Pubcomp comp;
    comp.packet_id = 10;
    ack_props(&comp.properties);
    out.emplace_back("pubcomp", comp);
  }
  {
    Subscribe s;
    s.packet_id = 11;
    s.subscriptions.push_back({"fan/messages", {QoS::kAtLeastOnce}});
    s.subscriptions.push_back({"fan/+/status/#", {QoS::kExactlyOnce}});
    if (v5) {
      s.subscriptions.push_back(
          {"fan/control/#", {QoS::kAtMostOnce, true, true, RetainHandling::kDoNotSend}});
      s.subscriptions.push_back(
          {"$share/group/fan/#",
           {QoS::kAtLeastOnce, false, false, RetainHandling::kSendAtSubscribeIfNew}});
      s.properties.subscription_identifiers = {42};
      s.properties.user_properties = user();
    }
    out.emplace_back("subscribe", s);
    Suback a;
    a.packet_id = 11;
    a.reason_codes = {kGrantedQos0, ReasonCode::kGrantedQos1, ReasonCode::kGrantedQos2,
                      ReasonCode::kUnspecifiedError};
    if (v5) {
      a.reason_codes.push_back(ReasonCode::kTopicFilterInvalid);
      ack_props(&a.properties);
    }
    out.emplace_back("suback", a);
  }
  {
    Unsubscribe u;
    u.packet_id = 12;
    u.filters = {"fan/messages", "fan/+/status/#"};
    if (v5) u.properties.user_properties = user();
    out.emplace_back("unsubscribe", u);
    Unsuback a;
    a.packet_id = 12;
    if (v5) {
      a.reason_codes = {ReasonCode::kSuccess, ReasonCode::kNoSubscriptionExisted};
      ack_props(&a.properties);
    }
    out.emplace_back("unsuback", a);
  }
  out.emplace_back("pingreq", Pingreq{});
  out.emplace_back("pingresp", Pingresp{});
  out.emplace_back("disconnect", Disconnect{});
  if (v5) {
    Disconnect d;
    d.reason_code = ReasonCode::kServerShuttingDown;
    d.properties.session_expiry_interval = 0;
    d.properties.server_reference = "backup:1883";
    ack_props(&d.properties);
    out.emplace_back("disconnect_reason", d);
    Disconnect will;
    will.reason_code = ReasonCode::kDisconnectWithWillMessage;
    out.emplace_back("disconnect_with_will", will);
    out.emplace_back("auth_empty", Auth{});
    Auth a;
    a.reason_code = ReasonCode::kContinueAuthentication;
    a.properties.authentication_method = "SCRAM-SHA-1";
    a.properties.authentication_data = "challenge";
    ack_props(&a.properties);
    out.emplace_back("auth", a);
  }
  return out;
}

}  // namespace aiot::mqtt::testing
