#include "store/influx_sink.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "base/errc.h"
#include "tests/support/config.h"
#include "tests/support/testing.h"

namespace aiot::store {
namespace {

namespace fs = std::filesystem;

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(in.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST(Gzip, RoundTrips) {
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += fmt::format("fan,deviceID=d{} rotation={} {}\n", i % 7, i, i);
  std::string gz = Gzip(text);
  ASSERT_FALSE(gz.empty());
  EXPECT_LT(gz.size(), text.size() / 3);
  EXPECT_EQ(Gunzip(gz), text);
}

TEST(InfluxSink, SpoolsWhileUnreachableAndKeepsSpoolAcrossRestarts) {
  fs::path dir = fs::temp_directory_path() /
                 fmt::format("aiot-influx-spool-{}-{}", ::getpid(), std::random_device{}());
  InfluxConfig c;
  c.url = fmt::format("http://127.0.0.1:{}", test_support::FreePort());  // nothing listens
  c.spool_dir = dir.string();
  c.batch_max_points = 10;
  c.retry_initial_ms = 50;
  c.retry_max_ms = 200;
  FieldSchema schema({"rotation"});
  {
    InfluxSink sink(c, schema);
    ASSERT_TRUE(sink.Start());
    for (int i = 0; i < 95; ++i) {
      TelemetryPoint p;
      p.device = "fan-1";
      p.ts_ms = 1000 + i;
      p.columns[0] = i;
      sink.Add(Record(p));
    }
    // Once the sender has failed (InfluxDB is unreachable), Flush cannot complete.
    ASSERT_TRUE(test_support::WaitFor([&] { return sink.stats().write_failures >= 1; }));
    EXPECT_EQ(sink.Flush(std::chrono::milliseconds(0)).error(), make_error_code(errc::timeout));
    sink.Stop();
    auto st = sink.stats();
    EXPECT_EQ(st.points_added, 95u);
    EXPECT_EQ(st.points_sent, 0u);
    EXPECT_EQ(st.points_dropped, 0u);
    EXPECT_GE(st.write_failures, 1u);
  }
  // Every point is on disk, gzip'd line protocol.
  size_t lines = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string text = Gunzip(body);
    lines += static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  EXPECT_EQ(lines, 95u);
  // A new sink finds the spool.
  InfluxSink again(c, schema);
  ASSERT_TRUE(again.Start());
  EXPECT_EQ(again.stats().spool_files, 10u);
  again.Stop();
  fs::remove_all(dir);
}

TEST(InfluxSink, RejectsBadUrl) {
  InfluxConfig c;
  c.url = "ftp://example:8086";
  auto st = InfluxSink(c, FieldSchema({})).Start();
  EXPECT_EQ(st.error(), make_error_code(errc::invalid_argument));
  EXPECT_NE(st.message().find("ftp://example:8086"), std::string::npos) << st.ToString();
}

// Schema, precision and synchronous are names the loader checks; the rest is Validate's.
TEST(InfluxSink, ConfigIsCheckedWhenLoaded) {
  StoreConfig c;
  EXPECT_EQ(test_support::LoadProblems(
                "synchronous: fast\ninflux:\n  enabled: true\n  schema: telegraph\n  precision: "
                "minutes\n  measurement: \"\"\n  batch_max_points: 0\n",
                "s.yaml", config::DescriberFor(c)),
            (std::vector<std::string>{
                "synchronous: must be off, normal or full, got `fast` (s.yaml:1)",
                "influx.schema: must be aiot or telegraf, got `telegraph` (s.yaml:4)",
                "influx.precision: must be ns, u, ms or s, got `minutes` (s.yaml:5)",
                "influx.batch_max_points: must be between 1 and 2147483647, got `0` "
                "(s.yaml:7)",
                "influx.measurement: must not be empty (s.yaml:6)"}));
  c = StoreConfig{};
  config::LoadYaml("synchronous: FULL\ninflux:\n  schema: telegraf\n  precision: s\n", "s.yaml",
                   config::DescriberFor(c));
  EXPECT_EQ(c.synchronous, Synchronous::kFull);
  EXPECT_EQ(c.influx.schema, InfluxSchema::kTelegraf);
  EXPECT_EQ(c.influx.precision, InfluxPrecision::kS);
}

TEST(InfluxSink, DatabaseDefaultsToTheSchemas) {
  InfluxConfig c;
  EXPECT_EQ(InfluxDatabase(c), "aiot");  // unchanged for existing users
  c.schema = InfluxSchema::kTelegraf;
  EXPECT_EQ(InfluxDatabase(c), "fan");  // the reference's Telegraf database
  c.database = "plant7";
  EXPECT_EQ(InfluxDatabase(c), "plant7");
}

}  // namespace
}  // namespace aiot::store
