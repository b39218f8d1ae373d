// Telemetry store vs InfluxDB 1.6 on the same machine, same batches, same run.
//
//   store_vs_influx [--devices 8] [--seconds 86400] [--batch 5000] [--repeat 30]
//
// Ingest: D devices x S seconds of 1 Hz telemetry (4 fields), written in batches of B points:
//   - aiot store from parsed records (WriteBatch; one transaction per batch), synchronous=normal
//     and synchronous=full;
//   - aiot store from the JSON messages (Ingest = simdjson parse + queue), synchronous=normal;
//   - influxd 1.6 (Debian) via POST /write with the same points as line protocol, one request per
//     batch, keep-alive, sequential (as a Telegraf output would).
// Query: one device's day in 1-minute buckets (mean of the 4 fields): the store with rollups,
// the store from raw rows only, and InfluxDB's GROUP BY time(1m). Median and p95 of R runs.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "influxd.h"
#include "net/http_client.h"
#include "store/line_protocol.h"
#include "store/telemetry_store.h"

using namespace aiot;
using namespace aiot::store;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

struct Stats {
  double median_ms, p95_ms;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 95 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 8, seconds = 86400, batch = 5000, repeat = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::stoi(argv[i + 1]);
    if (k == "--devices")
      devices = v;
    else if (k == "--seconds")
      seconds = v;
    else if (k == "--batch")
      batch = v;
    else if (k == "--repeat")
      repeat = v;
  }
  log::LogConfig lc;
  lc.level = "warn";
  log::Init(lc);
  const FieldSchema schema({"rotation", "temperature", "vibration", "sound"});
  const int64_t day_start = 1'795'305'600'000;  // 2026-11-22T00:00:00Z
  const size_t total = static_cast<size_t>(devices) * seconds;

  // The same points for everyone, ordered as devices report them (all devices each second).
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<TelemetryPoint> points;
  points.reserve(total);
  for (int s = 0; s < seconds; ++s) {
    for (int d = 0; d < devices; ++d) {
      TelemetryPoint p;
      p.device = fmt::format("fan-{:04}", d);
      p.ts_ms = day_start + s * 1000LL;
      p.columns[0] = std::round((500 + 200 * u(rng)) * 10) / 10;
      p.columns[1] = std::round((35 + 10 * u(rng)) * 10) / 10;
      p.columns[2] = std::round((100 + 100 * u(rng)) * 10) / 10;
      p.columns[3] = std::round((45 + 7 * u(rng)) * 10) / 10;
      points.push_back(std::move(p));
    }
  }
  std::vector<std::string> bodies;             // line protocol per batch
  std::vector<std::vector<std::string>> json;  // JSON messages per batch
  for (size_t i = 0; i < total; i += batch) {
    std::string body;
    std::vector<std::string> msgs;
    for (size_t j = i; j < std::min(total, i + batch); ++j) {
      const auto& p = points[j];
      AppendTelemetryLine(body, "fan", schema, p, 1, 1);
      msgs.push_back(fmt::format(
          R"({{"deviceID":"{}","timeStamp":"{}","rotation":{},"temperature":{},"vibration":{},"sound":{}}})",
          p.device, FormatTimestamp(p.ts_ms * 1000000), p.columns[0], p.columns[1], p.columns[2],
          p.columns[3]));
    }
    bodies.push_back(std::move(body));
    json.push_back(std::move(msgs));
  }
  double loadavg[3] = {0, 0, 0};
  getloadavg(loadavg, 3);
  std::printf("store_vs_influx: %d devices x %d s at 1 Hz = %zu points, batches of %d; load %.2f\n",
              devices, seconds, total, batch, loadavg[0]);

  fs::path dir = fs::temp_directory_path() / fmt::format("aiot-store-bench-{}", ::getpid());
  fs::create_directories(dir);
  ManualClock clock(day_start * 1000000 + 86400LL * 1000000000);

  auto open_store = [&](const std::string& name, const std::string& sync) {
    StoreConfig c;
    c.path = (dir / name).string();
    c.synchronous = sync == "full" ? store::Synchronous::kFull : store::Synchronous::kNormal;
    c.batch_max_records = batch;
    c.queue_capacity = batch * 4;
    c.rollup_interval_ms = 3600 * 1000;  // rollups only when asked (measured separately)
    auto s = TelemetryStore::Open(c, clock);
    if (!s) {
      std::fprintf(stderr, "open failed\n");
      std::exit(1);
    }
    return std::move(*s);
  };

  struct Row {
    std::string what;
    double secs;
  };
  std::vector<Row> rows;
  std::unique_ptr<TelemetryStore> query_store;
  for (std::string sync : {"normal", "full"}) {
    auto store = open_store("records-" + sync + ".db", sync);
    auto t0 = Steady::now();
    size_t i = 0;
    for (size_t b = 0; b < bodies.size(); ++b) {
      std::vector<Record> recs;
      recs.reserve(batch);
      for (size_t j = 0; j < static_cast<size_t>(batch) && i < total; ++j)
        recs.emplace_back(points[i++]);
      (void)store->WriteBatch(std::move(recs));
    }
    (void)store->Flush();
    rows.push_back({fmt::format("aiot store, parsed records, synchronous={}", sync),
                    Seconds(Steady::now() - t0)});
    if (sync == "normal") query_store = std::move(store);
  }
  {
    auto store = open_store("json.db", "normal");
    auto t0 = Steady::now();
    for (const auto& msgs : json) {
      for (const auto& m : msgs) {
        while (!store->Ingest("fan/messages", m)) std::this_thread::yield();  // queue full: wait
      }
    }
    (void)store->Flush();
    rows.push_back(
        {"aiot store, JSON messages (simdjson parse + write)", Seconds(Steady::now() - t0)});
  }

  testing::Influxd influxd;
  bool have_influx = testing::Influxd::Available() && influxd.Start();
  if (have_influx) {
    net::HttpClientOptions options;
    options.timeout = std::chrono::seconds(60);
    auto client = std::make_unique<net::HttpClient>(influxd.url(), options);
    (void)client->Call("POST", "/query?q=" + net::HttpClient::Escape("CREATE DATABASE bench"));
    auto t0 = Steady::now();
    for (const auto& body : bodies) {
      auto r = client->Call("POST", "/write?db=bench&precision=ms", body, {},
                            "text/plain; charset=utf-8");
      if (!r || r->status != 204) {
        std::fprintf(stderr, "influx write failed\n");
        return 1;
      }
    }
    rows.push_back(
        {"InfluxDB 1.6 /write, line protocol, same batches", Seconds(Steady::now() - t0)});
    double n = influxd.Scalar("bench", "SELECT count(rotation) FROM fan");
    if (n != static_cast<double>(total)) std::fprintf(stderr, "influx has %.0f points\n", n);
  } else {
    std::printf("(influxd not available: no peer row)\n");
  }

  std::printf("\n%-58s %10s %14s %8s\n", "ingest", "seconds", "points/s", "ratio");
  double influx_rate = 0;
  for (const auto& r : rows) {
    if (r.what.rfind("InfluxDB", 0) == 0) influx_rate = total / r.secs;
  }
  for (const auto& r : rows) {
    double rate = total / r.secs;
    std::printf("%-58s %10.2f %14.0f %8s\n", r.what.c_str(), r.secs, rate,
                influx_rate > 0 ? fmt::format("{:.2f}x", rate / influx_rate).c_str() : "-");
  }

  // Query: one device, one day, 1-minute buckets, mean of the four fields.
  SeriesQuery q;
  q.from_ms = day_start;
  q.to_ms = day_start + 86400LL * 1000;
  const std::string query_device = fmt::format("fan-{:04}", devices > 3 ? 3 : 0);
  q.devices = {query_device};
  q.fields = {"rotation", "temperature", "vibration", "sound"};
  q.bucket_ms = 60000;
  auto time_query = [&](TelemetryStore& s, bool expect_rollups) {
    std::vector<double> ms;
    for (int i = 0; i < repeat; ++i) {
      auto t0 = Steady::now();
      auto r = s.Query(q);
      std::string json_out = FormatSeriesJson(*r);
      ms.push_back(Seconds(Steady::now() - t0) * 1000);
      if (!r || r->used_rollups != expect_rollups || r->series.size() != 4 ||
          r->series[0].values.size() != 1440) {
        std::fprintf(stderr, "unexpected query result\n");
        std::exit(1);
      }
    }
    return Summarize(ms);
  };
  Stats raw = time_query(*query_store, false);
  auto t0 = Steady::now();
  (void)query_store->RunMaintenance();
  double rollup_s = Seconds(Steady::now() - t0);
  Stats rolled = time_query(*query_store, true);
  std::printf("\n%-58s %10s %10s\n", "query: 1 device, 1 day, 1-minute buckets, 4 fields",
              "median ms", "p95 ms");
  std::printf("%-58s %10.2f %10.2f\n", "aiot store, rollups (incl. JSON encoding)",
              rolled.median_ms, rolled.p95_ms);
  std::printf("%-58s %10.2f %10.2f\n", "aiot store, raw rows only (rollup not yet run)",
              raw.median_ms, raw.p95_ms);
  if (have_influx) {
    net::HttpClientOptions options;
    options.timeout = std::chrono::seconds(60);
    auto client = std::make_unique<net::HttpClient>(influxd.url(), options);
    std::string iq = fmt::format(
        "SELECT mean(rotation),mean(temperature),mean(vibration),mean(sound) FROM fan WHERE "
        "deviceID='{}' AND time >= {}ms AND time < {}ms GROUP BY time(1m)",
        query_device, q.from_ms, q.to_ms);
    std::vector<double> ms;
    for (int i = 0; i < repeat; ++i) {
      auto t1 = Steady::now();
      auto r = client->Get("/query?db=bench&epoch=ms&q=" + net::HttpClient::Escape(iq));
      ms.push_back(Seconds(Steady::now() - t1) * 1000);
      if (!r || r->status != 200) return 1;
    }
    Stats s = Summarize(ms);
    std::printf("%-58s %10.2f %10.2f\n", "InfluxDB 1.6 GROUP BY time(1m) (HTTP, same machine)",
                s.median_ms, s.p95_ms);
  }
  std::printf("(rolling up %zu points took %.2f s)\n", total, rollup_s);
  query_store.reset();
  influxd.Stop();
  fs::remove_all(dir);
  return 0;
}
