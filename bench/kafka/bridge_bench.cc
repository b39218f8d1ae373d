// MQTT -> Kafka throughput and latency at QoS 1, through `aiot bridge` and through the Python
// bridge (python_bridge.py) in the same run: mosquitto as the broker, librdkafka's mock cluster in
// this process; and (`aiot-broker`) through the bridge inside `aiot broker` (bridge.enabled, the
// publisher connected to it, PUBACK after Kafka's delivery report), the deployment that counts. A
// `publishers` MQTT clients (a fleet: one window of unacknowledged messages each) send `count`
// messages of `size` bytes between them (QoS `qos`, topic bench/d<i % max(16, publishers)>, the
// send time in the payload) at the maximum rate (each keeping up to `window` unacknowledged) or at
// `rate` msg/s in total; a Kafka consumer in this process reads them back. Latency is publish ->
// read back from Kafka, an upper bound of publish -> Kafka ack (it adds the consumer's fetch).
// `--set k=v` (repeatable) is passed to both aiot bridges (e.g. broker.receive_maximum=1000,
// bridge.kafka.linger.ms=5). Also printed: publish -> PUBACK at the publishers (for `aiot-broker`
// the PUBACK follows Kafka's delivery report: the device's view of publish -> Kafka ack; behind
// mosquitto it is mosquitto's own ack). `--only producer` is the floor: no MQTT, one librdkafka
// producer in this process (idempotent, acks=all, linger.ms 1 as the bridge's) producing `count`
// records at `rate` into the same mock cluster; its "PUBACK" column is produce -> delivery report.
// `--http-port P` (aiot-broker): the bridge's own delivery-latency histogram is printed (stderr).
// `--producer-set k=v` (repeatable): a librdkafka property of the `producer` run's producer (e.g.
// linger.ms=5, batch.size=16384); `--mock-brokers N`: brokers of the mock cluster (3).
// Environment AIOT_BENCH_BIN: the aiot binary to run (default this build's), e.g. a copy of
// main's for before/after in one sitting, or a script running it under valgrind --tool=callgrind.
//
//   kafka_bridge_bench [--size 64] [--count 200000] [--rate 0] [--python-count 3000]
//                      [--publishers 1] [--window 1000] [--qos 1] [--set k=v]...
//                      [--only aiot|aiot-broker|python|producer] [--fsync interval|always|never]
//                      [--http-port P] [--producer-set k=v]... [--mock-brokers 3]
//                      [--read-back during|after] [--mock-nice 0] [--partitions 4]
//                      [--tick-ms 0]
// `--read-back after` (aiot-broker only; its PUBACK follows Kafka's delivery report): the consumer
// reads everything back once the run is over (the loss and duplicate check), and msg/s is count /
// (last PUBACK - first publish): the bridge's at-least-once throughput without a consumer sharing
// the cores. `--mock-nice N`: the nice value of the mock cluster's threads (e.g. -10: brokers not
// preempted by the load generator, as Kafka on its own machines).
#include <utility>  // before asio (Boost 1.74 + g++ 12)

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kafka/client.h"
#include "kafka/mock_cluster.h"
#include "mqtt/client/bench/latency_histogram.h"
#include "mqtt/client/client.h"
#include "mqtt/client/test_util.h"

