// A simulated fleet publishing to a broker for a fixed time; prints what was published and this
// process' CPU time and peak RSS. Pair it with the broker's own figures
// (bench/sim/run_fleet_load.sh).
//   sim_fleet_load --mqtt tcp://127.0.0.1:1883 --devices 1000 --rate 1 --duration 60 [--qos 0]
//                  [--per-connection 1] [--threads 2]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "net/runtime.h"
#include "sim/fleet.h"

int main(int argc, char** argv) {
  aiot::sim::FleetConfig fc;
  fc.devices = 1000;
  fc.rate = 1;
  fc.faulty_fraction = 0.2;
  fc.time_scale = 60;
  double duration = 60;
  size_t threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mqtt")
      fc.mqtt_url = v;
    else if (k == "--devices")
      fc.devices = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--rate")
      fc.rate = std::stod(v);
    else if (k == "--duration")
      duration = std::stod(v);
    else if (k == "--qos")
      fc.qos = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--per-connection")
      fc.devices_per_connection = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--threads")
      threads = std::stoul(v);
    else if (k == "--frame")
      fc.physics.frame_size = static_cast<uint32_t>(std::stoul(v));
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  aiot::net::Runtime runtime(threads);
  aiot::mqtt::MqttClientConfig cc;
  cc.url = fc.mqtt_url;
  cc.keep_alive_s = 60;
  cc.offline_queue_limit = 100000;
  aiot::sim::Fleet fleet(runtime.contexts(), fc, cc);
  runtime.Start();
  const auto t0 = std::chrono::steady_clock::now();
  fleet.Start();
  // Wait for connections, then measure a steady window.
  while (fleet.stats().connected_clients < fleet.stats().clients &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double connect_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto s0 = fleet.stats();
  const auto w0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  const auto s1 = fleet.stats();
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  std::promise<void> stopped;
  fleet.Stop([&] { stopped.set_value(); });
  stopped.get_future().wait_for(std::chrono::seconds(30));
  runtime.Stop();
  runtime.Join();
  std::printf(
      "{\"devices\":%u,\"clients\":%u,\"connected\":%u,\"connect_s\":%.2f,\"window_s\":%.1f,"
      "\"published\":%llu,\"completed\":%llu,\"failed\":%llu,\"msgs_per_s\":%.1f,"
      "\"cpu_percent\":%.1f,\"max_rss_mb\":%.1f}\n",
      s1.devices, s1.clients, s1.connected_clients, connect_s, wall,
      static_cast<unsigned long long>(s1.published - s0.published),
      static_cast<unsigned long long>(s1.publish_completed - s0.publish_completed),
      static_cast<unsigned long long>(s1.publish_failed - s0.publish_failed),
      (s1.published - s0.published) / wall, 100 * (cpu(ru1) - cpu(ru0)) / wall,
      ru1.ru_maxrss / 1024.0);
  return 0;
}
