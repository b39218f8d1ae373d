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
  ASSERT_TRUE(PrecisionFromMs("ms", &mul, &div));
  ASSERT_TRUE(AppendTelemetryLine(out, "fan", schema, p, mul, div));
  EXPECT_EQ(out,
            "fan,deviceID=fan\\ 1\\,a\\=b rotation=601.2,vibration=151,spectrum_peak=3.5 "
            "1700000000123\n");
  ASSERT_TRUE(PrecisionFromMs("ns", &mul, &div));
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

}  // namespace
}  // namespace aiot::store
