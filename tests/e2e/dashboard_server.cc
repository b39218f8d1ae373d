// A small server for the dashboard browser test until `aiot up --simulate N` serves the dashboard:
// the telemetry store, its HTTP API, the dashboard routes and the WebSocket hub, fed by an
// in-process simulated fleet through StoreService::OnMessage (the same path MQTT messages take).
//
//   dashboard_server --db /tmp/x.db --devices 4 [--port 0] [--web-root web/]
// Prints "listening on port <n>" once serving; stops on SIGTERM/SIGINT.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "net/http_server.h"
#include "net/runtime.h"
#include "net/ws_hub.h"
#include "store/dashboard_routes.h"
#include "store/store_routes.h"
#include "store/store_service.h"

using namespace aiot;

int main(int argc, char** argv) {
  std::string db = "/tmp/aiot-dashboard-demo.db";
  std::string web_root;
  int devices = 4;
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--db")
      db = argv[i + 1];
    else if (k == "--devices")
      devices = std::stoi(argv[i + 1]);
    else if (k == "--port")
      port = std::stoi(argv[i + 1]);
    else if (k == "--web-root")
      web_root = argv[i + 1];
  }
  log::LogConfig lc;
  lc.level = "warn";
  log::Init(lc);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  metrics::Registry registry;
  net::Runtime runtime(2);
  net::Router router;
  net::WsHub hub;
  store::StoreConfig sc;
  sc.path = db;
  sc.rollup_interval_ms = 2000;
  store::StoreService service(sc, {}, &hub, registry);
  if (Status st = service.Open(); !st) {
    std::fprintf(stderr, "cannot open store %s: %s\n", db.c_str(), st.error().message().c_str());
    return 1;
  }
  store::RegisterStoreRoutes(router, *service.store());
  store::DashboardConfig dc;
  dc.web_root = web_root;
  if (Status st = store::RegisterDashboardRoutes(router, dc); !st) {
    std::fprintf(stderr, "no web root\n");
    return 1;
  }
  router.WebSocket(dc.ws_path, hub);
  net::HttpServerConfig hc;
  hc.listen = fmt::format("127.0.0.1:{}", port);
  net::HttpServer server(hc, runtime, router, registry);
  runtime.Start();
  if (Status st = server.Start(); !st) {
    std::fprintf(stderr, "cannot listen: %s\n", st.error().message().c_str());
    return 1;
  }
  (void)service.Start();

  std::atomic<bool> stop{false};
  std::thread fleet([&] {
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> u(0, 1);
    auto name = [](int d) { return fmt::format("fan-{:04}", d + 1); };
    for (int d = 0; d < devices; ++d) {
      service.OnMessage(fmt::format("fan/status/{}", name(d)),
                        R"({"online":true,"model":"fan-mlp@3","actuator":"off"})");
    }
    int tick = 0;
    std::string last_level = "ok";
    while (!stop.load()) {
      const int64_t now = SystemClock::Instance().NowNanos();
      const std::string ts = FormatTimestamp(now);
      for (int d = 0; d < devices; ++d) {
        const bool faulty = d == devices - 1;
        double rot = faulty ? 400 + 250 * u(rng) : 500 + 200 * u(rng);
        double temp = faulty ? 35 + 20 * u(rng) : 35 + 10 * u(rng);
        double vib = faulty ? 100 + 150 * u(rng) : 100 + 100 * u(rng);
        double snd = faulty ? 45 + 15 * u(rng) : 45 + 7 * u(rng);
        service.OnMessage(
            "fan/messages",
            fmt::format(
                R"({{"deviceID":"{}","timeStamp":"{}","rotation":{:.1f},"temperature":{:.1f},"vibration":{:.1f},"sound":{:.1f}}})",
                name(d), ts, rot, temp, vib, snd));
        double score = faulty ? 0.5 + 0.5 * std::fabs(std::sin(tick / 20.0)) : 0.05 + 0.1 * u(rng);
        std::string level = score > 0.9 ? "critical" : score > 0.7 ? "warning" : "ok";
        // The faulty device also carries a time-to-failure model's hours.
        const std::string ttf =
            faulty ? fmt::format(R"(,"time_to_failure_h":{:.2f},"ttf_model":"fan-ttf@1")",
                                 20.0 * (1.0 - score))
                   : "";
        service.OnMessage(
            "fan/anomaly",
            fmt::format(
                R"({{"deviceID":"{}","timeStamp":"{}","fault":{},"score":{:.3f},"level":"{}","model":"fan-mlp@3"{}}})",
                name(d), ts, score > 0.7 ? 1 : 0, score, level, ttf));
        if (faulty && level != last_level) {
          service.OnMessage(
              "aiot/alerts",
              fmt::format(
                  R"({{"deviceID":"{}","timeStamp":"{}","level":"{}","previous":"{}","score":{:.3f},"model":"fan-mlp@3","message":"{}"}})",
                  name(d), ts, level, last_level, score,
                  level == "critical"  ? "activate safety protocols"
                  : level == "warning" ? "potential conditions for an imminent failure"
                                       : "condition cleared"));
          last_level = level;
        }
      }
      if (tick % 60 == 30) {
        service.OnMessage(
            "aiot/events/drift",
            fmt::format(
                R"j({{"timeStamp":"{}","feature":"vibration","psi":0.31,"level":"warning","message":"vibration drifted (PSI 0.31)"}})j",
                ts));
      }
      ++tick;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  std::printf("listening on port %u\n", server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  stop = true;
  fleet.join();
  server.Stop();
  service.Stop();
  runtime.Stop();
  runtime.Join();
  return 0;
}
