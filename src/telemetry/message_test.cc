#include "telemetry/message.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "telemetry/features.h"
#include "telemetry/rejections.h"

namespace aiot::telemetry {
namespace {

constexpr int64_t kArrival = 1'800'000'000'123'000'000;  // 2027-01-15T08:00:00.123Z

int64_t Utc(const char* rfc3339) {
  int64_t ns = 0;
  EXPECT_TRUE(ParseTimestamp(rfc3339, &ns)) << rfc3339;
  return ns;
}

// The seeds' own payloads, verbatim.
constexpr const char* kFanSeed =
    R"({"deviceID": "1", "timeStamp": "2021-09-14 23:07:59", "rotation": 628.4, "temperature": 36.6, "vibration": 163.5, "sound": 50.0})";
constexpr const char* kMotorSeed =
    R"({"deviceID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})";
constexpr const char* kMotorSeedChipId =
    R"({"chipID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})";

struct Case {
  const char* name;
  std::string payload;
  // Accepted: the device, the time (0: the arrival time) and the numeric fields.
  std::string device;
  int64_t time_ns = 0;
  std::map<std::string, double> fields;
  // Rejected: the reason and its metrics label ("" = accepted).
  std::string reason = "";
  std::string label = "";
};

std::vector<Case> Cases() {
  const std::string tail = R"("rotation":600,"temperature":40,"vibration":150,"sound":50})";
  const std::map<std::string, double> fan = {
      {"rotation", 600}, {"temperature", 40}, {"vibration", 150}, {"sound", 50}};
  const std::map<std::string, double> motor = {
      {"current", 4.69}, {"temperature", 39.06}, {"vibration", 39.06}, {"sound", 12.5}};
  return {
      // The seeds' sensors.
      {"fan seed: time without a zone is UTC",
       kFanSeed,
       "1",
       Utc("2021-09-14T23:07:59Z"),
       {{"rotation", 628.4}, {"temperature", 36.6}, {"vibration", 163.5}, {"sound", 50.0}}},
      {"motor seed: no time is the arrival time; fft_data is not a reading", kMotorSeed, "14333616",
       0, motor},
      {"motor seed with chipID", kMotorSeedChipId, "14333616", 0, motor},
      // Times.
      {"RFC 3339 with Z",
       R"({"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z",)" + tail, "fan-0001",
       Utc("2026-11-22T10:00:00.123Z"), fan},
      {"RFC 3339 with an offset",
       R"({"deviceID":"a","timeStamp":"2026-11-22T12:00:00+02:00",)" + tail, "a",
       Utc("2026-11-22T10:00:00Z"), fan},
      {"no zone with T and a fraction",
       R"({"deviceID":"a","timeStamp":"2026-11-22T10:00:00.5",)" + tail, "a",
       Utc("2026-11-22T10:00:00.5Z"), fan},
      {"epoch milliseconds", R"({"deviceID":"a","timeStamp":1795000020000,)" + tail, "a",
       1'795'000'020'000'000'000, fan},
      {"null time is the arrival time", R"({"deviceID":"a","timeStamp":null,)" + tail, "a", 0, fan},
      {"bad time",
       R"({"deviceID":"a","timeStamp":"yesterday",)" + tail,
       "",
       0,
       {},
       "field `timeStamp` is not a time (RFC 3339, or \"YYYY-MM-DD HH:MM:SS[.fff]\" in UTC)",
       "bad_time"},
      {"time out of range",
       R"({"deviceID":"a","timeStamp":"9999-01-01 00:00:00",)" + tail,
       "",
       0,
       {},
       "field `timeStamp` is not a time (RFC 3339, or \"YYYY-MM-DD HH:MM:SS[.fff]\" in UTC)",
       "bad_time"},
      {"epoch out of range",
       R"({"deviceID":"a","timeStamp":1e300,)" + tail,
       "",
       0,
       {},
       "field `timeStamp` is not a number of milliseconds since the epoch (1678-2261)",
       "bad_time"},
      {"time of the wrong type",
       R"({"deviceID":"a","timeStamp":true,)" + tail,
       "",
       0,
       {},
       "field `timeStamp` is not a time string or a number of milliseconds since the epoch",
       "mistyped_field"},
      {"two times",
       R"({"deviceID":"a","timeStamp":1,"timeStamp":2,)" + tail,
       "",
       0,
       {},
       "duplicate field `timeStamp`",
       "duplicate_field"},
      // Device ids.
      {"integer id", R"({"deviceID":7,)" + tail, "7", 0, fan},
      {"deviceID wins over chipID", R"({"chipID":"c","deviceID":"d",)" + tail, "d", 0, fan},
      {"no id", "{" + tail, "", 0, {}, "missing field `deviceID`", "missing_field"},
      {"id with a slash",
       R"({"deviceID":"a/b",)" + tail,
       "",
       0,
       {},
       "field `deviceID` must be 1-128 characters without '/', '+', '#' or control characters",
       "bad_device_id"},
      {"empty id",
       R"({"chipID":"",)" + tail,
       "",
       0,
       {},
       "field `chipID` must be 1-128 characters without '/', '+', '#' or control characters",
       "bad_device_id"},
      {"id of the wrong type",
       R"({"deviceID":true,)" + tail,
       "",
       0,
       {},
       "field `deviceID` is not a string or an integer",
       "bad_device_id"},
      {"fractional id",
       R"({"deviceID":1.5,)" + tail,
       "",
       0,
       {},
       "field `deviceID` is not a string or an integer",
       "bad_device_id"},
      {"two ids",
       R"({"deviceID":"a","deviceID":"b",)" + tail,
       "",
       0,
       {},
       "duplicate field `deviceID`",
       "duplicate_field"},
      // Fields.
      {"nested objects are flattened, arrays and strings skipped",
       R"({"deviceID":"a","spectrum":{"peak":3,"bands":{"b0":4},"raw":[1,2,{"x":3}]},"note":"x","ok":true,"none":null,)" +
           tail,
       "a",
       0,
       {{"spectrum_peak", 3},
        {"spectrum_bands_b0", 4},
        {"rotation", 600},
        {"temperature", 40},
        {"vibration", 150},
        {"sound", 50}}},
      {"a reading field as a string",
       R"({"deviceID":"a","rotation":"fast"})",
       "",
       0,
       {},
       "field `rotation` is a string, expected a number",
       "mistyped_field"},
      {"a reading field twice",
       R"({"deviceID":"a","sound":1,)" + tail,
       "",
       0,
       {},
       "duplicate field `sound`",
       "duplicate_field"},
      {"NaN",
       R"({"deviceID":"a","rotation":NaN})",
       "",
       0,
       {},
       "field `rotation` is not a finite number",
       "not_finite"},
      {"-Infinity",
       R"({"deviceID":"a","x":-Infinity})",
       "",
       0,
       {},
       "field `x` is not a finite number",
       "not_finite"},
      {"overflow, nested",
       R"({"deviceID":"a","s":{"p":1e999}})",
       "",
       0,
       {},
       "field `s_p` is not a finite number",
       "not_finite"},
      {"four levels",
       R"({"deviceID":"a","a":{"b":{"c":{"d":{"e":1}}}}})",
       "a",
       0,
       {{"a_b_c_d_e", 1}}},
      {"too deep",
       R"({"deviceID":"a","a":{"b":{"c":{"d":{"e":{"f":1}}}}}})",
       "",
       0,
       {},
       "field `a_b_c_d_e` nests objects deeper than 4 levels",
       "too_deep"},
      // Documents.
      {"not JSON", "not json", "", 0, {}, "not valid JSON (not a JSON value)", "not_json"},
      {"an array", "[1,2,3]", "", 0, {}, "not a JSON object", "not_object"},
      {"trailing content",
       R"({"deviceID":"a",)" + tail + "{}",
       "",
       0,
       {},
       "not valid JSON (trailing content after the object)",
       "not_json"},
      {"oversized",
       std::string(20000, ' '),
       "",
       0,
       {},
       "payload of 20000 bytes exceeds max_payload_bytes (16384)",
       "oversized"},
  };
}

