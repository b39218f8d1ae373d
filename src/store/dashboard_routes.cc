#include "store/dashboard_routes.h"

#include <unistd.h>
#include <filesystem>
#include <string_view>

#include "base/errc.h"
#include "base/log.h"

namespace aiot::store {
namespace {

namespace fs = std::filesystem;
namespace http = net::http;

std::string_view ContentType(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (auto [ext, type] : kTypes) {
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

// A relative path made only of ordinary segments.
bool SafeRelative(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos ||
      p.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view seg = p.substr(pos, slash - pos);
    if (seg.empty() || seg == "." || seg == ".." || seg.front() == '.') return false;
    pos = slash + 1;
  }
  return true;
}

std::string ExeDir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

bool IsDir(const std::string& p) {
  std::error_code ec;
  return !p.empty() && fs::is_directory(p, ec);
}

// The dashboard builds its DOM with createElement/textContent (web/app.js): no inline script or
// style, no eval, no HTML sinks (Trusted Types required and no policy allowed, so innerHTML with a
// string throws), nothing from another origin. 'self' in connect-src covers ws:/wss: to the same
// host and port (CSP Level 3).
constexpr std::string_view kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; "
    "trusted-types 'none'";

// Every dashboard response (pages, scripts, config.json, the redirect, errors) gets the same
// security headers; `cache` is its Cache-Control. (X-Content-Type-Options: nosniff is on every
// response the HTTP server sends.)
net::Response Secure(net::Response r, std::string_view cache = "no-cache") {
  r.Header("Content-Security-Policy", std::string(kCsp));
  r.Header("X-Frame-Options", "DENY");
  r.Header("Referrer-Policy", "no-referrer");
  r.Header("Cross-Origin-Opener-Policy", "same-origin");
  r.Header("Cross-Origin-Resource-Policy", "same-origin");
  r.Header("Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), payment=()");
  r.Header("Cache-Control", std::string(cache));
  return r;
}

net::Response NotFound() {
  return Secure(net::ErrorResponse(http::status::not_found, "not_found", "no such file"),
                "no-store");
}

}  // namespace

void Describe(config::Visitor& v, DashboardConfig& c) {
  v.Field("enabled", c.enabled, "serve the web dashboard");
  v.Field("web_root", c.web_root,
          "dashboard files; empty = share/aiot/web beside the executable (<bin>/../share/aiot/web, "
          "in a build tree <build>/share/aiot/web)");
  v.Field(
      "uplot_dir", c.uplot_dir,
      "uPlot dist files; empty = <web_root>/vendor/uplot or <web_root>/node_modules/uplot/dist");
  v.Field("path", c.path, "URL prefix of the dashboard (ends with /)");
  v.Field("ws_path", c.ws_path, "WebSocket path the dashboard connects to");
}

// No path of the source tree or of the install prefix is compiled in: the files are found
// relative to the executable, so a relocated install (a .deb extracted anywhere, a container, a
// prefix chosen at install time) serves its own copy. <bin>/../share/aiot/web is an install;
// the build tree has <build>/share/aiot/web, a link to the source web/ made at configure time,
// two or three levels above its executables.
std::string ResolveWebRoot(const DashboardConfig& config) {
  if (!config.web_root.empty()) return IsDir(config.web_root) ? config.web_root : std::string();
  std::vector<std::string> candidates;
  if (std::string exe = ExeDir(); !exe.empty()) {
    fs::path up = exe;
    for (int level = 0; level < 3 && up.has_relative_path(); ++level) {
      up = up.parent_path();
      candidates.push_back((up / "share/aiot/web").string());
    }
  }
  candidates.insert(candidates.end(), {"/usr/local/share/aiot/web", "/usr/share/aiot/web"});
  for (const std::string& candidate : candidates) {
    if (IsDir(candidate) && fs::exists(fs::path(candidate) / "index.html")) {
      return fs::weakly_canonical(candidate).string();
    }
  }
  return {};
}

Status RegisterDashboardRoutes(net::Router& router, const DashboardConfig& config,
                               std::vector<std::string> fields) {
  auto log = log::Get("dashboard");
  if (!config.enabled) return {};
  std::string root = ResolveWebRoot(config);
  if (root.empty()) {
    return {errc::not_found,
            config.web_root.empty()
                ? std::string("no dashboard web root found (set dashboard.web_root)")
                : "dashboard.web_root " + config.web_root + " is not a directory"};
  }
  std::string uplot = config.uplot_dir;
  if (uplot.empty()) {
    uplot =
        IsDir(root + "/vendor/uplot") ? root + "/vendor/uplot" : root + "/node_modules/uplot/dist";
  }
  if (!IsDir(uplot))
    log->warn("uPlot not found at {} (npm install in web/); charts will not load", uplot);
  std::string prefix = config.path;
  if (prefix.empty() || prefix.front() != '/') prefix = "/" + prefix;
  if (prefix.back() != '/') prefix += '/';
  log->info("dashboard at {} from {}", prefix, root);

  router.Get("/", [prefix](net::Request&) {
    net::Response r(http::status::found, "");
    r.Header("Location", prefix);
    return Secure(std::move(r), "no-store");
  });
  // The field names leave as JSON strings (escaped by the serializer), never as markup.
  nlohmann::json client_config{{"ws_path", config.ws_path}, {"fields", std::move(fields)}};
  router.Get(prefix + "config.json",
             [client_config](net::Request&) { return Secure(net::JsonResponse(client_config)); });
  router.Get(prefix + "{file*}", [root, uplot](net::Request& req) {
    std::string rel(req.param("file"));
    if (rel.empty()) rel = "index.html";
    if (!SafeRelative(rel)) {
      return NotFound();
    }
    constexpr std::string_view kVendor = "vendor/uplot/";
    std::string path;
    bool vendor = rel.compare(0, kVendor.size(), kVendor) == 0;
    if (vendor) {
      path = uplot + "/" + rel.substr(kVendor.size());
    } else if (rel.compare(0, 13, "node_modules/") == 0) {
      return NotFound();
    } else {
      path = root + "/" + rel;
    }
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      return NotFound();
    }
    return Secure(net::ServeFile(req, path, ContentType(rel)),
                  vendor ? "public, max-age=86400" : "no-cache");
  });
  return {};
}

}  // namespace aiot::store
