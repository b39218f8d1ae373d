// Telemetry -> anomaly through the embedded broker, aiot's predictor against the reference's
// architecture (a Python predictor calling POST /score per message), in one run:
//   1. sustained throughput (closed loop, `--window` readings in flight)
//   2. end-to-end latency at a fixed rate (`--rate`, default 20,000 msgs/s)
//   3. the reference architecture's throughput on the same broker and scoring API
//   4. POST /score requests/s under wrk
// Prints a Markdown table. Every client reaches the broker in-process except the Python predictor
// (TCP, as it would in a deployment).
#include <utility>  // before asio

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "mqtt/broker/broker_server.h"
#include "mqtt/broker/inproc_transport.h"
#include "mqtt/client/client.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "services/predictor.h"
#include "services/scoring_api.h"
#include "services/test_models.h"
#include "services/tflite_model.h"

extern char** environ;

namespace {

using namespace aiot;
using SteadyClock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

// A reading's time as devices send it (RFC 3339, UTC). For the latency run it carries our send
// time: the steady clock's nanoseconds as a time after the epoch, with all nine digits, which the
// predictor copies into the anomaly and SentAt() reads back.
std::string TimeText(int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000);
}

std::string Reading(int device, double sound, std::string_view ts) {
  return fmt::format(
      R"({{"deviceID":"fan-{:04}","timeStamp":"{}","rotation":612.3,"temperature":41.2,)"
      R"("vibration":152.7,"sound":{:.1f}}})",
      device, ts, sound);
}

struct Args {
  int count = 300000;
  int window = 20000;
  int rate = 20000;
  int seconds = 5;
  int reference_count = 3000;
  int wrk_seconds = 10;
  std::string source_dir = ".";
};

std::shared_ptr<mqtt::Client> MakeClient(boost::asio::io_context& io, const std::string& id,
                                         mqtt::TransportFactory f) {
  mqtt::MqttClientConfig c;
  c.url = "inproc://";
  c.client_id = id;
  c.offline_queue_limit = 200000;
  return mqtt::Client::Create(io, c, std::move(f));
}

void StopClient(const std::shared_ptr<mqtt::Client>& c) {
  std::promise<void> p;
  c->Stop([&p] { p.set_value(); });
  p.get_future().wait_for(std::chrono::seconds(10));
}