TEST(TelemetryMessages, OneTableOfRules) {
  ReadingParser parser({"rotation", "temperature", "vibration", "sound"});
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Reading r;
    Defect d;
    const bool ok = parser.Parse(c.payload, kArrival, &r, d);
    if (!c.reason.empty()) {
      ASSERT_FALSE(ok);
      EXPECT_EQ(d.Reason(), c.reason);
      EXPECT_EQ(d.Label(), c.label);
      continue;
    }
    ASSERT_TRUE(ok) << d.Reason();
    EXPECT_EQ(r.device, c.device);
    EXPECT_EQ(r.time_ns, c.time_ns == 0 ? kArrival : c.time_ns);
    EXPECT_EQ(r.has_time, c.time_ns != 0);
    std::map<std::string, double> got(r.fields.begin(), r.fields.end());
    EXPECT_EQ(got.size(), r.fields.size()) << "a key twice";
    EXPECT_EQ(got, c.fields);
    // Which numeric field each value is, as the parser found it.
    const auto& names = parser.numeric_fields();
    ASSERT_EQ(r.numeric_index.size(), r.fields.size());
    for (size_t i = 0; i < r.fields.size(); ++i) {
      auto it = std::find(names.begin(), names.end(), r.fields[i].first);
      EXPECT_EQ(r.numeric_index[i], it == names.end() ? -1 : static_cast<int>(it - names.begin()));
    }
  }
}

