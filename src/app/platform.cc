#include "app/platform.h"

#include "base/log.h"
#include "base/metrics.h"
#include "net/http_server.h"
#include "net/router.h"
#include "net/runtime.h"

namespace aiot::app {

struct Platform::Impl {
  Impl(const AppConfig& c, const UpOptions& o)
      : config(c), options(o), runtime(c.threads), http(config.http, runtime, router, registry) {}

  AppConfig config;
  UpOptions options;
  metrics::Registry registry;
  net::Runtime runtime;
  net::Router router;
  net::HttpServer http;
  bool started = false;
  bool stopped = false;
};

Platform::Platform(const AppConfig& config, const UpOptions& options)
    : impl_(std::make_unique<Impl>(config, options)) {}

Platform::~Platform() { Stop(); }

Status Platform::Start() {
  auto log = log::Get("app");
  impl_->runtime.Start();
  impl_->started = true;
  if (Status s = impl_->http.Start(); !s.ok()) {
    log->error("HTTP server could not listen on {}: {}", impl_->config.http.listen,
               s.error().message());
    Stop();
    return s;
  }
  log->info("HTTP on http://{} ({} threads): /healthz /readyz /metrics", impl_->config.http.listen,
            impl_->runtime.size());
  return Status::Ok();
}

void Platform::Stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  auto log = log::Get("app");
  log->info("stopping: draining in-flight work");
  impl_->http.Stop();
  impl_->runtime.Stop();
  impl_->runtime.Join();
  log->info("stopped");
}

uint16_t Platform::http_port() const { return impl_->http.port(); }

}  // namespace aiot::app