bool WaitConnected(const std::shared_ptr<mqtt::Client>& c) {
  auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (c->state() != mqtt::ConnectionState::kConnected) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Publishes with retry when the client's queue is full.
void PublishRetry(mqtt::Client& c, const std::string& topic, const mqtt::SharedBytes& bytes) {
  while (!c.Publish(topic, bytes).ok()) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1e6;
}

// Reads the timeStamp field of an anomaly (our send time in ns, see TimeText).
int64_t SentAt(std::string_view payload) {
  constexpr std::string_view kKey = "\"timeStamp\":\"";
  size_t at = payload.find(kKey);
  if (at == std::string_view::npos) return 0;
  at += kKey.size();
  const size_t end = payload.find('"', at);
  int64_t v = 0;
  if (end == std::string_view::npos || !aiot::ParseTimestamp(payload.substr(at, end - at), &v)) {
    return 0;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--count")
      a.count = v;
    else if (k == "--window")
      a.window = v;
    else if (k == "--rate")
      a.rate = v;
    else if (k == "--seconds")
      a.seconds = v;
    else if (k == "--reference-count")
      a.reference_count = v;
    else if (k == "--wrk-seconds")
      a.wrk_seconds = v;
    else if (k == "--source-dir")
      a.source_dir = argv[i + 1];
  }
  log::LogConfig lc;
  lc.level = "warn";
  log::Init(lc);

  const std::string dir = std::filesystem::temp_directory_path() / "aiot-predictor-bench";
  std::filesystem::create_directories(dir);
  const std::string model_path = dir + "/fan-int8.tflite";
  if (!services::testing::WriteFanTflite(model_path, "fan-mlp", 0.5f, 55.0f, true).ok()) {
    std::fprintf(stderr, "cannot write the model\n");
    return 1;
  }

  net::Runtime runtime(2);
  metrics::Registry registry;
  mqtt::broker::BrokerConfig bc;
  bc.listeners = {"127.0.0.1:0"};
  bc.max_queued_messages = 0;
  bc.sys_interval = 0;
  mqtt::broker::BrokerServer broker(bc, registry, runtime.contexts());
  runtime.Start();
  if (Status s = broker.Start(); !s.ok()) {
    std::fprintf(stderr, "broker: %s\n", s.ToString().c_str());
    return 1;
  }
  auto inproc = mqtt::broker::MakeInprocFactory(broker.broker());

  services::ModelHolder models;
  services::PredictorConfig pc;
  pc.model = model_path;
  pc.model_name = "fan-mlp@1";
  pc.max_batch = 64;
  mqtt::MqttClientConfig mc;
  mc.url = "inproc://";
  mc.client_id = "predictor";
  mc.offline_queue_limit = 1000000;
  services::Predictor predictor(pc, mc, runtime.context(0), models, services::MakeTfliteLoader(),
                                registry, SystemClock::Instance(), inproc);
  if (!predictor.Start().ok()) return 1;

  // Consumer of fan/anomaly: counts and records latency (timeStamp carries the send time).
  std::atomic<int64_t> received{0};
  std::vector<int64_t> latencies;
  std::atomic<bool> record{false};
  std::mutex lat_mu;
  auto consumer = MakeClient(runtime.context(1), "consumer", inproc);
  consumer->Subscribe("fan/anomaly", mqtt::QoS::kAtMostOnce, [&](const mqtt::Message& m) {
    if (record.load(std::memory_order_relaxed)) {
      int64_t sent = SentAt(m.payload.view());
      std::lock_guard lock(lat_mu);
      latencies.push_back(NowNs() - sent);
    }
    received.fetch_add(1, std::memory_order_relaxed);
  });
  consumer->Start();
  auto publisher = MakeClient(runtime.context(1), "fleet", inproc);
  publisher->Start();
  if (!WaitConnected(consumer) || !WaitConnected(publisher) || !WaitConnected(predictor.client())) {
    std::fprintf(stderr, "clients did not connect\n");
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // SUBACKs

  // Pre-rendered payloads, shared rather than copied per publish (the fleet's cost is not the
  // predictor's: a real fleet does not run on the predictor's cores).
  std::vector<mqtt::SharedBytes> payloads;
  payloads.reserve(4096);
  for (int i = 0; i < 4096; ++i)
    payloads.emplace_back(
        Reading(i % 1000, 45 + i % 20, TimeText(1'764'590'400'000'000'000 + i * 1'000'000'000LL)));

  // Warm-up.
  for (int i = 0; i < 2000; ++i) PublishRetry(*publisher, "fan/messages", payloads[i % 4096]);
  while (received.load() < 2000) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  // 1. Sustained throughput, closed loop.
  received = 0;
  const double cpu0 = CpuSeconds();
  auto t0 = SteadyClock::now();
  for (int sent = 0; sent < a.count; ++sent) {
    // Window full: sleep rather than spin, so the generator does not take a core from the
    // pipeline (a sleep of ~0.1 ms is a few readings out of `window` in flight).
    while (sent - received.load(std::memory_order_relaxed) >= a.window) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    PublishRetry(*publisher, "fan/messages", payloads[sent % 4096]);
  }
  auto deadline = SteadyClock::now() + std::chrono::seconds(60);
  while (received.load() < a.count && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const int64_t got = received.load();
  const double throughput = got / secs;
  // CPU time of the whole process (fleet, broker, predictor, consumer) per reading: the cost,
  // whatever share of the cores the machine's other work leaves us.
  const double cpu_us = (CpuSeconds() - cpu0) * 1e6 / std::max<int64_t>(got, 1);

  // 2. Latency at a fixed rate.
  received = 0;
  latencies.reserve(static_cast<size_t>(a.rate) * a.seconds + 16);
  record = true;
  const int total = a.rate * a.seconds;
  const int64_t interval = 1'000'000'000LL / a.rate;
  const int64_t start = NowNs();
  for (int i = 0; i < total; ++i) {
    // Sleep until the reading is due (the timer wakes a little late, so readings go out in small
    // bursts, each stamped when sent). Spinning through each 50 us slot took a core from the
    // pipeline on this 2-core machine.
    const int64_t due = start + i * interval;
    if (due - NowNs() > 0) {
      std::this_thread::sleep_until(SteadyClock::time_point(std::chrono::nanoseconds(due)));
    }
    PublishRetry(*publisher, "fan/messages",
                 mqtt::SharedBytes(Reading(i % 1000, 45 + i % 20, TimeText(NowNs()))));
  }
  deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (received.load() < total && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double achieved_rate = total / ((NowNs() - start) / 1e9);
  record = false;
  std::vector<int64_t> lat;
  {
    std::lock_guard lock(lat_mu);
    lat = latencies;
  }
  const double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99),
               p999 = Percentile(lat, 0.999);
  const size_t lat_n = lat.size();

  // 3. The reference architecture: python predictor + POST /score per message.
  net::Router router;
  services::RegisterScoringRoutes(router, models, pc.thresholds);
  net::HttpServerConfig hc;
  hc.listen = "127.0.0.1:0";
  net::HttpServer http(hc, runtime, router, registry);
  if (!http.Start().ok()) return 1;
  double ref_throughput = 0;
  int64_t ref_got = 0;
  {
    std::string python = "/usr/bin/python3",
                script = a.source_dir + "/tests/services/reference_predictor.py";
    std::vector<std::string> env = {
        "MQTT_HOST=127.0.0.1",
        fmt::format("MQTT_PORT={}", broker.ports()[0]),
        "MQTT_DEV_TOPIC=fan/messages",
        "MQTT_PREDICT_TOPIC=fan/anomaly",
        fmt::format("SCORING_URL=http://127.0.0.1:{}/score", http.port()),
        "PATH=/usr/bin:/bin"};
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> args = {python.data(), script.data(), nullptr};
    pid_t pid;
    posix_spawn(&pid, python.c_str(), nullptr, nullptr, args.data(), envp.data());
    // The aiot predictor is still subscribed: stop it so only the reference answers.
    predictor.Stop();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    received = 0;
    // Probe until the script answers.
    deadline = SteadyClock::now() + std::chrono::seconds(60);
    while (received.load() == 0 && SteadyClock::now() < deadline) {
      PublishRetry(*publisher, "fan/messages", payloads[0]);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    received = 0;
    const int window = 200;  // the reference's broker queue would otherwise grow without bound
    t0 = SteadyClock::now();
    for (int sent = 0; sent < a.reference_count; ++sent) {
      while (sent - received.load() >= window)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      PublishRetry(*publisher, "fan/messages", payloads[sent % 4096]);
    }
    deadline = SteadyClock::now() + std::chrono::seconds(120);
    while (received.load() < a.reference_count && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ref_got = received.load();
    ref_throughput = ref_got / std::chrono::duration<double>(SteadyClock::now() - t0).count();
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }

  // 4. POST /score under wrk.
  std::string wrk_out;
  {
    const std::string lua = dir + "/score.lua";
    FILE* f = std::fopen(lua.c_str(), "w");
    std::fputs(
        "wrk.method = \"POST\"\nwrk.body = '{\"params\":[612.3,41.2,152.7,58.1]}'\n"
        "wrk.headers[\"Content-Type\"] = \"application/json\"\n",
        f);
    std::fclose(f);
    std::string cmd = fmt::format("wrk -t2 -c64 -d{}s --latency -s {} http://127.0.0.1:{}/score",
                                  a.wrk_seconds, lua, http.port());
    FILE* p = popen(cmd.c_str(), "r");
    char buf[512];
    while (p && std::fgets(buf, sizeof buf, p)) wrk_out += buf;
    if (p) pclose(p);
  }
  double wrk_rps = 0;
  std::string wrk_p99 = "?";
  if (auto at = wrk_out.find("Requests/sec:"); at != std::string::npos) {
    wrk_rps = std::atof(wrk_out.c_str() + at + 13);
  }
  if (auto at = wrk_out.find("99%"); at != std::string::npos) {
    size_t b = wrk_out.find_first_not_of(' ', at + 3);
    wrk_p99 = wrk_out.substr(b, wrk_out.find('\n', b) - b);
  }
  http.Stop();

  std::printf("| measurement | figure |\n|---|---|\n");
  std::printf(
      "| aiot sustained telemetry->anomaly (%d readings, window %d) | %.0f msgs/s (%lld/%d "
      "results; %.1f us CPU per reading, all threads) |\n",
      a.count, a.window, throughput, static_cast<long long>(got), a.count, cpu_us);
  std::printf(
      "| aiot latency at %d msgs/s offered (%.0f achieved), %zu results | p50 %.2f ms, p99 %.2f "
      "ms, p99.9 %.2f ms |\n",
      a.rate, achieved_rate, lat_n, p50, p99, p999);
  std::printf(
      "| reference architecture (python paho predictor, POST /score per message; %d readings) | "
      "%.0f msgs/s (%lld/%d results) |\n",
      a.reference_count, ref_throughput, static_cast<long long>(ref_got), a.reference_count);
  std::printf("| ratio aiot / reference throughput | %.0fx |\n",
              ref_throughput > 0 ? throughput / ref_throughput : 0.0);
  std::printf("| POST /score under wrk -t2 -c64 -d%ds | %.0f req/s (p99 %s) |\n", a.wrk_seconds,
              wrk_rps, wrk_p99.c_str());

  StopClient(publisher);
  StopClient(consumer);
  broker.Stop();
  runtime.Stop();
  runtime.Join();
  std::filesystem::remove_all(dir);
  return 0;
}
