#include "datastore/telemetry_row.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/errc.h"
#include "telemetry/field_schema.h"

namespace aiot::datastore {
namespace {

const std::vector<std::string> kFan = telemetry::FieldSchema::FanFeatures();
constexpr int64_t kNow = 1'790'000'000'000'000'000;

TEST(TelemetryRowTest, ParsesTelemetry) {
  RowParser parser(kFan);
  auto ParseTelemetry = [&parser](std::string_view json, auto... rest) {
    if constexpr (sizeof...(rest) == 1) {
      return parser.Parse(json, kNow, rest...);
    } else {
      return parser.Parse(json, rest...);
    }
  };
  TelemetryRow r;
  ASSERT_TRUE(
      ParseTelemetry(
          R"({"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z","rotation":601.2,"temperature":40.1,"vibration":151.0,"sound":50.3})",
          &r)
          .ok());
  EXPECT_EQ(r.device, "fan-0001");
  EXPECT_EQ(r.ts % 1'000'000'000, 123'000'000);
  EXPECT_DOUBLE_EQ(r.values[0], 601.2);
  ASSERT_TRUE(ParseTelemetry(R"({"deviceID":4,"timeStamp":"2016-01-03 06:20:39"})", &r).ok());
  EXPECT_EQ(r.device, "4");
  EXPECT_TRUE(std::isnan(r.values[3]));
  EXPECT_FALSE(ParseTelemetry(R"({"timeStamp":"2016-01-03 06:20:39"})", &r).ok());
  // The seeds' sensors (src/telemetry's rules): a time without a zone is UTC; without a time, the
  // arrival time (it was rejected here while the predictor and the store accepted it); chipID.
  constexpr int64_t kArrival = 1'800'000'000'000'000'000;
  ASSERT_TRUE(
      ParseTelemetry(
          R"({"deviceID": "1", "timeStamp": "2021-09-14 23:07:59", "rotation": 628.4, "temperature": 36.6, "vibration": 163.5, "sound": 50.0})",
          kArrival, &r)
          .ok());
  EXPECT_EQ(r.device, "1");
  EXPECT_EQ(r.ts, 1'631'660'879'000'000'000);
  EXPECT_DOUBLE_EQ(r.values[2], 163.5);
  for (
      const char* motor :
      {R"({"deviceID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})",
       R"({"chipID": "14333616", "current": 4.69, "temperature": 39.06, "vibration": 39.06, "sound": 12.50, "fft_data": "true"})"}) {
    telemetry::Defect d;
    ASSERT_TRUE(ParseTelemetry(motor, kArrival, &r, &d).ok()) << d.Reason();
    EXPECT_EQ(r.device, "14333616");
    EXPECT_EQ(r.ts, kArrival);
    EXPECT_TRUE(std::isnan(r.values[0]));
    EXPECT_DOUBLE_EQ(r.values[3], 12.5);
  }
  telemetry::Defect d;
  EXPECT_FALSE(ParseTelemetry(R"({"deviceID":"a/b"})", kArrival, &r, &d).ok());
  EXPECT_EQ(d.Label(), "bad_device_id");
  Status bad_time = ParseTelemetry(R"({"deviceID":"x","timeStamp":"yesterday"})", &r);
  EXPECT_EQ(bad_time.code(), make_error_code(errc::parse_error));
  EXPECT_NE(bad_time.message().find("timeStamp"), std::string::npos) << bad_time.message();
  EXPECT_FALSE(
      ParseTelemetry(R"({"deviceID":"x","timeStamp":"2016-01-03 06:20:39","rotation":"fast"})", &r)
          .ok());
}

// Another schema (a motor): its fields in its order; the fan's are not columns of it.
TEST(TelemetryRowTest, ReadsTheSchemasFields) {
  RowParser parser({"current", "voltage", "temperature"});
  TelemetryRow r;
  ASSERT_TRUE(
      parser
          .Parse(
              R"({"chipID":"m-1","temperature":39.5,"rotation":600,"current":4.69,"fft_data":"true"})",
              kNow, &r)
          .ok());
  EXPECT_EQ(r.device, "m-1");
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_DOUBLE_EQ(r.values[0], 4.69);
  EXPECT_TRUE(std::isnan(r.values[1]));
  EXPECT_DOUBLE_EQ(r.values[2], 39.5);
  telemetry::Defect d;
  EXPECT_FALSE(parser.Parse(R"({"deviceID":"m-1","voltage":"230V"})", kNow, &r, &d).ok());
  EXPECT_EQ(d.Label(), "mistyped_field");
}

}  // namespace
}  // namespace aiot::datastore