namespace aiot {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  size_t size = 64;
  int count = 200000;
  int rate = 0;  // msg/s; 0 = as fast as the bridge takes them
  int python_count = 3000;
  std::string only;
  std::string fsync = "interval";  // bridge.buffer.fsync of the aiot bridges
  int publishers = 1;
  int window = 1000;  // unacknowledged messages per publisher, at most (max rate)
  int qos = 1;
  std::vector<std::string> sets;  // --set k=v for the aiot bridges
  int http_port = 0;              // aiot-broker serves /metrics there (watching a run)
  std::vector<std::pair<std::string, std::string>> producer_sets;  // --producer-set (producer)
  int mock_brokers = 3;                                            // --mock-brokers
  // --read-back after (aiot-broker, producer): the Kafka consumer reads every record back only
  // once the run is over (the check: none missing, duplicates counted); throughput is then
  // count / (last PUBACK - first publish), the PUBACK following Kafka's delivery report.
  // `during` (default): read back while publishing (latency publish -> read back; the consumer
  // and the mock cluster's fetches share the 2 cores with the bridge).
  bool read_back_after = false;
  // --mock-nice N: nice value of the mock cluster's thread (rdk:mock), e.g. -10: Kafka's brokers
  // not preempted by the load generator, as on their own machines (0 = unchanged).
  int mock_nice = 0;
  // --partitions N: of the topic aiot.bench. The mock cluster keeps at most 5 MB per partition
  // (older batches are deleted): reading back after a run of more than ~4 x 5 MB of records needs
  // more partitions, or the check reports deleted records as missing.
  int partitions = 4;
  // --tick-ms T (with --rate): each publisher wakes at most every T ms and sends what is due
  // (0: at each message's own time, a wake-up per message: 20,000 a second at --rate 20000).
  int tick_ms = 0;
};

struct Result {
  std::string bridge;
  int count = 0;
  double seconds = 0;
  uint64_t p50_us = 0, p99_us = 0, max_us = 0;
  uint64_t ack_p50_us = 0, ack_p99_us = 0;  // publish -> PUBACK (producer: -> delivery report)
  int64_t last_ack_ns = 0;                  // the last PUBACK (delivery report)
  bool read_back_after = false;             // read back once the run was over: no read-back latency
  size_t duplicates = 0;
  double cpu_s = 0;  // CPU time (user + system) of the bridge process over the whole run
  std::string load;  // the 1-minute load average at the end of the run
};

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

// User + system CPU seconds of a running child, from /proc/<pid>/stat (fields 14 and 15).
double CpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// --mock-nice: the nice value of this process's rdk:mock threads (the mock cluster's brokers).
void ReniceMockThreads(int nice) {
  if (nice == 0) return;
  int found = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "rdk:mock") continue;
    const auto tid = static_cast<id_t>(std::stol(task.path().filename().string()));
    if (::setpriority(PRIO_PROCESS, tid, nice) != 0) {
      throw std::runtime_error(
          fmt::format("setpriority({}, {}): {}", tid, nice, std::strerror(errno)));
    }
    ++found;
  }
  if (found == 0) throw std::runtime_error("--mock-nice: no rdk:mock thread found");
}

pid_t Spawn(std::vector<std::string> argv) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    ::execv(c[0], c.data());
    std::_Exit(127);
  }
  return pid;
}

