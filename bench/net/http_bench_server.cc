// A minimal aiot HTTP server for load tests: the built-in /healthz plus one JSON route with a path
// parameter. Prints "port <n>" once listening; stops gracefully on SIGINT/SIGTERM.
//
//   http_bench_server [--listen 127.0.0.1:0] [--threads N]
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/log.h"
#include "net/http_server.h"

int main(int argc, char** argv) {
  using namespace aiot::net;
  HttpServerConfig config;
  config.listen = "127.0.0.1:0";
  size_t threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--listen") == 0) {
      config.listen = argv[i + 1];
    } else if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::stoul(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--listen host:port] [--threads n]\n", argv[0]);
      return 2;
    }
  }

  // Block the signals in every thread; main waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Runtime runtime(threads);
  Router router;
  router.Get("/api/v1/models/{name}", [](Request& r) {
    return JsonResponse({{"name", r.param("name")}, {"versions", 3}});
  });
  aiot::metrics::Registry registry;
  runtime.Start();
  HttpServer server(config, runtime, router, registry);
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", s.error().message().c_str());
    runtime.Stop();
    runtime.Join();
    return 1;
  }
  std::printf("port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  server.Stop();
  runtime.Stop();
  runtime.Join();
  return 0;
}