// The predictor's view of the same table: the verdict on the message is the same; a reading
// accepted above is rejected only for a missing feature.
TEST(TelemetryMessages, FeatureParserAgreesWithTheTable) {
  std::vector<FeatureField> fan_features;
  for (const char* f : {"rotation", "temperature", "vibration", "sound"}) {
    fan_features.push_back({.feature = f, .field = f});
  }
  FeatureParser parser({}, fan_features);
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    float row[4];
    Defect d;
    const bool ok = parser.Parse(c.payload, kArrival, row, d);
    if (!c.reason.empty()) {
      ASSERT_FALSE(ok);
      if (d.kind != Defect::Kind::kMissingField) {
        EXPECT_EQ(d.Reason(), c.reason);
      }
      continue;
    }
    if (!c.fields.contains("rotation")) {
      ASSERT_FALSE(ok);
      EXPECT_EQ(d.Reason(), "missing field `rotation`");
      continue;
    }
    ASSERT_TRUE(ok) << d.Reason();
    EXPECT_EQ(parser.device_id(), c.device);
    EXPECT_EQ(parser.time_ns(), c.time_ns == 0 ? kArrival : c.time_ns);
    EXPECT_EQ(parser.timestamp().empty(), c.time_ns == 0);
    EXPECT_FLOAT_EQ(row[0], static_cast<float>(c.fields.at("rotation")));
    EXPECT_FLOAT_EQ(row[3], static_cast<float>(c.fields.at("sound")));
  }
  // A motor model reads the motor sensor.
  std::vector<FeatureField> motor_features;
  for (const char* f : {"current", "temperature", "vibration", "sound"}) {
    motor_features.push_back({.feature = f, .field = f, .min = 0, .max = 1000});
  }
  FeatureParser motor({}, motor_features);
  for (const char* payload : {kMotorSeed, kMotorSeedChipId}) {
    float row[4];
    Defect d;
    ASSERT_TRUE(motor.Parse(payload, kArrival, row, d)) << d.Reason();
    EXPECT_EQ(motor.device_id(), "14333616");
    EXPECT_FLOAT_EQ(row[0], 4.69f);
    EXPECT_EQ(motor.timestamp(), "");
  }
  // Passed through as sent; epoch numbers as RFC 3339.
  float row[4];
  Defect d;
  ASSERT_TRUE(parser.Parse(kFanSeed, kArrival, row, d));
  EXPECT_EQ(parser.timestamp(), "2021-09-14 23:07:59");
  ASSERT_TRUE(parser.Parse(
      R"({"deviceID":"a","timeStamp":1795000020000,"rotation":1,"temperature":1,"vibration":1,"sound":1})",
      kArrival, row, d));
  EXPECT_EQ(parser.timestamp(), "2026-11-18T11:07:00.000Z");
  // Range and null are the predictor's own requirements.
  FeatureParser ranged({}, {{.feature = "sound", .field = "sound", .min = 0, .max = 300}});
  ASSERT_FALSE(ranged.Parse(R"({"deviceID":"a","sound":5000})", kArrival, row, d));
  EXPECT_EQ(d.Reason(), "field `sound` = 5000 is outside the plausible range [0, 300]");
  ASSERT_FALSE(ranged.Parse(R"({"deviceID":"a","sound":null})", kArrival, row, d));
  EXPECT_EQ(d.Reason(), "field `sound` is null, expected a number");
  ASSERT_FALSE(ranged.Parse(R"({"deviceID":"a","sound":1e300})", kArrival, row, d));
  EXPECT_EQ(d.Reason(), "field `sound` is not a finite number");  // not a finite float
}

TEST(TelemetryMessages, ConfiguredFields) {
  MessageConfig config;
  config.device_id_fields = {"id", "mac"};
  config.timestamp_field = "ts";
  ReadingParser parser({"t"}, config);
  Reading r;
  Defect d;
  ASSERT_TRUE(parser.Parse(R"({"mac":"m","ts":"2026-01-01 00:00:00","t":1})", kArrival, &r, d));
  EXPECT_EQ(r.device, "m");
  EXPECT_EQ(r.time_ns, Utc("2026-01-01T00:00:00Z"));
  ASSERT_FALSE(parser.Parse(R"({"deviceID":"x","t":1})", kArrival, &r, d));
  EXPECT_EQ(d.Reason(), "missing field `id`");
}

