#pragma once

#include <string>
#include <vector>

#include "base/config.h"
#include "net/router.h"
#include "telemetry/field_schema.h"

namespace aiot::store {

struct DashboardConfig {
  bool enabled = true;  // serve the web dashboard
  // Directory with index.html, app.js...; empty = the first that exists of share/aiot/web one,
  // two or three levels above the executable's directory (installed: <prefix>/bin/../share; a
  // build tree: <build>/share/aiot/web, a link to the source web/), /usr/local/share/aiot/web,
  // /usr/share/aiot/web. No source or install path is compiled in.
  std::string web_root;
  // Directory with uPlot's dist files (uPlot.esm.js, uPlot.min.css); empty =
  // <web_root>/vendor/uplot if it exists (installed), else <web_root>/node_modules/uplot/dist.
  std::string uplot_dir;
  // URL prefix of the dashboard; "/" redirects here.
  std::string path = "/ui/";
  // WebSocket path the dashboard connects to (registered by whoever owns the WsHub).
  std::string ws_path = "/api/v1/ws";
};
void Describe(config::Visitor& v, DashboardConfig& c);

// The web root that `config` resolves to ("" when none exists).
std::string ResolveWebRoot(const DashboardConfig& config);

// GET "/" -> redirect to the dashboard; GET <path>{file*} -> static files from the web root with
// content types, ETag/304 and Cache-Control (no-cache for the app, a day for vendored uPlot);
// "vendor/uplot/<file>" comes from the uPlot directory; GET <path>config.json ->
// {"ws_path":...,"fields":[...]}: `fields` are the telemetry fields the dashboard shows (the
// platform's field schema), JSON-escaped here and only ever used as text by the page.
// Paths with "..", "." or backslashes are refused (404). Every one of these responses carries the
// same security headers: a Content-Security-Policy with only same-origin sources, no inline script
// or style, no plugins, no <base>, no framing and Trusted Types required; X-Content-Type-Options
// nosniff, X-Frame-Options DENY, Referrer-Policy no-referrer, Cross-Origin-Opener/Resource-Policy
// same-origin and a Permissions-Policy without camera, microphone, geolocation, USB or payment.
// Returns errc::not_found with a message (and registers nothing) when no web root exists.
Status RegisterDashboardRoutes(
    net::Router& router, const DashboardConfig& config,
    std::vector<std::string> fields = telemetry::FieldSchema::FanFeatures());

}  // namespace aiot::store
