#include "store/line_protocol.h"

#include <gtest/gtest.h>

namespace aiot::store {
namespace {

TEST(LineProtocol, TelemetryLineAsTelegrafWritesIt) {
  FieldSchema schema({"rotation", "temperature", "vibration", "sound"});
  TelemetryPoint p;
  p.device = "fan 1,a=b";
  p.ts_ms = 1700000000123;
  p.columns[0] = 601.2;
  p.columns[2] = 151;
  p.extra.emplace_back("spectrum_peak", 3.5);
  std::string out;
  int64_t mul, div;
  PrecisionFromMs(InfluxPrecision::kMs, &mul, &div);
  ASSERT_TRUE(AppendTelemetryLine(out, "fan", schema, p, mul, div));
  EXPECT_EQ(out,
            "fan,deviceID=fan\\ 1\\,a\\=b rotation=601.2,vibration=151,spectrum_peak=3.5 "
            "1700000000123\n");
  PrecisionFromMs(InfluxPrecision::kNs, &mul, &div);
  out.clear();
  ASSERT_TRUE(AppendTelemetryLine(out, "fan", schema, p, mul, div));
  EXPECT_NE(out.find(" 1700000000123000000\n"), std::string::npos);
  TelemetryPoint empty;
  empty.device = "x";
  out.clear();
  EXPECT_FALSE(AppendTelemetryLine(out, "fan", schema, empty, 1, 1));
  EXPECT_TRUE(out.empty());
}

TEST(LineProtocol, AnomalyLine) {
  AnomalyPoint a;
  a.device = "fan-5";
  a.ts_ms = 2000;
  a.score = 0.93;
  a.fault = 1;
  a.level = Level::kCritical;
  a.model = "fan-mlp@3";
  std::string out;
  ASSERT_TRUE(AppendAnomalyLine(out, "fan_anomaly", a, 1, 1000));
  EXPECT_EQ(out,
            "fan_anomaly,deviceID=fan-5,level=critical,model=fan-mlp@3 score=0.93,fault=1 2\n");
}

// schema telegraf: what the reference's Telegraf (mqtt_consumer on fan/#, JSON parser, tag_keys
// deviceID, json_string_fields with fault) wrote, so its dashboard's `where fault = '1'` matches.
TEST(LineProtocol, TelegrafSchemaLines) {
  FieldSchema schema({"rotation", "temperature", "vibration", "sound"});
  TelemetryPoint p;
  p.device = "1";
  p.ts_ms = 1700000000123;
  p.columns[0] = 601.2;
  p.columns[3] = 50.5;
  std::string out;
  ASSERT_TRUE(AppendTelemetryLine(out, "fan", schema, p, 1, 1, "fan/messages"));
  EXPECT_EQ(out, "fan,deviceID=1,topic=fan/messages rotation=601.2,sound=50.5 1700000000123\n");

  AnomalyPoint a;
  a.device = "1";
  a.ts_ms = 2000;
  a.score = 0.93;
  a.fault = 1;
  a.level = Level::kCritical;
  a.model = "fan-mlp@3";
  out.clear();
  ASSERT_TRUE(AppendTelegrafAnomalyLine(out, "fan", a, 1, 1000, "fan/anomaly"));
  EXPECT_EQ(out, "fan,deviceID=1,topic=fan/anomaly fault=\"1\",score=0.93 2\n");
  // The reference predictor's {"deviceID","fault"}: no score; a topic with a space is escaped.
  a.fault = 0;
  a.score = NAN;
  out.clear();
  ASSERT_TRUE(AppendTelegrafAnomalyLine(out, "fan", a, 1, 1000, "plant 7/anomaly"));
  EXPECT_EQ(out, "fan,deviceID=1,topic=plant\\ 7/anomaly fault=\"0\" 2\n");
  out.clear();
  ASSERT_TRUE(AppendTelegrafAnomalyLine(out, "fan", a, 1, 1000));
  EXPECT_EQ(out, "fan,deviceID=1 fault=\"0\" 2\n");
}

}  // namespace
}  // namespace aiot::store