// Publishes `count` messages from `o.publishers` clients, message i from publisher i % n (max
// rate: each keeps up to o.window unacknowledged; else paced, o.rate in total). Every client is
// connected before the first message.
void Publish(const std::string& url, const Options& o, int count, Result* r) {
  const int n = std::max(1, o.publishers);
  const int devices = std::max(16, n);
  mqtt::testing::IoThread io;
  std::vector<std::shared_ptr<mqtt::Client>> clients;
  std::atomic<int> connected{0};
  for (int p = 0; p < n; ++p) {
    mqtt::MqttClientConfig cfg;
    cfg.url = url;
    cfg.client_id = fmt::format("bench-publisher-{}", p);
    cfg.offline_queue_limit = static_cast<uint32_t>(o.window) + 1000;
    auto c = mqtt::Client::Create(io.io(), cfg);
    c->SetConnectionHandler([&](const mqtt::ConnectionEvent& e) {
      if (e.state == mqtt::ConnectionState::kConnected) connected++;
    });
    c->Start();
    clients.push_back(std::move(c));
  }
  const int64_t connect_deadline = NowNs() + int64_t{60} * 1000000000;
  while (connected.load() < n && NowNs() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::atomic<int> acked{0};
  std::atomic<int64_t> last_ack{0};
  std::vector<std::thread> threads;
  std::vector<mqtt::bench::LatencyHistogram> ack_hists(n);  // one per publisher (its io thread)
  for (int p = 0; p < n; ++p) {
    threads.emplace_back([&, p] {
      const auto start = Clock::now();
      // The window waits on a condition, not a polling sleep (16 threads polling every 50 µs
      // took more CPU than the bridge).
      std::mutex mu;
      std::condition_variable cv;
      int mine_acked = 0;  // guarded by mu
      int mine = 0;
      for (int i = p; i < count; i += n, ++mine) {
        if (o.rate > 0) {
          // --tick-ms T: a publisher whose next message is due sleeps T ms past it, then sends
          // everything due (one wake-up per T ms, not per message; the send time is taken when
          // sent, so the latency is not inflated by the wait).
          const auto due = start + std::chrono::nanoseconds(int64_t{1000000000} * i / o.rate);
          if (Clock::now() < due) {
            std::this_thread::sleep_until(due + std::chrono::milliseconds(o.tick_ms));
          }
        }
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return mine - mine_acked < o.window; });
        }
        const int64_t sent = NowNs();
        std::string payload = fmt::format("{} {} ", sent, i);
        if (payload.size() < o.size) payload.append(o.size - payload.size(), 'x');
        (void)clients[p]->Publish(
            fmt::format("bench/d{}", i % devices), payload, {.qos = static_cast<mqtt::QoS>(o.qos)},
            [&, sent](std::error_code) {
              acked++;
              const int64_t now = NowNs();
              for (int64_t last = last_ack.load();
                   last < now && !last_ack.compare_exchange_weak(last, now);) {
              }
              std::lock_guard lock(mu);
              ack_hists[p].Record(static_cast<uint64_t>(now - sent) / 1000);
              ++mine_acked;
              cv.notify_one();
            });
      }
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return mine_acked == mine; });
    });
  }
  std::atomic<bool> published{false};
  std::thread progress([&] {  // a run that stalls says where
    int64_t next = NowNs() + int64_t{5} * 1000000000;
    while (!published) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (NowNs() < next) continue;
      next += int64_t{5} * 1000000000;
      std::cerr << fmt::format("publishers: {} of {} connected, {} of {} acknowledged\n",
                               connected.load(), n, acked.load(), count);
    }
  });
  for (auto& t : threads) t.join();
  published = true;
  progress.join();
  mqtt::bench::LatencyHistogram all;
  for (const auto& h : ack_hists) all.Merge(h);
  r->ack_p50_us = all.Percentile(50);
  r->ack_p99_us = all.Percentile(99);
  r->last_ack_ns = last_ack.load();
  for (auto& c : clients) {
    std::promise<void> stopped;
    c->Stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
  }
}