TEST(TelemetryMessages, DeviceStatus) {
  DeviceStatus s;
  Defect d;
  ASSERT_TRUE(ParseDeviceStatus(
      R"({"online":true,"model":"fan-mlp@3","actuator":{"on":1},"ota":{"rollout":"r-1","state":"failed","version":3,"error":"bad sig"}})",
      "fan-1", kArrival, &s, d))
      << d.Reason();
  EXPECT_EQ(s.device, "fan-1");
  EXPECT_TRUE(s.has_online && s.online);
  EXPECT_EQ(s.model, "fan-mlp@3");
  EXPECT_EQ(s.ota_rollout, "r-1");
  EXPECT_EQ(s.ota_state, "failed");
  EXPECT_EQ(s.ota_version, 3);
  EXPECT_EQ(s.ota_error, "bad sig");
  EXPECT_EQ(s.time_ns, kArrival);
  // A device running no model yet; the device named by the payload; a time without a zone.
  ASSERT_TRUE(ParseDeviceStatus(
      R"({"deviceID":"fan-2","online":false,"model":null,"timeStamp":"2026-01-01 00:00:00"})", "",
      kArrival, &s, d))
      << d.Reason();
  EXPECT_EQ(s.device, "fan-2");
  EXPECT_FALSE(s.online);
  EXPECT_EQ(s.model, "");
  EXPECT_EQ(s.time_ns, Utc("2026-01-01T00:00:00Z"));
  ASSERT_TRUE(ParseDeviceStatus("{}", "fan-1", kArrival, &s, d));
  EXPECT_FALSE(s.has_online);
  for (auto [payload, reason] : std::vector<std::pair<const char*, const char*>>{
           {"[]", "not a JSON object"},
           {R"({"online":"yes"})", "field `online` is not a boolean"},
           {R"({"model":7})", "field `model` is not a string"},
           {R"({"ota":5})", "field `ota` is not an object"},
           {R"({"ota":{"version":1.5}})", "field `ota_version` is not an integer"},
           {R"({"ota":{"state":1}})", "field `ota_state` is not a string"},
           {"{", "not valid JSON (JSON document ended early in the middle of an object or array.)"},
       }) {
    EXPECT_FALSE(ParseDeviceStatus(payload, "fan-1", kArrival, &s, d)) << payload;
    EXPECT_EQ(d.Reason(), reason) << payload;
  }
  EXPECT_FALSE(ParseDeviceStatus(R"({"online":true})", "", kArrival, &s, d));
  EXPECT_EQ(d.Reason(), "missing field `deviceID`");
}

TEST(TelemetryMessages, TimesAndIds) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseTime("2021-09-14 23:07:59", &ns));
  EXPECT_EQ(FormatTimestamp(ns), "2021-09-14T23:07:59.000Z");
  ASSERT_TRUE(ParseTime("2021-09-14 23:07:59.25", &ns));
  EXPECT_EQ(FormatTimestamp(ns), "2021-09-14T23:07:59.250Z");
  ASSERT_TRUE(ParseTime("2021-09-14T23:07:59-01:00", &ns));
  EXPECT_EQ(FormatTimestamp(ns), "2021-09-15T00:07:59.000Z");
  for (const char* bad : {"", "2021-09-14", "2021-09-14 23:07", "2021-09-14 23:07:59ZZ",
                          "2021-09-14 23:07:59+01:00Z", "2021-09-14 23:07:59 ", "14/09/2021"}) {
    EXPECT_FALSE(ParseTime(bad, &ns)) << bad;
  }
  EXPECT_TRUE(IsTopicSafeId("fan-0001"));
  EXPECT_TRUE(IsTopicSafeId("機械-1"));
  EXPECT_FALSE(IsTopicSafeId("a/b"));
  EXPECT_FALSE(IsTopicSafeId("a+"));
  EXPECT_FALSE(IsTopicSafeId("#"));
  EXPECT_FALSE(IsTopicSafeId(std::string("a\0b", 3)));
  EXPECT_FALSE(IsTopicSafeId(std::string(129, 'x')));
}

TEST(TelemetryMessages, RejectionsAreCountedByComponentAndReason) {
  metrics::Registry registry;
  ManualClock clock(0);
  Rejections rejections(&registry, "test", "test", clock);
  ReadingParser parser({});
  Reading r;
  Defect d;
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(parser.Parse("nope", kArrival, &r, d));
    rejections.Reject("fan/messages", d);
  }
  rejections.Reject("fan/other", "not_found", "no parser for this topic");
  EXPECT_EQ(rejections.total(), 4u);
  const std::string text = metrics::SerializeText(registry);
  EXPECT_NE(text.find(R"(aiot_messages_rejected_total{component="test",reason="not_json"} 3)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(aiot_messages_rejected_total{component="test",reason="not_found"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(aiot_messages_rejected_total{component="test",reason="bad_time"} 0)"),
            std::string::npos);
}

}  // namespace
}  // namespace aiot::telemetry
