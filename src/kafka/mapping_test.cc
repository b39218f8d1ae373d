#include "kafka/mapping.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kafka/bridge_config.h"

namespace aiot::kafka {
namespace {

const std::string* Find(const BridgeRecord& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

Mapper MakeMapper(std::vector<std::string> specs, uint32_t max_bytes = 1024) {
  std::vector<Mapping> ms;
  for (const auto& s : specs) {
    auto m = ParseMapping(s);
    EXPECT_TRUE(m.ok()) << m.status().message();
    ms.push_back(*m);
  }
  return Mapper(std::move(ms), "aiot.deadletter", "bridge-1", max_bytes);
}

TEST(KafkaMapping, TopicLevelsAndKeys) {
  Mapper m = MakeMapper({"telemetry/+/+ -> aiot.{2} key={1}", "fan/messages -> aiot.telemetry"});
  mqtt::UserProperties props = {{"site", "north"}};
  MqttIn in{"telemetry/fan-7/vibration", "{}", 1, true, &props, 1234};
  Routed r = m.Route(in);
  EXPECT_TRUE(r.dead_letter_reason.empty());
  EXPECT_EQ(r.mapping, 0);
  EXPECT_EQ(r.record.topic, "aiot.vibration");
  EXPECT_EQ(r.record.key, "fan-7");
  EXPECT_EQ(r.record.timestamp_ms, 1234);
  EXPECT_EQ(*Find(r.record, "mqtt.topic"), "telemetry/fan-7/vibration");
  EXPECT_EQ(*Find(r.record, "mqtt.qos"), "1");
  EXPECT_EQ(*Find(r.record, "mqtt.retain"), "1");
  EXPECT_EQ(*Find(r.record, "mqtt.timestamp"), "1234");
  EXPECT_EQ(*Find(r.record, "mqtt.user.site"), "north");
  EXPECT_EQ(*Find(r.record, "aiot-bridge-origin"), "bridge-1");

  // Default key: the device id field, string or integer.
  Routed t =
      m.Route({"fan/messages", R"({"deviceID":"fan-0007","rotation":600})", 0, false, nullptr, 1});
  EXPECT_EQ(t.record.topic, "aiot.telemetry");
  EXPECT_EQ(t.record.key, "fan-0007");
  EXPECT_EQ(m.Route({"fan/messages", R"({"deviceID":17})", 0, false, nullptr, 1}).record.key, "17");
  EXPECT_EQ(m.Route({"fan/messages", R"({"chipID":"c-1"})", 0, false, nullptr, 1}).record.key,
            "c-1");
}

TEST(KafkaMapping, BadInputIsDeadLetteredWithAReason) {
  Mapper m = MakeMapper({"fan/messages -> aiot.telemetry", "x/+ -> aiot.{1} key=none"}, 64);
  auto reason = [&](std::string_view topic, std::string_view payload) {
    Routed r = m.Route({topic, payload, 1, false, nullptr, 5});
    if (!r.dead_letter_reason.empty()) {
      EXPECT_EQ(r.record.topic, "aiot.deadletter");
      EXPECT_EQ(*Find(r.record, "aiot.error"), r.dead_letter_reason);
      EXPECT_EQ(*Find(r.record, "mqtt.topic"), topic);
    }
    return std::string(r.dead_letter_reason);
  };
  EXPECT_EQ(reason("fan/messages", "not json"), "malformed");
  EXPECT_EQ(reason("fan/messages", "[1,2]"), "malformed");
  EXPECT_EQ(reason("fan/messages", R"({"rotation":1})"), "no_key");
  EXPECT_EQ(reason("fan/messages", R"({"deviceID":true})"), "no_key");
  EXPECT_EQ(reason("fan/messages", std::string(65, 'x')), "oversized");
  EXPECT_EQ(reason("other/topic", "{}"), "unknown_topic");
  EXPECT_EQ(reason("x/has space", "{}"), "bad_topic");
  EXPECT_EQ(reason("x/ok", "anything"), "");
  // An oversized payload is not copied into the dead letter.
  EXPECT_TRUE(
      m.Route({"fan/messages", std::string(65, 'x'), 1, false, nullptr, 5}).record.value.empty());
}

TEST(KafkaMapping, SpecsAreValidatedWithClearErrors) {
  auto error = [](std::string_view spec) {
    auto m = ParseMapping(spec);
    return m.ok() ? std::string() : m.status().message();
  };
  EXPECT_EQ(error("a/+ -> t.{1} key={1}"), "");
  EXPECT_NE(error("a/+ t"), "");
  EXPECT_NE(error("a/#/b -> t").find("not a valid MQTT topic filter"), std::string::npos);
  EXPECT_NE(error("a/+ -> t.{5}").find("has no single level 5"), std::string::npos);
  EXPECT_NE(error("a/# -> t.{1}").find("has no single level 1"), std::string::npos);
  EXPECT_NE(error("a/+ -> t/x").find("cannot be in a Kafka topic name"), std::string::npos);
  EXPECT_NE(error("a/+ -> t key=weird").find("key=weird"), std::string::npos);
  EXPECT_TRUE(ParseReverseMapping("aiot.control -> fan/control/{key}").ok());
  EXPECT_FALSE(ParseReverseMapping("bad topic -> fan/control/{key}").ok());
  EXPECT_FALSE(ParseReverseMapping("aiot.control -> fan/+/{key}").ok());
}

TEST(KafkaMapping, BridgeConfigValidateReportsEveryProblem) {
  BridgeConfig c;
  c.mappings = {"fan/messages -> aiot.telemetry", "oops"};
  c.kafka = {{"no.such.property", "1"}};
  c.dead_letter_topic = "bad topic";
  config::Checks checks;
  Validate(checks, c);
  std::string all;
  for (const auto& p : checks.problems()) all += p.key + ": " + p.what + "\n";
  EXPECT_NE(all.find("mappings: \"oops\""), std::string::npos) << all;
  EXPECT_NE(all.find("no.such.property"), std::string::npos) << all;
  EXPECT_NE(all.find("dead_letter_topic"), std::string::npos) << all;
  BridgeConfig fixed;
  fixed.kafka = {{"acks", "1"}};
  config::Checks checks2;
  Validate(checks2, fixed);
  ASSERT_EQ(checks2.problems().size(), 1u);
  EXPECT_NE(checks2.problems()[0].what.find("acks is fixed"), std::string::npos);
}

// The bridges' per-message path (RouteEncoded: no record built, key fields read without a
// document) gives exactly the bytes of EncodeRecord(Route(in).record), for routed messages, every
// dead-letter reason and the key-field corner cases (duplicate members: the last counts; nested
// values, floats and booleans are no key; the first usable field in the configured order).
TEST(KafkaMapping, RouteEncodedIsRouteEncoded) {
  Mapper m = MakeMapper({"telemetry/+/+ -> aiot.{2} key={1}", "fan/messages -> aiot.telemetry",
                         "x/+ -> aiot.{1} key=none", "keys/+ -> k key=field:b,a"},
                        64);
  mqtt::UserProperties props = {{"site", "north"}, {"", "empty name"}};
  mqtt::UserProperties many;
  for (int i = 0; i < 12; ++i) many.emplace_back(fmt::format("p{}", i), std::to_string(i));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"telemetry/fan-7/vibration", "{}"},
      {"telemetry/fan-7/", "{}"},
      {"fan/messages", R"({"deviceID":"fan-0007","rotation":600})"},
      {"fan/messages", R"({"deviceID":17})"},
      {"fan/messages", R"({"deviceID":-17})"},
      {"fan/messages", R"({"deviceID":18446744073709551615})"},
      {"fan/messages", R"({"deviceID":1.5,"chipID":"c"})"},
      {"fan/messages", R"({"deviceID":"a","deviceID":"b"})"},
      {"fan/messages", R"({"deviceID":"a","deviceID":{"x":"y"}})"},
      {"fan/messages", R"({"x":{"deviceID":"nested"}})"},
      {"fan/messages", R"({"x":[{"deviceID":"in array"}],"chipID":7})"},
      {"fan/messages", R"({"deviceID":"","chipID":"c-1"})"},
      {"fan/messages", R"({"deviceID":"esc"apedé"})"},
      {"fan/messages", R"({"deviceID":"a"} trailing)"},
      {"fan/messages", R"({"deviceID":"a")"},
      {"fan/messages", "[1,2]"},
      {"fan/messages", "17"},
      {"fan/messages", ""},
      {"fan/messages", R"({"deviceID":true})"},
      {"fan/messages", std::string(65, 'x')},
      {"keys/1", R"({"a":"A","b":"B"})"},
      {"keys/1", R"({"a":"A","b":null})"},
      {"other/topic", "{}"},
      {"x/has space", "{}"},
      {"x/ok", "anything"},
  };
  const std::vector<const mqtt::UserProperties*> users = {nullptr, &props, &many};
  for (const mqtt::UserProperties* user : users) {
    for (int qos = 0; qos <= 2; ++qos) {
      for (const auto& [topic, payload] : cases) {
        const MqttIn in{topic, payload, qos, qos == 1, user, 1700000000123};
        const Routed r = m.Route(in);
        std::string bytes = "stale";
        const RouteInfo info = m.RouteEncoded(in, &bytes);
        EXPECT_EQ(bytes, EncodeRecord(r.record)) << topic << " " << payload;
        EXPECT_EQ(info.mapping, r.mapping) << topic << " " << payload;
        EXPECT_EQ(info.dead_letter_reason, r.dead_letter_reason) << topic << " " << payload;
        RecordView v;
        std::vector<HeaderView> headers;
        ASSERT_TRUE(DecodeRecordView(bytes, &v, &headers).ok());
        EXPECT_EQ(v.topic, r.record.topic);
        EXPECT_EQ(v.key.has_value(), r.record.key.has_value());
        ASSERT_EQ(headers.size(), r.record.headers.size());
      }
    }
  }
  const auto key = [&](std::string_view topic, std::string_view payload) {
    return m.Route({topic, payload, 1, false, nullptr, 1}).record.key.value_or("<none>");
  };
  EXPECT_EQ(key("fan/messages", R"({"deviceID":"a","deviceID":"b"})"), "b");
  EXPECT_EQ(key("fan/messages", R"({"x":[{"deviceID":"in array"}],"chipID":7})"), "7");
  EXPECT_EQ(key("fan/messages", R"({"deviceID":18446744073709551615})"), "18446744073709551615");
  EXPECT_EQ(key("keys/1", R"({"a":"A","b":"B"})"), "B");
  EXPECT_EQ(key("keys/1", R"({"a":"A","b":null})"), "A");
}

TEST(KafkaRecord, RoundTripAndHostileBytes) {
  BridgeRecord r{"aiot.telemetry", "fan-1", "{}", {{"a", "b"}, {"c", ""}}, 42};
  auto back = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, r);
  r.key.reset();
  EXPECT_EQ(*DecodeRecord(EncodeRecord(r)), r);
  const std::string bytes = EncodeRecord(r);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeRecord(bytes.substr(0, n)).ok());
  EXPECT_FALSE(DecodeRecord(bytes + "x").ok());
  RecordView v;
  std::vector<HeaderView> headers;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeRecordView(bytes.substr(0, n), &v, &headers).ok());
  }
  ASSERT_TRUE(DecodeRecordView(bytes, &v, &headers).ok());
  EXPECT_EQ(v.topic, r.topic);
  EXPECT_FALSE(v.key);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[1].name, "c");
}

}  // namespace
}  // namespace aiot::kafka