Result RunOne(const std::string& bridge, const Options& o, int count) {
  mqtt::testing::Mosquitto mosquitto(0, "max_queued_messages 0\nmax_inflight_messages 1000\n");
  std::string url;
  if (bridge != "aiot-broker") {
    if (!mosquitto.Start()) throw std::runtime_error("mosquitto did not start");
    url = mosquitto.url();
  }
  auto cluster = kafka::testing::MockCluster::Start(o.mock_brokers);
  if (!cluster.ok()) throw std::runtime_error(cluster.status().message());
  (void)(*cluster)->CreateTopic("aiot.bench", o.partitions);
  ReniceMockThreads(o.mock_nice);
  const std::string dir = fmt::format("/tmp/aiot-bridge-bench-{}", ::getpid());
  std::filesystem::remove_all(dir);
  pid_t pid;
  // AIOT_BENCH_BIN: another aiot binary (a copy of main's, for before/after in one sitting; a
  // script that execs valgrind) instead of this build's.
  const char* env_bin = std::getenv("AIOT_BENCH_BIN");
  const std::string aiot_bin = env_bin != nullptr && *env_bin != '\0' ? env_bin : AIOT_BIN;
  if (bridge == "aiot") {
    std::vector<std::string> argv = {aiot_bin, "--log-level", "warn", "--set",
                                     "bridge.buffer.fsync=" + o.fsync};
    for (const auto& kv : o.sets) argv.insert(argv.end(), {"--set", kv});
    argv.insert(argv.end(),
                {"bridge", "--mqtt", mosquitto.url(), "--kafka", (*cluster)->bootstraps(), "--map",
                 "bench/+ -> aiot.bench key={1}", "--to-mqtt", "none", "--buffer-dir", dir,
                 "--client-id", "bench-bridge"});
    pid = Spawn(std::move(argv));
  } else if (bridge == "aiot-broker") {
    const int port = mqtt::testing::FreePort();
    url = fmt::format("tcp://127.0.0.1:{}", port);
    std::vector<std::string> argv = {aiot_bin,
                                     "--log-level",
                                     "warn",
                                     "--set",
                                     fmt::format("broker.listeners=[127.0.0.1:{}]", port),
                                     "--set",
                                     "bridge.enabled=true",
                                     "--set",
                                     "bridge.bootstrap_servers=" + (*cluster)->bootstraps(),
                                     "--set",
                                     "bridge.buffer.dir=" + dir,
                                     "--set",
                                     "bridge.buffer.fsync=" + o.fsync,
                                     "--set",
                                     R"(bridge.mappings=["bench/+ -> aiot.bench key={1}"])",
                                     "--set",
                                     "bridge.kafka_to_mqtt=[]"};
    for (const auto& kv : o.sets) argv.insert(argv.end(), {"--set", kv});
    argv.push_back("broker");
    if (o.http_port > 0)
      argv.insert(argv.end(), {"--http", fmt::format("127.0.0.1:{}", o.http_port)});
    pid = Spawn(std::move(argv));
  } else {
    pid = Spawn({"/usr/bin/python3", PYTHON_BRIDGE, "--mqtt-port", std::to_string(mosquitto.port()),
                 "--kafka", (*cluster)->bootstraps()});
  }
  auto consumer = kafka::Consumer::Create({{"bootstrap.servers", (*cluster)->bootstraps()},
                                           {"group.id", "bench-" + bridge},
                                           {"auto.offset.reset", "earliest"},
                                           {"fetch.wait.max.ms", "5"}});
  if (!consumer.ok()) throw std::runtime_error(consumer.status().message());
  (void)(*consumer)->Subscribe({"aiot.bench"});
  // Let the bridge subscribe (its persistent session then holds everything) before publishing:
  // one probe message, published until it is read back.
  std::atomic<bool> done{false};
  std::atomic<bool> publishing_done{false};  // QoS 0 may lose some: then read until 5 s idle
  mqtt::bench::LatencyHistogram hist;
  std::set<int> seen;
  Result r;
  r.bridge = bridge;
  r.count = count;
  int64_t first_ns = 0, last_ns = 0;
  const int64_t give_up = NowNs() + int64_t{600} * 1000000000;
  const bool after = o.read_back_after && bridge == "aiot-broker";
  r.read_back_after = after;
  auto read_back = [&] {
    int64_t last_read = NowNs();
    while (!done && NowNs() < give_up) {
      auto rec = (*consumer)->Poll(100);
      if (!rec.ok() || !*rec) {
        if (publishing_done && NowNs() - last_read > int64_t{5} * 1000000000) break;
        continue;
      }
      last_read = NowNs();
      int64_t sent = 0;
      int i = -1;
      if (std::sscanf((**rec).value.c_str(), "%ld %d", &sent, &i) != 2) continue;
      if (i < 0) continue;  // the probe
      if (!seen.insert(i).second) {
        r.duplicates++;
        continue;
      }
      const int64_t now = NowNs();
      hist.Record(static_cast<uint64_t>((now - sent) / 1000));
      last_ns = now;
      if (static_cast<int>(seen.size()) == count) done = true;
    }
  };
  std::thread reader;
  if (!after) reader = std::thread(read_back);
  {
    mqtt::testing::IoThread io;
    mqtt::MqttClientConfig cfg;
    cfg.url = url;
    auto probe = mqtt::Client::Create(io.io(), cfg);
    probe->Start();
    // The bridge's subscription exists once mosquitto routes to it: the probe reaches Kafka.
    const int64_t deadline = NowNs() + int64_t{60} * 1000000000;
    std::atomic<bool> probed{false};
    std::thread watch([&] {
      auto c = kafka::Consumer::Create({{"bootstrap.servers", (*cluster)->bootstraps()},
                                        {"group.id", "probe-" + bridge},
                                        {"auto.offset.reset", "earliest"}});
      (void)(*c)->Subscribe({"aiot.bench"});
      while (!probed && NowNs() < deadline) {
        auto rec = (*c)->Poll(100);
        if (rec.ok() && *rec) probed = true;
      }
    });
    while (!probed && NowNs() < deadline) {
      (void)probe->Publish("bench/probe", fmt::format("{} -1", NowNs()),
                           {.qos = mqtt::QoS::kAtLeastOnce});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    watch.join();
    std::promise<void> stopped;
    probe->Stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
  }
  first_ns = NowNs();
  Publish(url, o, count, &r);
  publishing_done = true;
  if (after) reader = std::thread(read_back);
  reader.join();
  if (static_cast<int>(seen.size()) < count) {
    std::cerr << fmt::format("{}: only {} of {} messages reached Kafka\n", bridge, seen.size(),
                             count);
  }
  r.count = static_cast<int>(seen.size());
  r.seconds = static_cast<double>((after ? r.last_ack_ns : last_ns) - first_ns) / 1e9;
  if (!after) {  // read back after the run: its latency says nothing
    r.p50_us = hist.Percentile(50);
    r.p99_us = hist.Percentile(99);
    r.max_us = hist.max();
  }
  r.cpu_s = CpuSeconds(pid);
  r.load = LoadAverage();
  if (bridge == "aiot-broker" && o.http_port > 0) {  // the bridge's own view of the latency
    const std::string cmd = fmt::format(
        "curl -s http://127.0.0.1:{}/metrics | grep '^aiot_bridge_delivery_latency_seconds' >&2",
        o.http_port);
    (void)std::system(cmd.c_str());
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  return r;
}

// The floor: a librdkafka producer as the bridge's (idempotent, acks=all, linger.ms 1) producing
// `count` records straight into the mock cluster (max rate: up to `window` x `publishers` in
// flight; else paced at o.rate), read back by the same kind of consumer as the bridges' runs.
Result RunProducer(const Options& o, int count) {
  auto cluster = kafka::testing::MockCluster::Start(o.mock_brokers);
  if (!cluster.ok()) throw std::runtime_error(cluster.status().message());
  (void)(*cluster)->CreateTopic("aiot.bench", o.partitions);
  ReniceMockThreads(o.mock_nice);
  Result r;
  r.bridge = "producer";
  r.count = count;
  std::mutex mu;
  std::condition_variable cv;
  int delivered = 0;
  mqtt::bench::LatencyHistogram ack_hist;  // produce -> delivery report (the poll thread)
  kafka::Properties props = {{"bootstrap.servers", (*cluster)->bootstraps()}, {"linger.ms", "1"}};
  for (const auto& [k, v] : o.producer_sets) props[k] = v;
  auto producer = kafka::Producer::Create(props, [&](const kafka::DeliveryReport& d) {
    if (d.opaque == nullptr) return;  // a probe
    const auto sent = static_cast<int64_t>(reinterpret_cast<intptr_t>(d.opaque));
    ack_hist.Record(static_cast<uint64_t>(NowNs() - sent) / 1000);
    std::lock_guard lock(mu);
    ++delivered;
    cv.notify_all();
  });
  if (!producer.ok()) throw std::runtime_error(producer.status().message());
  auto consumer = kafka::Consumer::Create({{"bootstrap.servers", (*cluster)->bootstraps()},
                                           {"group.id", "bench-producer"},
                                           {"auto.offset.reset", "earliest"},
                                           {"fetch.wait.max.ms", "5"}});
  if (!consumer.ok()) throw std::runtime_error(consumer.status().message());
  (void)(*consumer)->Subscribe({"aiot.bench"});
  mqtt::bench::LatencyHistogram hist;
  std::set<int> seen;
  int64_t last_ns = 0;
  const int64_t give_up = NowNs() + int64_t{600} * 1000000000;
  std::atomic<bool> stop{false};
  std::atomic<bool> probed{false};
  std::thread reader([&] {
    while (static_cast<int>(seen.size()) < count && NowNs() < give_up) {
      auto rec = (*consumer)->Poll(100);
      if (!rec.ok() || !*rec) continue;
      int64_t sent = 0;
      int i = -1;
      if (std::sscanf((**rec).value.c_str(), "%ld %d", &sent, &i) != 2) continue;
      if (i < 0) {  // the probe: the consumer has joined its group
        probed = true;
        continue;
      }
      if (!seen.insert(i).second) {
        r.duplicates++;
        continue;
      }
      last_ns = NowNs();
      hist.Record(static_cast<uint64_t>((last_ns - sent) / 1000));
    }
  });
  std::thread poller([&] {
    while (!stop) (*producer)->Poll(1);
  });
  const int devices = std::max(16, o.publishers);
  const int window = std::max(1, o.window * std::max(1, o.publishers));
  const std::vector<kafka::Header> headers = {{"mqtt.topic", "bench/d0"}, {"mqtt.qos", "1"}};
  // As the bridges' runs: start once a probe record is read back (the consumer joined its group).
  for (const int64_t deadline = NowNs() + int64_t{60} * 1000000000;
       !probed && NowNs() < deadline;) {
    const std::string probe = fmt::format("{} -1", NowNs());
    kafka::OutRecord out;
    out.topic = "aiot.bench";
    out.value = probe;
    (void)(*producer)->Produce(out);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const auto start = Clock::now();
  const int64_t first_ns = NowNs();
  for (int i = 0; i < count; ++i) {
    if (o.rate > 0) {
      std::this_thread::sleep_until(start +
                                    std::chrono::nanoseconds(int64_t{1000000000} * i / o.rate));
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return i - delivered < window; });
    }
    const int64_t sent = NowNs();
    std::string payload = fmt::format("{} {} ", sent, i);
    if (payload.size() < o.size) payload.append(o.size - payload.size(), 'x');
    const std::string key = fmt::format("d{}", i % devices);
    kafka::OutRecord out;
    out.topic = "aiot.bench";
    out.key = key;
    out.value = payload;
    out.headers = &headers;
    out.opaque = reinterpret_cast<void*>(static_cast<intptr_t>(sent));
    while (!(*producer)->Produce(out).ok())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return delivered == count; });
  }
  stop = true;
  poller.join();
  reader.join();
  r.count = static_cast<int>(seen.size());
  r.seconds = static_cast<double>(last_ns - first_ns) / 1e9;
  r.p50_us = hist.Percentile(50);
  r.p99_us = hist.Percentile(99);
  r.max_us = hist.max();
  r.ack_p50_us = ack_hist.Percentile(50);
  r.ack_p99_us = ack_hist.Percentile(99);
  r.load = LoadAverage();
  return r;
}

