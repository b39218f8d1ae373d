#include "store/records.h"

#include <gtest/gtest.h>

#include "base/errc.h"

namespace aiot::store {
namespace {

const FieldSchema kSchema({"rotation", "temperature", "vibration", "sound"});

TEST(ParseTelemetry, ReferenceMessage) {
  TelemetryPoint p;
  ASSERT_TRUE(ParseTelemetry(
      R"({"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z","rotation":601.2,"temperature":40.1,"vibration":151.0,"sound":50.3})",
      kSchema, 0, &p));
  EXPECT_EQ(p.device, "fan-0001");
  int64_t want;
  ASSERT_TRUE(ParseTimeMs("2026-11-22T10:00:00.123Z", &want));
  EXPECT_EQ(p.ts_ms, want);
  EXPECT_DOUBLE_EQ(p.columns[0], 601.2);
  EXPECT_DOUBLE_EQ(p.columns[3], 50.3);
  EXPECT_TRUE(p.extra.empty());
}

TEST(ParseTelemetry, ExtraFieldsAndNestedObjectsAreFlattened) {
  TelemetryPoint p;
  ASSERT_TRUE(ParseTelemetry(
      R"({"deviceID":7,"rotation":1,"current":2.5,"spectrum":{"peak":3,"bands":{"b0":4}},"note":"x","ok":true,"arr":[1,2]})",
      kSchema, 1234, &p));
  EXPECT_EQ(p.device, "7");
  EXPECT_EQ(p.ts_ms, 1234);  // no timestamp: receive time
  EXPECT_TRUE(std::isnan(p.columns[1]));
  ASSERT_EQ(p.extra.size(), 3u);
  EXPECT_EQ(p.extra[0].first, "current");
  EXPECT_EQ(p.extra[1].first, "spectrum_peak");
  EXPECT_EQ(p.extra[2].first, "spectrum_bands_b0");
  EXPECT_DOUBLE_EQ(p.extra[2].second, 4);
}

TEST(ParseTelemetry, BadPayloadsReturnErrors) {
  TelemetryPoint p;
  for (const char* bad : {"", "{", "[]", "null", R"({"rotation":1})", R"({"deviceID":"a",)",
                          R"({"deviceID":"a","timeStamp":"yesterday"})", R"({"deviceID":{}})",
                          R"({"deviceID":"a"} trailing)", "{\"deviceID\":\"a\",\"x\":1e999999}"}) {
    EXPECT_FALSE(ParseTelemetry(bad, kSchema, 0, &p)) << bad;
  }
}

// The seeds' sensors, by src/telemetry's rules: the fan's time has no zone (UTC; every reading
// was rejected here), the motor's has none (the arrival time) and may name its device chipID.
TEST(ParseTelemetry, SeedPayloads) {
  TelemetryPoint p;
  telemetry::Defect d;
  ASSERT_TRUE(ParseTelemetry(
      R"({"deviceID": "1", "timeStamp": "2021-09-14 23:07:59", "rotation": 628.4, "temperature": 36.6, "vibration": 163.5, "sound": 50.0})",
      kSchema, 5, &p, &d))
      << d.Reason();
  EXPECT_EQ(p.device, "1");
  EXPECT_EQ(p.ts_ms, 1'631'660'879'000);
  EXPECT_DOUBLE_EQ(p.columns[0], 628.4);
  for (
      const char* motor :
      {R"({"deviceID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})",
       R"({"chipID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})"}) {
    ASSERT_TRUE(ParseTelemetry(motor, kSchema, 5, &p, &d)) << d.Reason();
    EXPECT_EQ(p.device, "14333616");
    EXPECT_EQ(p.ts_ms, 5);
    EXPECT_TRUE(std::isnan(p.columns[0]));
    EXPECT_DOUBLE_EQ(p.columns[3], 12.5);
    ASSERT_EQ(p.extra.size(), 1u);
    EXPECT_EQ(p.extra[0].first, "current");
  }
  // A configured column of the wrong type is rejected, with the reason.
  EXPECT_FALSE(ParseTelemetry(R"({"deviceID":"a","rotation":"fast"})", kSchema, 5, &p, &d));
  EXPECT_EQ(d.Reason(), "field `rotation` is a string, expected a number");
}

TEST(ParseAnomaly, ReferenceMessage) {
  AnomalyPoint a;
  ASSERT_TRUE(ParseAnomaly(
      R"({"deviceID":"fan-0005","timeStamp":"2026-11-22T10:00:00.000Z","fault":1,"score":0.93,"level":"critical","model":"fan-mlp@3"})",
      0, &a));
  EXPECT_EQ(a.device, "fan-0005");
  EXPECT_EQ(a.fault, 1);
  EXPECT_DOUBLE_EQ(a.score, 0.93);
  EXPECT_EQ(a.level, Level::kCritical);
  EXPECT_EQ(a.model, "fan-mlp@3");
  ASSERT_TRUE(ParseAnomaly(R"({"deviceID":"x","fault":true})", 5, &a));
  EXPECT_EQ(a.level, Level::kWarning);  // no level: derived from fault
  EXPECT_FALSE(ParseAnomaly(R"({"deviceID":"x","score":"high"})", 5, &a));
}

TEST(ParseStatus, DeviceFromTopic) {
  StatusUpdate s;
  ASSERT_TRUE(
      ParseStatus(R"({"online":true,"model":"fan-mlp@2","actuator":{"on":1}})", "fan-1", 9, &s));
  EXPECT_EQ(s.device, "fan-1");
  EXPECT_TRUE(s.online);
  EXPECT_EQ(s.model, "fan-mlp@2");
}

// The simulator's and the device agent's status before any model is installed (seen with
// `aiot up --simulate`: every fleet device showed no status on the dashboard).
TEST(ParseStatus, DeviceWithoutAModel) {
  StatusUpdate s;
  ASSERT_TRUE(ParseStatus(
      R"({"actuator":{"load":1.0},"model":null,"online":true,"timeStamp":"2026-12-01T21:23:36.033Z"})",
      "fan-0001", 9, &s));
  EXPECT_TRUE(s.online);
  EXPECT_EQ(s.model, "");
  EXPECT_FALSE(ParseStatus(R"({"online":true,"model":7})", "fan-1", 9, &s));
}

TEST(TopicMatches, Wildcards) {
  EXPECT_TRUE(TopicMatches("fan/status/+", "fan/status/fan-1"));
  EXPECT_FALSE(TopicMatches("fan/status/+", "fan/status/fan-1/x"));
  EXPECT_FALSE(TopicMatches("fan/status/+", "fan/status"));
  EXPECT_TRUE(TopicMatches("aiot/events/#", "aiot/events/drift/fan-mlp"));
  EXPECT_TRUE(TopicMatches("aiot/events/#", "aiot/events"));
  EXPECT_TRUE(TopicMatches("fan/messages", "fan/messages"));
  EXPECT_FALSE(TopicMatches("fan/messages", "fan/messages2"));
}

}  // namespace
}  // namespace aiot::store
