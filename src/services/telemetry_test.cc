#include "services/telemetry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/errc.h"
#include "tests/support/config.h"

namespace aiot::services {
namespace {

constexpr int64_t kArrival = 1'795'000'020'000'000'000;

class TelemetryParserTest : public ::testing::Test {
 protected:
  TelemetryParserTest() : parser_(config_.Message(), *ResolveFeatures(config_, {})) {}

  // Parses `payload`; returns "" on success or the dead-letter reason.
  std::string Reason(std::string_view payload) {
    Defect d;
    if (parser_.Parse(payload, kArrival, row_, d)) return "";
    return d.Reason();
  }

  TelemetryConfig config_;
  TelemetryParser parser_;
  float row_[4] = {};
};

TEST_F(TelemetryParserTest, ParsesReferencePayload) {
  ASSERT_EQ(Reason(R"({"deviceID":"fan-0001","timeStamp":"2026-11-22T10:00:00.123Z",)"
                   R"("rotation":601.2,"temperature":40.1,"vibration":151.0,"sound":50.3})"),
            "");
  EXPECT_EQ(parser_.device_id(), "fan-0001");
  EXPECT_EQ(parser_.timestamp(), "2026-11-22T10:00:00.123Z");
  EXPECT_FLOAT_EQ(row_[0], 601.2f);
  EXPECT_FLOAT_EQ(row_[1], 40.1f);
  EXPECT_FLOAT_EQ(row_[2], 151.0f);
  EXPECT_FLOAT_EQ(row_[3], 50.3f);
}

TEST_F(TelemetryParserTest, FieldOrderIntegerIdsExtraFieldsAndNoTimestamp) {
  ASSERT_EQ(Reason(R"({"sound":50,"spectrum":{"bands":[1,2,{"x":3}]},"vibration":151,)"
                   R"( "temperature":-4e1,"deviceID":7,"rotation":600})"),
            "");
  EXPECT_EQ(parser_.device_id(), "7");
  EXPECT_EQ(parser_.timestamp(), "");
  EXPECT_EQ(parser_.time_ns(), kArrival);
  EXPECT_FLOAT_EQ(row_[0], 600.0f);
  EXPECT_FLOAT_EQ(row_[1], -40.0f);
  EXPECT_FLOAT_EQ(row_[3], 50.0f);
}

TEST_F(TelemetryParserTest, ReasonsForBadPayloads) {
  const std::string good_tail = R"("rotation":600,"temperature":40,"vibration":150,"sound":50})";
  EXPECT_EQ(Reason("not json"), "not valid JSON (not a JSON value)");
  EXPECT_EQ(Reason("{oops"),
            "not valid JSON (JSON document ended early in the middle of an object or array.)");
  EXPECT_EQ(Reason("[1,2,3]"), "not a JSON object");
  EXPECT_EQ(Reason("42"), "not a JSON object");
  EXPECT_EQ(Reason("[1,2,"), "not valid JSON (not a JSON value)");
  EXPECT_EQ(Reason("nulls"), "not valid JSON (not a JSON value)");
  EXPECT_EQ(Reason(R"({"deviceID":"a","rotation":600,"temperature":40,"vibration":150})"),
            "missing field `sound`");
  EXPECT_EQ(Reason(R"({"rotation":600,"temperature":40,"vibration":150,"sound":50})"),
            "missing field `deviceID`");
  EXPECT_EQ(
      Reason(R"({"deviceID":"a","rotation":"600","temperature":40,"vibration":150,"sound":50})"),
      "field `rotation` is a string, expected a number");
  EXPECT_EQ(
      Reason(R"({"deviceID":"a","rotation":null,"temperature":40,"vibration":150,"sound":50})"),
      "field `rotation` is null, expected a number");
  EXPECT_EQ(
      Reason(R"({"deviceID":"a","rotation":NaN,"temperature":40,"vibration":150,"sound":50})"),
      "field `rotation` is not a finite number");
  EXPECT_EQ(
      Reason(
          R"({"deviceID":"a","rotation":-Infinity,"temperature":40,"vibration":150,"sound":50})"),
      "field `rotation` is not a finite number");
  EXPECT_EQ(
      Reason(R"({"deviceID":"a","rotation":1e999,"temperature":40,"vibration":150,"sound":50})"),
      "field `rotation` is not a finite number");
  EXPECT_EQ(
      Reason(R"({"deviceID":"a","rotation":600,"temperature":40,"vibration":150,"sound":5000})"),
      "field `sound` = 5000 is outside the plausible range [0, 300]");
  EXPECT_EQ(Reason(R"({"deviceID":"a","sound":1,)" + good_tail), "duplicate field `sound`");
  EXPECT_EQ(Reason(R"({"deviceID":"a/b",)" + good_tail),
            "field `deviceID` must be 1-128 characters without '/', '+', '#' or control "
            "characters");
  EXPECT_EQ(Reason(R"({"deviceID":"",)" + good_tail),
            "field `deviceID` must be 1-128 characters without '/', '+', '#' or control "
            "characters");
  EXPECT_EQ(Reason(R"({"deviceID":true,)" + good_tail),
            "field `deviceID` is not a string or an integer");
  EXPECT_EQ(Reason(R"({"deviceID":"a","timeStamp":true,)" + good_tail),
            "field `timeStamp` is not a time string or a number of milliseconds since the epoch");
  EXPECT_EQ(Reason(R"({"deviceID":"a","timeStamp":"tuesday",)" + good_tail),
            "field `timeStamp` is not a time (RFC 3339, or \"YYYY-MM-DD HH:MM:SS[.fff]\" in UTC)");
  EXPECT_EQ(Reason(R"({"deviceID":"a",)" + good_tail + "{}"),
            "not valid JSON (trailing content after the object)");
  EXPECT_EQ(Reason(std::string(20000, ' ')),
            "payload of 20000 bytes exceeds max_payload_bytes (16384)");
  EXPECT_NE(Reason(R"({"deviceID":"a","rotation":600,"temperature":40,)"), "");
  EXPECT_NE(Reason(""), "");
  // The parser recovers: a good payload after all the bad ones still parses.
  EXPECT_EQ(Reason(R"({"deviceID":"a",)" + good_tail), "");
  EXPECT_EQ(parser_.device_id(), "a");
}

TEST(TelemetryMappingTest, ConfiguredFieldNamesAndRanges) {
  TelemetryConfig config;
  config.fields = {{"temperature", "temp_c"}};
  config.ranges = {{"temperature", "-10..60"}};
  config.device_id_fields = {"id"};
  TelemetryParser parser(config.Message(), *ResolveFeatures(config, {"rotation", "temperature"}));
  float row[2];
  Defect d;
  ASSERT_TRUE(parser.Parse(R"({"id":"m1","rotation":1,"temp_c":20})", kArrival, row, d))
      << d.Reason();
  EXPECT_FLOAT_EQ(row[1], 20.0f);
  EXPECT_FALSE(parser.Parse(R"({"id":"m1","rotation":1,"temperature":20})", kArrival, row, d));
  EXPECT_EQ(d.Reason(), "missing field `temp_c`");
  EXPECT_EQ(d.Label(), "missing_field");
  EXPECT_FALSE(parser.Parse(R"({"id":"m1","rotation":1,"temp_c":61})", kArrival, row, d));
  EXPECT_EQ(d.Reason(), "field `temp_c` = 61 is outside the plausible range [-10, 60]");
}

// What the configuration alone can say is wrong is reported when it is loaded, with the line.
TEST(TelemetryMappingTest, BadMappingIsReportedWhenLoaded) {
  TelemetryConfig config;
  EXPECT_EQ(test_support::LoadProblems(
                "ranges:\n  sound: loud\n  rotation: 5..1\nfields:\n  sound: s\n  vibration: s\n"
                "  temperature: \"\"\n",
                "t.yaml", config::DescriberFor(config)),
            (std::vector<std::string>{
                "ranges.rotation: is \"5..1\"; write it as \"min..max\" with min <= max, "
                "e.g. \"0..500\" (t.yaml:2)",
                "ranges.sound: is \"loud\"; write it as \"min..max\" with min <= max, e.g. "
                "\"0..500\" (t.yaml:2)",
                "fields.temperature: is empty; name the JSON field of this feature (t.yaml:5)",
                "fields.vibration: reads JSON field `s`, as does `sound` (t.yaml:5)"}));
}

// What depends on the model is reported when the model is loaded, as a Status.
TEST(TelemetryMappingTest, ModelMismatchSaysWhatToChange) {
  TelemetryConfig config;
  config.fields = {{"pressure", "p"}};
  auto r = ResolveFeatures(config, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(errc::invalid_argument));
  EXPECT_NE(r.status().message().find("`pressure`, which is not a feature"), std::string::npos)
      << r.status().ToString();
  config.fields = {{"sound", "rotation"}};
  r = ResolveFeatures(config, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "features `rotation` and `sound` both read JSON field `rotation`");
  config = TelemetryConfig{};
  config.default_features.clear();
  EXPECT_FALSE(ResolveFeatures(config, {}).ok());
}

}  // namespace
}  // namespace aiot::services