int Main(int argc, char** argv) {
  Options o;
  if (argc % 2 == 0) {  // an option without its value, or --help: the usage, nothing run
    std::cerr << "usage: kafka_bridge_bench [--option value]... (the options: the comment at the "
                 "top of bench/kafka/bridge_bench.cc)\n";
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--size")
      o.size = std::stoul(v);
    else if (k == "--count")
      o.count = std::stoi(v);
    else if (k == "--rate")
      o.rate = std::stoi(v);
    else if (k == "--python-count")
      o.python_count = std::stoi(v);
    else if (k == "--only")
      o.only = v;
    else if (k == "--fsync")
      o.fsync = v;
    else if (k == "--publishers")
      o.publishers = std::stoi(v);
    else if (k == "--window")
      o.window = std::stoi(v);
    else if (k == "--qos")
      o.qos = std::stoi(v);
    else if (k == "--http-port")
      o.http_port = std::stoi(v);
    else if (k == "--set")
      o.sets.push_back(v);
    else if (k == "--producer-set" && v.find('=') != std::string::npos)
      o.producer_sets.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
    else if (k == "--mock-brokers")
      o.mock_brokers = std::stoi(v);
    else if (k == "--read-back" && (v == "during" || v == "after"))
      o.read_back_after = v == "after";
    else if (k == "--mock-nice")
      o.mock_nice = std::stoi(v);
    else if (k == "--partitions")
      o.partitions = std::stoi(v);
    else if (k == "--tick-ms")
      o.tick_ms = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  std::vector<Result> results;
  if (o.only.empty() || o.only == "aiot") results.push_back(RunOne("aiot", o, o.count));
  if (o.only.empty() || o.only == "aiot-broker") {
    results.push_back(RunOne("aiot-broker", o, o.count));
  }
  if (o.only == "producer") results.push_back(RunProducer(o, o.count));
  if (o.only.empty() || o.only == "python") {
    results.push_back(RunOne("python", o, o.python_count));
  }
  std::cout << fmt::format(
      "publishers {}, window {}, QoS {}, partitions {}, read back {}, mock nice {}, tick {} "
      "ms{}{}\n"
      "| bridge | size | rate | messages | msg/s | p50 ms | p99 ms | max ms | duplicates | "
      "bridge CPU µs/msg | PUBACK p50 ms | PUBACK p99 ms | load |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      o.publishers, o.window, o.qos, o.partitions,
      o.read_back_after ? "after (aiot-broker)" : "during", o.mock_nice, o.tick_ms,
      o.sets.empty() ? "" : ", --set ", fmt::join(o.sets, " "));
  for (const auto& r : results) {
    const auto ms = [&](uint64_t us) {  // "-": read back after the run, no latency
      return r.read_back_after ? std::string("-") : fmt::format("{:.2f}", us / 1e3);
    };
    std::cout << fmt::format(
        "| {} | {} B | {} | {} | {:.0f} | {} | {} | {} | {} | {:.1f} | {:.2f} | "
        "{:.2f} | {} |\n",
        r.bridge, o.size, o.rate ? std::to_string(o.rate) : "max", r.count, r.count / r.seconds,
        ms(r.p50_us), ms(r.p99_us), ms(r.max_us), r.duplicates,
        r.count > 0 ? r.cpu_s * 1e6 / r.count : 0.0, r.ack_p50_us / 1e3, r.ack_p99_us / 1e3,
        r.load);
  }
  const Result* python = nullptr;
  for (const auto& r : results) {
    if (r.bridge == "python" && r.seconds > 0) python = &r;
  }
  for (const auto& r : results) {
    if (python == nullptr || &r == python || r.seconds <= 0) continue;
    std::cout << fmt::format("{} / python throughput: {:.1f}x\n", r.bridge,
                             (r.count / r.seconds) / (python->count / python->seconds));
  }
  return 0;
}

}  // namespace
}  // namespace aiot

int main(int argc, char** argv) { return aiot::Main(argc, argv); }
