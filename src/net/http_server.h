#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/config.h"
#include "base/metrics.h"
#include "base/result.h"
#include "base/tls.h"
#include "net/auth.h"
#include "net/router.h"
#include "net/runtime.h"

namespace aiot::net {

struct HttpServerConfig {
  // Address to listen on, "host:port" or "[v6]:port". Loopback unless you mean otherwise; port 0
  // picks a free port (see HttpServer::port()).
  std::string listen = "127.0.0.1:8080";
  // Largest request head (request line + headers) in bytes; larger gets 431 and a close.
  size_t max_header_bytes = 16 * 1024;
  // Largest request body in bytes (routes may override); larger gets 413 and a close.
  size_t max_body_bytes = 8 * 1024 * 1024;
  // A keep-alive connection with no request in progress is closed after this long.
  uint32_t idle_timeout_ms = 60000;
  // Time allowed to receive a whole request once its first byte arrived; then the connection is
  // closed.
  uint32_t request_timeout_ms = 30000;
  // Connections beyond this are accepted and closed immediately.
  size_t max_connections = 10000;
  // Stop() waits this long for in-flight requests before closing their connections.
  uint32_t drain_timeout_ms = 10000;
  // Bearer tokens by principal name, e.g. {dashboard: "<secret>"}. No defaults: empty means no
  // static-token authenticator (routes that require auth then answer 401).
  std::map<std::string, std::string> auth_tokens;
  // Comma-separated roles by principal name, e.g. {dashboard: "viewer,operator"}.
  std::map<std::string, std::string> auth_roles;
  // Serve GET /metrics (Prometheus text). /healthz and /readyz are always served.
  bool metrics_endpoint = true;
  // HTTPS when tls.cert is set (the same settings as the broker's `broker.tls`, base/tls.h):
  // certificate and key (re-read by ReloadTls), `ca` and `require_client_cert` for client
  // certificates, `min_version`. WebSocket routes then speak wss://.
  tls::ServerConfig tls;
};

void Describe(config::Visitor& v, HttpServerConfig& c);
// The auth tokens and roles (ValidateTokens).
void Validate(config::Checks& checks, const HttpServerConfig& c);

// An HTTP/1.1 server (Boost.Beast) on a Runtime: one SO_REUSEPORT acceptor per io_context, so the
// kernel spreads connections over the contexts, and a connection stays on the context that
// accepted it. Built-in routes: GET /healthz (200 while the process runs), GET /readyz (200 when
// every readiness check passes, 503 while stopping), GET /metrics (Prometheus text).
//
// Metrics: aiot_http_requests_total{route,method,status}, aiot_http_request_duration_seconds
// {route,method}, aiot_http_connections. Hot-path counting is per io_context without atomics; it
// is folded into the registry every ~100 ms and before each /metrics answer.
//
// Thread-safety: AddReadinessCheck and SetAuthenticator before Start(). Start/Stop/BeginStop from
// any non-runtime thread; BeginStop also from a runtime thread. port() and connections() from any
// thread.
class HttpServer {
 public:
  HttpServer(const HttpServerConfig& config, Runtime& runtime, Router& router,
             metrics::Registry& registry);
  ~HttpServer();  // Stop()s if needed.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Replaces the authenticator (default: a StaticTokenAuthenticator from config, if it has
  // tokens). Must outlive the server.
  void SetAuthenticator(std::shared_ptr<const Authenticator> authenticator);
  // A readiness check run by /readyz; must be thread-safe and quick.
  void AddReadinessCheck(std::string name, std::function<bool()> check);

  // Binds and starts accepting. Returns the bind/listen error (e.g. address in use),
  // errc::invalid_argument for a malformed `listen`, or the TLS error naming the file.
  Status Start();
  // HTTPS: re-reads the certificate and key (SIGHUP). New handshakes use them; open connections
  // keep theirs. On error the previous ones stay and the Status names the file. No-op for HTTP.
  Status ReloadTls();
  bool tls() const;
  // The bound port (useful with port 0); 0 before Start().
  uint16_t port() const;
  // Open connections (HTTP and upgraded WebSocket ones still being served here).
  size_t connections() const;

  // Graceful stop, non-blocking: closes the acceptors (new connections are refused), closes idle
  // keep-alive connections, lets in-flight requests finish (their responses carry
  // `Connection: close`), answers requests that arrive meanwhile with 503, and after
  // drain_timeout_ms closes whatever is left. Safe from any thread (it posts to the contexts).
  void BeginStop();
  // BeginStop() and wait until every connection is gone. Call it before Runtime::Stop() (if the
  // runtime is stopped first it returns without draining). REQUIRES: not on a runtime thread.
  void Stop();

  struct Impl;  // internal; public only so that the connection code can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace aiot::net
